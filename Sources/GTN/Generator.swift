import NeuralNet
import Support
import TensorEngine

/// Mean and standard deviation of MNIST pixels in [0, 1]: the normalized space images live in.
public enum PixelNormalization {
    public static let mean = 0.1307
    public static let standardDeviation = 0.3081
}

/// The generator G(z, y; φ): noise and a class label to a 1×28×28 image in normalized space.
/// A description of layers; the parameters φ live in a `Parameters` value.
public struct Generator: Sendable {
    public let architecture: Preset.GeneratorArchitecture
    public let noiseSize: Int

    public init(architecture: Preset.GeneratorArchitecture, noiseSize: Int) {
        self.architecture = architecture
        self.noiseSize = noiseSize
    }

    private var layers: (fc1: LinearLayer, bn1: BatchNormLayer, fc2: LinearLayer, bn2: BatchNormLayer,
                         conv1: Conv2dLayer, bn3: BatchNormLayer, conv2: Conv2dLayer, bn4: BatchNormLayer?, channels: Int) {
        switch architecture {
        case let .weightNormalized(c, m):
            return (LinearLayer("gen.fc1", noiseSize + 10, 1024, bias: false), BatchNormLayer("gen.bn1", 1024),
                    LinearLayer("gen.fc2", 1024, c * 49, bias: false), BatchNormLayer("gen.bn2", c * 49),
                    Conv2dLayer("gen.conv1", c, m, bias: false), BatchNormLayer("gen.bn3", m),
                    Conv2dLayer("gen.conv2", m, 1, bias: true), nil, c)
        case .seed:
            return (LinearLayer("gen.fc1", noiseSize + 10, 1024, weightNormalized: false), BatchNormLayer("gen.bn1", 1024),
                    LinearLayer("gen.fc2", 1024, 128 * 784, weightNormalized: false), BatchNormLayer("gen.bn2", 128 * 784),
                    Conv2dLayer("gen.conv1", 128, 64, weightNormalized: false), BatchNormLayer("gen.bn3", 64),
                    Conv2dLayer("gen.conv2", 64, 1, weightNormalized: false), BatchNormLayer("gen.bn4", 1), 128)
        }
    }

    public func initialParameters(using rng: inout SeededGenerator) -> Parameters {
        var p = Parameters()
        let l = layers
        l.fc1.initialize(into: &p, using: &rng); l.bn1.initialize(into: &p)
        l.fc2.initialize(into: &p, using: &rng); l.bn2.initialize(into: &p)
        l.conv1.initialize(into: &p, using: &rng); l.bn3.initialize(into: &p)
        l.conv2.initialize(into: &p, using: &rng)
        l.bn4?.initialize(into: &p)
        return p
    }

    /// `p` with every weight-normalized layer's weight computed once (see `Conv2dLayer.resolveWeight`):
    /// the generator runs once per inner step with the same φ, so the steps share one normalization.
    public func resolvingWeights(_ p: Parameters) -> Parameters {
        let l = layers
        var resolved = p
        l.fc1.resolveWeight(in: &resolved); l.fc2.resolveWeight(in: &resolved)
        l.conv1.resolveWeight(in: &resolved); l.conv2.resolveWeight(in: &resolved)
        return resolved
    }

    /// The parameters (directions and gains) that `resolvingWeights` folds into resolved weights.
    public var normalizationSources: Set<String> {
        let l = layers
        return Set(l.fc1.normalizationSources + l.fc2.normalizationSources + l.conv1.normalizationSources + l.conv2.normalizationSources)
    }

    /// Images [B, 1, 28, 28] for noise [B, noise] and labels (B of them).
    public func callAsFunction(_ z: Tensor, labels: [Int], _ p: Parameters) -> Tensor {
        let l = layers
        let input = concat([z, oneHot(labels, classes: 10, dtype: z.dtype)], alongAxis: 1)
        switch architecture {
        case .weightNormalized:
            var h = leakyReLU(l.bn1(l.fc1(input, p), p))
            h = leakyReLU(l.bn2(l.fc2(h, p), p)).reshaped(to: [-1, l.channels, 7, 7])
            h = leakyReLU(l.bn3(l.conv1(upsampleNearest(h), p), p))
            return tanh(l.conv2(upsampleNearest(h), p)) * 2
        case .seed:
            var h = l.bn1(leakyReLU(l.fc1(input, p)), p)
            h = l.bn2(leakyReLU(l.fc2(h, p)), p).reshaped(to: [-1, 128, 28, 28])
            h = leakyReLU(l.bn3(l.conv1(h, p), p))
            let bn4 = l.bn4 ?? BatchNormLayer("gen.bn4", 1)
            let unit = (tanh(bn4(l.conv2(h, p), p)) + 1) * 0.5
            return (unit - PixelNormalization.mean) / PixelNormalization.standardDeviation
        }
    }
}
