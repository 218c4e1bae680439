import Datasets
import XCTest

final class SamplerTests: XCTestCase {
    func testEpochIsAPermutationWithoutReplacement() {
        var sampler = BatchSampler(count: 103, batchSize: 10, seed: 7)
        XCTAssertEqual(sampler.batchesPerEpoch, 10)
        var seen: [Int] = []
        for _ in 0..<10 {
            let batch = sampler.next()
            XCTAssertEqual(batch.count, 10)
            seen += batch
            XCTAssertEqual(sampler.epoch, 0)
        }
        XCTAssertEqual(Set(seen).count, 100, "no index repeats within an epoch")
        XCTAssertTrue(seen.allSatisfy { (0..<103).contains($0) })
        XCTAssertNotEqual(seen, Array(seen).sorted(), "shuffled")
        // The 3 left over are dropped; the next batch starts a new permutation.
        let first = sampler.next()
        XCTAssertEqual(sampler.epoch, 1)
        XCTAssertEqual(first.count, 10)
        var second: [Int] = first
        for _ in 1..<10 { second += sampler.next() }
        XCTAssertEqual(Set(second).count, 100)
        XCTAssertNotEqual(second, seen, "each epoch is reshuffled")
    }

    func testExactMultipleCoversEverything() {
        var sampler = BatchSampler(count: 12, batchSize: 4, seed: 1)
        var all: [Int] = []
        for _ in 0..<3 { all += sampler.next() }
        XCTAssertEqual(all.sorted(), Array(0..<12))
        XCTAssertEqual(sampler.epoch, 0)
        _ = sampler.next()
        XCTAssertEqual(sampler.epoch, 1)
    }

    func testDeterministicForASeed() {
        var a = BatchSampler(count: 1000, batchSize: 32, seed: 123)
        var b = BatchSampler(count: 1000, batchSize: 32, seed: 123)
        var c = BatchSampler(count: 1000, batchSize: 32, seed: 124)
        var differs = false
        for _ in 0..<100 {
            let x = a.next()
            XCTAssertEqual(x, b.next())
            if x != c.next() { differs = true }
        }
        XCTAssertTrue(differs, "another seed gives other batches")
        XCTAssertEqual(a.epoch, b.epoch)
        XCTAssertEqual(a.epoch, 3)  // 31 batches per epoch: 100 batches span epochs 0...3
    }

    func testGatherAndSubset() {
        let images = LabeledImages(count: 4, rows: 2, cols: 3, pixels: (0..<24).map(Float.init), labels: [3, 1, 4, 1])
        let indices = [2, 0, 2]
        var pixels = [Float](repeating: -1, count: 3 * 6)
        var labels = [Int32](repeating: -1, count: 3)
        pixels.withUnsafeMutableBufferPointer { p in
            labels.withUnsafeMutableBufferPointer { l in images.gather(indices, into: p, labels: l) }
        }
        XCTAssertEqual(labels, [4, 3, 4])
        XCTAssertEqual(Array(pixels[0..<6]), (12..<18).map(Float.init))
        XCTAssertEqual(Array(pixels[6..<12]), (0..<6).map(Float.init))
        let sub = images.subset(indices)
        XCTAssertEqual(sub.count, 3)
        XCTAssertEqual(sub.pixels, pixels)
        XCTAssertEqual(sub.labels, labels)
        XCTAssertEqual(images.subset([]).count, 0)
        XCTAssertEqual(images.labelHistogram(), [0, 2, 0, 1, 1, 0, 0, 0, 0, 0])
    }

    func testSplitIsDeterministicAndDisjoint() throws {
        // Image i has every pixel equal to i, so the split's membership can be read back.
        let n = 50
        let full = LabeledImages(count: n, rows: 1, cols: 2, pixels: (0..<n).flatMap { [Float($0), Float($0)] },
                                 labels: (0..<n).map { Int32($0 % 10) })
        let test = full.subset([0])
        let a = try MNISTSplits.split(full, test: test, validationCount: 10, seed: 9)
        let b = try MNISTSplits.split(full, test: test, validationCount: 10, seed: 9)
        let c = try MNISTSplits.split(full, test: test, validationCount: 10, seed: 10)
        XCTAssertEqual(a.train.count, 40)
        XCTAssertEqual(a.validation.count, 10)
        XCTAssertEqual(a.train.pixels, b.train.pixels)
        XCTAssertEqual(a.validation.pixels, b.validation.pixels)
        XCTAssertNotEqual(a.validation.pixels, c.validation.pixels)
        let ids = (a.train.pixels + a.validation.pixels).enumerated().filter { $0.offset % 2 == 0 }.map { Int($0.element) }
        XCTAssertEqual(ids.sorted(), Array(0..<n), "train and validation partition the set")
        assertDatasetError(["validation count", "50"]) { _ = try MNISTSplits.split(full, test: test, validationCount: 50, seed: 1) }
        assertDatasetError(["validation count", "-1"]) { _ = try MNISTSplits.split(full, test: test, validationCount: -1, seed: 1) }
    }
}
