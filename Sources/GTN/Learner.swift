import NeuralNet
import Support
import TensorEngine

/// Which batch means the learner's mean-only batch norm subtracts.
public enum BatchStatistics {
    /// The batch's own means (training on a generated batch).
    case batch
    /// Means recorded earlier: scoring uses those of the last synthetic batch (reference §2).
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

/// A distribution over learner architectures for meta-training, so that the teacher learns to
/// teach the architectures a search will ask it to rank, not only the preset's two-block family.
/// The default matches `gtn nas`'s search space.
public struct LearnerSpace: Codable, Sendable, Equatable {
    public var depths: ClosedRange<Int>
    public var kernels: [Int]
    public var widths: ClosedRange<Int>
    public var fcWidths: ClosedRange<Int>

    public init(depths: ClosedRange<Int> = 2...4, kernels: [Int] = [3, 5], widths: ClosedRange<Int> = 8...48,
                fcWidths: ClosedRange<Int> = 32...256) {
        precondition(depths.lowerBound >= 1 && depths.upperBound <= 4, "LearnerSpace: depths must lie in 1...4 for 28×28 inputs")
        precondition(!kernels.isEmpty && kernels.allSatisfy { $0 > 0 && $0 % 2 == 1 }, "LearnerSpace: kernels must be odd")
        precondition(widths.lowerBound > 0 && fcWidths.lowerBound > 0, "LearnerSpace: widths must be positive")
        self.depths = depths
        self.kernels = kernels
        self.widths = widths
        self.fcWidths = fcWidths
    }

    public func sample(using rng: inout SeededGenerator) -> LearnerSpec {
        let depth = depths.lowerBound + rng.nextIndex(below: depths.count)
        let blocks = (0..<depth).map { _ in
            LearnerSpec.ConvBlock(kernel: kernels[rng.nextIndex(below: kernels.count)],
                                  width: widths.lowerBound + rng.nextIndex(below: widths.count))
        }
        return LearnerSpec(blocks: blocks, fc: fcWidths.lowerBound + rng.nextIndex(below: fcWidths.count))
    }
}

/// A learner of the preset's family: a function of explicit parameters, so that "the learner
/// after step t" is just another `Parameters` value.
public struct Learner: Sendable {
    public let architecture: Preset.LearnerArchitecture
    public let spec: LearnerSpec

    public init(architecture: Preset.LearnerArchitecture, spec: LearnerSpec) {
        precondition(!spec.blocks.isEmpty && spec.finalSide >= 1, "Learner: \(spec.blocks.count) conv blocks do not fit a 28×28 input")
        precondition(architecture == .weightNormalized || spec.blocks.count == 2, "Learner: the seed family has exactly two conv blocks")
        self.architecture = architecture
        self.spec = spec
    }

    public init(architecture: Preset.LearnerArchitecture, widths: LearnerWidths) {
        self.init(architecture: architecture, spec: LearnerSpec(widths: widths))
    }

    private var convs: [Conv2dLayer] {
        var inChannels = 1
        return spec.blocks.enumerated().map { i, block in
            defer { inChannels = block.width }
            return architecture == .weightNormalized
                ? Conv2dLayer("conv\(i + 1)", inChannels, block.width, kernel: block.kernel, padding: block.kernel / 2, bias: false)
                : Conv2dLayer("conv\(i + 1)", inChannels, block.width, kernel: block.kernel, padding: 0, weightNormalized: false)
        }
    }
    private var lastWidth: Int { spec.blocks[spec.blocks.count - 1].width }
    private var fc1: LinearLayer { LinearLayer("fc1", lastWidth * spec.finalSide * spec.finalSide, spec.fc, bias: false) }
    private var fc2: LinearLayer { LinearLayer("fc2", spec.fc, 10) }
    private var seedFC: LinearLayer { LinearLayer("fc", lastWidth * 25, 10, weightNormalized: false) }

    /// Fresh parameters: Kaiming-normal weights (LeakyReLU slope 0.1), unit gains, zero biases.
    public func initialParameters(using rng: inout SeededGenerator) -> Parameters {
        var p = Parameters()
        switch architecture {
        case .weightNormalized:
            for (i, conv) in convs.enumerated() {
                conv.initialize(into: &p, using: &rng)
                p.append("bn\(i + 1).b", Tensor.zeros([conv.outChannels]))
            }
            fc1.initialize(into: &p, using: &rng)
            p.append("bn\(convs.count + 1).b", Tensor.zeros([spec.fc]))
            fc2.initialize(into: &p, using: &rng)
        case .seed:
            for (i, conv) in convs.enumerated() {
                conv.initialize(into: &p, using: &rng)
                BatchNormLayer("bn\(i + 1)", conv.outChannels).initialize(into: &p)
            }
            seedFC.initialize(into: &p, using: &rng)
            BatchNormLayer("bn3", 10).initialize(into: &p)
        }
        return p
    }

    /// Logits [N, 10] for images [N, 1, 28, 28], and the batch means the mean-only batch norms
    /// used (empty for the seed family, which always normalizes with the scored batch's statistics).
    public func callAsFunction(_ x: Tensor, _ p: Parameters, statistics: BatchStatistics = .batch) -> (logits: Tensor, means: [Tensor]) {
        switch architecture {
        case .weightNormalized:
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
            var h = x
            for (i, conv) in convs.enumerated() { h = normalize(maxPool2d(conv(h, p)), i) }
            h = normalize(fc1(h.flattened(), p), convs.count)
            return (fc2(h, p), means)
        case .seed:
            var h = x
            for (i, conv) in convs.enumerated() {
                h = maxPool2d(BatchNormLayer("bn\(i + 1)", conv.outChannels)(leakyReLU(conv(h, p)), p))
            }
            return (BatchNormLayer("bn3", 10)(seedFC(h.flattened(), p), p), [])
        }
    }
}
