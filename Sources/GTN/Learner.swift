import NeuralNet
import Support
import TensorEngine

/// Which batch means the learner's mean-only batch norm subtracts.
public enum BatchStatistics {
    /// The batch's own means (training on a generated batch).
    case batch
    /// Means recorded earlier: scoring uses those of the last synthetic batch (docs/gtn.md §6).
    case recorded([Tensor])
}

/// The shape of a learner: conv blocks (kernel size and width each; every block is a
/// same-padded conv, 2×2 max pool, mean-only batch norm and leaky ReLU) and the hidden FC width.
/// The presets' learners have two 3×3 blocks; architecture search varies all of it.
public struct LearnerSpec: Codable, Sendable, Hashable, CustomStringConvertible {
    public struct ConvBlock: Codable, Sendable, Hashable {
        public var kernel: Int
        public var width: Int
        public init(kernel: Int, width: Int) { self.kernel = kernel; self.width = width }
    }

    public var blocks: [ConvBlock]
    public var fc: Int

    public init(blocks: [ConvBlock], fc: Int) {
        self.blocks = blocks
        self.fc = fc
    }

    /// Compact and parseable: `c3x48-c3x96-fc128` (kernel × width per block, then the FC width).
    public var description: String {
        (blocks.map { "c\($0.kernel)x\($0.width)" } + ["fc\(fc)"]).joined(separator: "-")
    }

    public init(widths: LearnerWidths) {
        self.init(blocks: [ConvBlock(kernel: 3, width: widths.conv1), ConvBlock(kernel: 3, width: widths.conv2)], fc: widths.fc)
    }

    /// Parses the compact form of `description`, e.g. `c3x48-c5x96-fc128`.
    public init?(parsing text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 2, let last = parts.last, last.hasPrefix("fc"), let fc = Int(last.dropFirst(2)), fc > 0 else { return nil }
        var blocks: [ConvBlock] = []
        for part in parts.dropLast() {
            let fields = part.dropFirst().split(separator: "x")
            guard part.first == "c", fields.count == 2, let k = Int(fields[0]), let w = Int(fields[1]),
                  k > 0, k % 2 == 1, w > 0 else { return nil }
            blocks.append(ConvBlock(kernel: k, width: w))
        }
        self.init(blocks: blocks, fc: fc)
        guard finalSide >= 1 else { return nil }
    }

    /// Side of the feature map after the conv blocks (28 halved by each pool).
    public var finalSide: Int { blocks.reduce(28) { side, _ in side / 2 } }
}

/// A family of learners: how a `LearnerSpec` becomes parameters and logits. A new family is one
/// new conforming type (and a case of `Preset.LearnerArchitecture`, which names it in checkpoints).
public protocol LearnerFamily: Sendable {
    /// Why `spec` does not belong to this family, or nil when it does.
    func problem(with spec: LearnerSpec) -> String?
    /// Fresh parameters for `spec`.
    func initialParameters(_ spec: LearnerSpec, using rng: inout SeededGenerator) -> Parameters
    /// Logits [N, 10] for images [N, 1, 28, 28], and the batch means its normalizations used.
    func callAsFunction(_ spec: LearnerSpec, _ x: Tensor, _ p: Parameters,
                        statistics: BatchStatistics) -> (logits: Tensor, means: [Tensor])
    /// Whether a trained learner is scored with the means of its last synthetic batch
    /// (docs/gtn.md §6) rather than with the scored batch's own statistics.
    var scoresWithRecordedMeans: Bool { get }
}

/// A learner: a family and an architecture in it, as a function of explicit parameters, so that
/// "the learner after step t" is just another `Parameters` value.
public struct Learner: Sendable {
    public let architecture: Preset.LearnerArchitecture
    public let spec: LearnerSpec
    public let family: any LearnerFamily

    public init(architecture: Preset.LearnerArchitecture, spec: LearnerSpec) {
        family = architecture.family
        if let problem = family.problem(with: spec) { preconditionFailure("Learner \(spec): \(problem)") }
        self.architecture = architecture
        self.spec = spec
    }

    public init(architecture: Preset.LearnerArchitecture, widths: LearnerWidths) {
        self.init(architecture: architecture, spec: LearnerSpec(widths: widths))
    }

    /// Fresh parameters: Kaiming-normal weights (LeakyReLU slope 0.1), unit gains, zero biases.
    public func initialParameters(using rng: inout SeededGenerator) -> Parameters {
        family.initialParameters(spec, using: &rng)
    }

    /// Logits [N, 10] for images [N, 1, 28, 28], and the batch means the normalizations used.
    public func callAsFunction(_ x: Tensor, _ p: Parameters, statistics: BatchStatistics = .batch) -> (logits: Tensor, means: [Tensor]) {
        family(spec, x, p, statistics: statistics)
    }

    /// The statistics a trained learner is scored with, given its last synthetic batch's means.
    public func scoringStatistics(_ means: [Tensor]) -> BatchStatistics {
        family.scoresWithRecordedMeans ? .recorded(means) : .batch
    }
}

/// The paper's learners: same-padded weight-normalized conv blocks (conv, 2×2 max pool, mean-only
/// batch norm, leaky ReLU), a weight-normalized hidden FC layer with mean-only batch norm, and a
/// weight-normalized output layer. Any number of blocks that fits a 28×28 input.
public struct WeightNormalizedLearners: LearnerFamily {
    public init() {}

    public func problem(with spec: LearnerSpec) -> String? {
        spec.blocks.isEmpty || spec.finalSide < 1 ? "\(spec.blocks.count) conv blocks do not fit a 28×28 input" : nil
    }

    private func convs(_ spec: LearnerSpec) -> [Conv2dLayer] {
        var inChannels = 1
        return spec.blocks.enumerated().map { i, block in
            defer { inChannels = block.width }
            return Conv2dLayer("conv\(i + 1)", inChannels, block.width, kernel: block.kernel, padding: block.kernel / 2, bias: false)
        }
    }

    private func fc1(_ spec: LearnerSpec) -> LinearLayer {
        LinearLayer("fc1", spec.blocks[spec.blocks.count - 1].width * spec.finalSide * spec.finalSide, spec.fc, bias: false)
    }

    private func fc2(_ spec: LearnerSpec) -> LinearLayer { LinearLayer("fc2", spec.fc, 10) }

    public func initialParameters(_ spec: LearnerSpec, using rng: inout SeededGenerator) -> Parameters {
        var p = Parameters()
        let convs = convs(spec)
        for (i, conv) in convs.enumerated() {
            conv.initialize(into: &p, using: &rng)
            p.append("bn\(i + 1).b", Tensor.zeros([conv.outChannels]))
        }
        fc1(spec).initialize(into: &p, using: &rng)
        p.append("bn\(convs.count + 1).b", Tensor.zeros([spec.fc]))
        fc2(spec).initialize(into: &p, using: &rng)
        return p
    }

    public func callAsFunction(_ spec: LearnerSpec, _ x: Tensor, _ p: Parameters,
                               statistics: BatchStatistics) -> (logits: Tensor, means: [Tensor]) {
        var means: [Tensor] = []
        func normalize(_ h: Tensor, _ index: Int) -> Tensor {
            let mean: Tensor
            switch statistics {
            case .batch: mean = batchMean(h)
            case .recorded(let recorded): mean = recorded[index]
            }
            means.append(mean)
            return leakyReLU(meanOnlyBatchNorm(h, bias: p["bn\(index + 1).b"], mean: mean))
        }
        let convs = convs(spec)
        var h = x
        for (i, conv) in convs.enumerated() { h = normalize(maxPool2d(conv(h, p)), i) }
        h = normalize(fc1(spec)(h.flattened(), p), convs.count)
        return (fc2(spec)(h, p), means)
    }

    public var scoresWithRecordedMeans: Bool { true }
}

/// The seed project's learners (docs/gtn.md §4): two valid 3×3 convs (conv, leaky ReLU, batch
/// norm, 2×2 max pool) and one FC layer with batch norm, all plain weights; always normalized
/// with the batch's own statistics.
public struct SeedPresetLearners: LearnerFamily {
    public init() {}

    public func problem(with spec: LearnerSpec) -> String? {
        spec.blocks.count == 2 && spec.blocks.allSatisfy({ $0.kernel == 3 }) ? nil
            : "the seed family has exactly two 3×3 conv blocks"
    }

    private func convs(_ spec: LearnerSpec) -> [Conv2dLayer] {
        var inChannels = 1
        return spec.blocks.enumerated().map { i, block in
            defer { inChannels = block.width }
            return Conv2dLayer("conv\(i + 1)", inChannels, block.width, kernel: block.kernel, padding: 0, weightNormalized: false)
        }
    }

    private func fc(_ spec: LearnerSpec) -> LinearLayer {
        LinearLayer("fc", spec.blocks[spec.blocks.count - 1].width * 25, 10, weightNormalized: false)
    }

    public func initialParameters(_ spec: LearnerSpec, using rng: inout SeededGenerator) -> Parameters {
        var p = Parameters()
        for (i, conv) in convs(spec).enumerated() {
            conv.initialize(into: &p, using: &rng)
            BatchNormLayer("bn\(i + 1)", conv.outChannels).initialize(into: &p)
        }
        fc(spec).initialize(into: &p, using: &rng)
        BatchNormLayer("bn3", 10).initialize(into: &p)
        return p
    }

    public func callAsFunction(_ spec: LearnerSpec, _ x: Tensor, _ p: Parameters,
                               statistics: BatchStatistics) -> (logits: Tensor, means: [Tensor]) {
        var h = x
        for (i, conv) in convs(spec).enumerated() {
            h = maxPool2d(BatchNormLayer("bn\(i + 1)", conv.outChannels)(leakyReLU(conv(h, p)), p))
        }
        return (BatchNormLayer("bn3", 10)(fc(spec)(h.flattened(), p), p), [])
    }

    public var scoresWithRecordedMeans: Bool { false }
}
