import Datasets
import Foundation
import TestSupport
import XCTest

/// The real MNIST files, where `RealMNIST.directory` finds them.
final class RealMNISTTests: XCTestCase {
    func testSizesAndShapes() throws {
        let (train, test) = try RealMNIST.requireLoaded()
        XCTAssertEqual([train.count, train.rows, train.cols], [60_000, 28, 28])
        XCTAssertEqual([test.count, test.rows, test.cols], [10_000, 28, 28])
        XCTAssertEqual(train.pixels.count, 60_000 * 784)
        XCTAssertEqual(test.labels.count, 10_000)
        // Well-known first labels of each file.
        XCTAssertEqual(Array(train.labels.prefix(10)), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
        XCTAssertEqual(Array(test.labels.prefix(10)), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    }

    func testLabelHistograms() throws {
        let (train, test) = try RealMNIST.requireLoaded()
        XCTAssertEqual(train.labelHistogram(), RealMNIST.trainHistogram)
        XCTAssertEqual(test.labelHistogram(), RealMNIST.testHistogram)
    }

    func testNormalizedStatistics() throws {
        let (train, _) = try RealMNIST.requireLoaded()
        var sum = 0.0, sumSq = 0.0
        var lo = Float.infinity, hi = -Float.infinity
        train.pixels.withUnsafeBufferPointer { p in
            for v in p {
                let d = Double(v)
                sum += d
                sumSq += d * d
                lo = min(lo, v)
                hi = max(hi, v)
            }
        }
        let n = Double(train.pixels.count)
        let mean = sum / n
        let std = (sumSq / n - mean * mean).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 0.005)
        XCTAssertEqual(std, 1, accuracy: 0.005)
        XCTAssertEqual(lo, (0 - 0.1307) / 0.3081, accuracy: 1e-6)   // background
        XCTAssertEqual(hi, (1 - 0.1307) / 0.3081, accuracy: 1e-6)   // full ink
    }

    func testSplitAndBatchesAreDeterministic() throws {
        let (train, test) = try RealMNIST.requireLoaded()
        let a = try MNISTSplits.split(train, test: test, validationCount: 10_000, seed: 2024)
        let b = try MNISTSplits.split(train, test: test, validationCount: 10_000, seed: 2024)
        let c = try MNISTSplits.split(train, test: test, validationCount: 10_000, seed: 2025)
        XCTAssertEqual([a.train.count, a.validation.count, a.test.count], [50_000, 10_000, 10_000])
        XCTAssertEqual(a.train.labels, b.train.labels)
        XCTAssertEqual(a.validation.labels, b.validation.labels)
        XCTAssertEqual(a.validation.pixels, b.validation.pixels)
        XCTAssertNotEqual(a.validation.labels, c.validation.labels)
        // Train + validation is exactly the training file.
        let merged = zip(a.train.labelHistogram(), a.validation.labelHistogram()).map { $0 + $1 }
        XCTAssertEqual(merged, RealMNIST.trainHistogram)
        // Seeded batches over the split: same seed, same batches and pixels.
        var s1 = BatchSampler(count: a.train.count, batchSize: 128, seed: 99)
        var s2 = BatchSampler(count: b.train.count, batchSize: 128, seed: 99)
        var p1 = [Float](repeating: 0, count: 128 * 784), p2 = p1
        var l1 = [Int32](repeating: 0, count: 128), l2 = l1
        for _ in 0..<5 {
            let i1 = s1.next(), i2 = s2.next()
            XCTAssertEqual(i1, i2)
            p1.withUnsafeMutableBufferPointer { p in l1.withUnsafeMutableBufferPointer { a.train.gather(i1, into: p, labels: $0) } }
            p2.withUnsafeMutableBufferPointer { p in l2.withUnsafeMutableBufferPointer { b.train.gather(i2, into: p, labels: $0) } }
            XCTAssertEqual(p1, p2)
            XCTAssertEqual(l1, l2)
        }
    }

    /// Reading the 60,000 training images must take under a second (best of three); only
    /// meaningful (and only run) in an optimized build.
    func testTrainingImagesLoadFastInRelease() throws {
        #if DEBUG
        throw XCTSkip("timing is checked in release builds (swift test -c release)")
        #else
        let dir = try RealMNIST.requireDirectory()
        let loader = DatasetLoader(kind: .mnist, directory: dir, allowDownload: false)
        let url = try XCTUnwrap(loader.locate(DatasetKind.mnist.files.trainImages))
        // Best of three: the first run also warms the page cache, and a shared CI machine is noisy.
        var seconds = Double.infinity
        for _ in 0..<3 {
            let start = Date()
            let images = try IDXFile.readImages(url)
            seconds = min(seconds, Date().timeIntervalSince(start))
            XCTAssertEqual(images.count, 60_000)
        }
        XCTAssertLessThan(seconds, 1.0, "training images took \(seconds) s")
        #endif
    }
}
