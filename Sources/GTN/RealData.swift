import Datasets
import Foundation
import Support
import TensorEngine

/// MNIST (or a sibling dataset) split as docs/gtn.md §8 describes: 50,000 training images
/// for the meta-loss, 10,000 validation images for model selection, the 10,000 test images for
/// reported accuracies.
public struct RealData: Sendable {
    public let train: LabeledImages
    public let validation: LabeledImages
    public let test: LabeledImages

    public init(splits: MNISTSplits) {
        train = splits.train
        validation = splits.validation
        test = splits.test
    }

    /// Finds (or downloads) the dataset and splits it with `splitSeed`.
    public static func load(kind: DatasetKind = .mnist, dataDirectory: String? = nil, splitSeed: UInt64 = 0,
                            progress: ((String) -> Void)? = nil) throws -> RealData {
        let directory = try DataLocator.resolveDirectory(explicit: dataDirectory, kind: kind)
        let loader = DatasetLoader(kind: kind, directory: directory, progress: progress)
        return RealData(splits: try loader.loadSplits(validationCount: 10_000, seed: splitSeed))
    }
}

extension LabeledImages {
    /// Images `indices` as an [N, 1, rows, cols] tensor, with their labels.
    public func batch(_ indices: [Int], dtype: DType = .float32) -> (images: Tensor, labels: [Int]) {
        var labels = [Int32](repeating: 0, count: indices.count)
        let images = Tensor(shape: [indices.count, 1, rows, cols], Float.self) { pixels in
            labels.withUnsafeMutableBufferPointer { gather(indices, into: pixels, labels: $0) }
        }
        return (dtype == .float32 ? images : images.converted(to: dtype), labels.map(Int.init))
    }

    /// `size` images drawn uniformly (with replacement across calls, without within a batch).
    public func randomBatch(size: Int, dtype: DType = .float32, using rng: inout SeededGenerator) -> (images: Tensor, labels: [Int]) {
        var chosen = Set<Int>()
        var indices: [Int] = []
        while indices.count < min(size, count) {
            let i = rng.nextIndex(below: count)
            if chosen.insert(i).inserted { indices.append(i) }
        }
        return batch(indices, dtype: dtype)
    }
}
