import NeuralNet
import TensorEngine

/// Which batch means the learner's mean-only batch norm subtracts.
public enum BatchStatistics {
    /// The batch's own means (training on a generated batch).
    case batch
    /// Means recorded earlier: scoring uses those of the last synthetic batch (reference §2).
    case recorded([Tensor])
}

/// A learner of the preset's family with given widths: a function of explicit parameters, so
/// that "the learner after step t" is just another `Parameters` value.
public struct Learner: Sendable {
    public let architecture: Preset.LearnerArchitecture
    public let widths: LearnerWidths

    public init(architecture: Preset.LearnerArchitecture, widths: LearnerWidths) {
        self.architecture = architecture
        self.widths = widths
    }

    private var conv1: Conv2dLayer {
        architecture == .weightNormalized
            ? Conv2dLayer("conv1", 1, widths.conv1, bias: false)
            : Conv2dLayer("conv1", 1, widths.conv1, padding: 0, weightNormalized: false)
    }
    private var conv2: Conv2dLayer {
        architecture == .weightNormalized
            ? Conv2dLayer("conv2", widths.conv1, widths.conv2, bias: false)
            : Conv2dLayer("conv2", widths.conv1, widths.conv2, padding: 0, weightNormalized: false)
    }
    private var fc1: LinearLayer { LinearLayer("fc1", widths.conv2 * 49, widths.fc, bias: false) }
    private var fc2: LinearLayer { LinearLayer("fc2", widths.fc, 10) }
    private var seedFC: LinearLayer { LinearLayer("fc", widths.conv2 * 25, 10, weightNormalized: false) }

    /// Fresh parameters: Kaiming-normal weights (LeakyReLU slope 0.1), unit gains, zero biases.
    public func initialParameters(using rng: inout SeededGenerator) -> Parameters {
        var p = Parameters()
        conv1.initialize(into: &p, using: &rng)
        switch architecture {
        case .weightNormalized:
            p.append("bn1.b", Tensor.zeros([widths.conv1]))
            conv2.initialize(into: &p, using: &rng)
            p.append("bn2.b", Tensor.zeros([widths.conv2]))
            fc1.initialize(into: &p, using: &rng)
            p.append("bn3.b", Tensor.zeros([widths.fc]))
            fc2.initialize(into: &p, using: &rng)
        case .seed:
            BatchNormLayer("bn1", widths.conv1).initialize(into: &p)
            conv2.initialize(into: &p, using: &rng)
            BatchNormLayer("bn2", widths.conv2).initialize(into: &p)
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
            func normalize(_ h: Tensor, _ index: Int, bias: String) -> Tensor {
                let mean: Tensor
                switch statistics {
                case .batch: mean = batchMean(h)
                case .recorded(let recorded): mean = recorded[index]
                }
                means.append(mean)
                return leakyReLU(meanOnlyBatchNorm(h, bias: p[bias], mean: mean))
            }
            var h = normalize(maxPool2d(conv1(x, p)), 0, bias: "bn1.b")
            h = normalize(maxPool2d(conv2(h, p)), 1, bias: "bn2.b")
            h = normalize(fc1(h.flattened(), p), 2, bias: "bn3.b")
            return (fc2(h, p), means)
        case .seed:
            var h = maxPool2d(BatchNormLayer("bn1", widths.conv1)(leakyReLU(conv1(x, p)), p))
            h = maxPool2d(BatchNormLayer("bn2", widths.conv2)(leakyReLU(conv2(h, p)), p))
            return (BatchNormLayer("bn3", 10)(seedFC(h.flattened(), p), p), [])
        }
    }

    /// The mean-only-BN means of a batch, for scoring with `.recorded`.
    public func batchMeans(_ x: Tensor, _ p: Parameters) -> [Tensor] { self(x, p).means }
}
