import Support

/// N images of rows×cols, normalized Float pixels row-major `[N*rows*cols]`, labels 0..<10.
public struct LabeledImages: Sendable {
    public let count: Int
    public let rows: Int
    public let cols: Int
    public var pixels: [Float]
    public var labels: [Int32]

    public var pixelsPerImage: Int { rows * cols }

    public init(count: Int, rows: Int, cols: Int, pixels: [Float], labels: [Int32]) {
        precondition(count >= 0 && rows > 0 && cols > 0, "LabeledImages: bad shape \(count)×\(rows)×\(cols)")
        precondition(pixels.count == count * rows * cols, "LabeledImages: \(pixels.count) pixels for \(count)×\(rows)×\(cols)")
        precondition(labels.count == count, "LabeledImages: \(labels.count) labels for \(count) images")
        self.count = count
        self.rows = rows
        self.cols = cols
        self.pixels = pixels
        self.labels = labels
    }

    /// The images at `indices`, in that order (indices may repeat).
    public func subset(_ indices: [Int]) -> LabeledImages {
        let n = indices.count
        let per = pixelsPerImage
        var newLabels = [Int32](repeating: 0, count: n)
        // Uninitialized: gather overwrites every element (and traps before returning otherwise).
        let newPixels = [Float](unsafeUninitializedCapacity: n * per) { p, initialized in
            newLabels.withUnsafeMutableBufferPointer { l in
                gather(indices, into: p, labels: l)
            }
            initialized = n * per
        }
        return LabeledImages(count: n, rows: rows, cols: cols, pixels: newPixels, labels: newLabels)
    }

    /// Copies the images at `indices` into `pixels` (`indices.count * rows * cols` floats) and
    /// their labels into `labels`, without allocating: the training loop reuses its batch buffers.
    public func gather(_ indices: some Collection<Int>, into pixels: UnsafeMutableBufferPointer<Float>,
                       labels: UnsafeMutableBufferPointer<Int32>) {
        let per = pixelsPerImage
        precondition(pixels.count >= indices.count * per, "gather: pixel buffer holds \(pixels.count) floats, need \(indices.count * per)")
        precondition(labels.count >= indices.count, "gather: label buffer holds \(labels.count), need \(indices.count)")
        guard let dst = pixels.baseAddress, let ldst = labels.baseAddress else { return }
        self.pixels.withUnsafeBufferPointer { src in
            self.labels.withUnsafeBufferPointer { lsrc in
                guard let s = src.baseAddress else { return }
                for (k, i) in indices.enumerated() {
                    precondition(i >= 0 && i < count, "gather: index \(i) out of range 0..<\(count)")
                    (dst + k * per).update(from: s + i * per, count: per)
                    ldst[k] = lsrc[i]
                }
            }
        }
    }

    /// Number of images per class 0..<10.
    public func labelHistogram() -> [Int] {
        var h = [Int](repeating: 0, count: 10)
        for l in labels where l >= 0 && l < 10 { h[Int(l)] += 1 }
        return h
    }
}

/// The seeded 50,000 / 10,000 split of the training files plus the test files.
public struct MNISTSplits: Sendable {
    public let train: LabeledImages
    public let validation: LabeledImages
    public let test: LabeledImages

    public init(train: LabeledImages, validation: LabeledImages, test: LabeledImages) {
        self.train = train
        self.validation = validation
        self.test = test
    }

    /// Splits `full` into `full.count - validationCount` training and `validationCount`
    /// validation images, chosen by a seeded shuffle; each part keeps the original file order.
    public static func split(_ full: LabeledImages, test: LabeledImages, validationCount: Int, seed: UInt64) throws -> MNISTSplits {
        guard validationCount >= 0 && validationCount < full.count else {
            throw DatasetError("validation count", "\(validationCount) must be between 0 and \(full.count - 1) (the training set holds \(full.count) images)")
        }
        var rng = SeededGenerator(seed: seed)
        var order = Array(0..<full.count)
        rng.shuffle(&order)
        let validationIndices = order[..<validationCount].sorted()
        let trainIndices = order[validationCount...].sorted()
        return MNISTSplits(train: full.subset(trainIndices), validation: full.subset(validationIndices), test: test)
    }
}
