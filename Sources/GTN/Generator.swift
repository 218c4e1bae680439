import NeuralNet
import Support
import TensorEngine

/// Mean and standard deviation of MNIST pixels in [0, 1]: the normalized space images live in.
public enum PixelNormalization {
    public static let mean = 0.1307
    public static let standardDeviation = 0.3081
}

/// A generator architecture: layers that map [noise ‖ one-hot label] rows to images, with their
/// parameters in a `Parameters` value. A new architecture is one new conforming type.
public protocol GeneratorNetwork: Sendable {
    /// Fresh parameters φ, all under names starting with `gen.`.
    func initialParameters(using rng: inout SeededGenerator) -> Parameters
    /// The layers whose weights are weight-normalized.
    var normalizedLayers: [WeightNormalizable] { get }
    /// Images [B, 1, 28, 28] in normalized pixel space for inputs [B, noise + 10].
    func callAsFunction(_ input: Tensor, _ p: Parameters) -> Tensor
}

/// A layer whose weight may be weight-normalized and resolved ahead of time.
public protocol WeightNormalizable: Sendable {
    func resolveWeight(in p: inout Parameters)
    var normalizationSources: [String] { get }
}

extension LinearLayer: WeightNormalizable {}
extension Conv2dLayer: WeightNormalizable {}

/// The generator G(z, y; φ): noise and a class label to a 1×28×28 image in normalized space.
/// A description of layers; the parameters φ live in a `Parameters` value.
public struct Generator: Sendable {
    public let architecture: Preset.GeneratorArchitecture
    public let noiseSize: Int
    public let network: any GeneratorNetwork

    public init(architecture: Preset.GeneratorArchitecture, noiseSize: Int) {
        self.architecture = architecture
        self.noiseSize = noiseSize
        switch architecture {
        case let .weightNormalized(channels, middle):
            network = WeightNormalizedGenerator(noiseSize: noiseSize, channels: channels, middle: middle)
        case .seed:
            network = SeedPresetGenerator(noiseSize: noiseSize)
        }
    }

    public func initialParameters(using rng: inout SeededGenerator) -> Parameters { network.initialParameters(using: &rng) }

    /// `p` with every weight-normalized layer's weight computed once (see `Conv2dLayer.resolveWeight`):
    /// the generator runs once per inner step with the same φ, so the steps share one normalization.
    public func resolvingWeights(_ p: Parameters) -> Parameters {
        var resolved = p
        for layer in network.normalizedLayers { layer.resolveWeight(in: &resolved) }
        return resolved
    }

    /// The parameters (directions and gains) that `resolvingWeights` folds into resolved weights.
    public var normalizationSources: Set<String> { Set(network.normalizedLayers.flatMap(\.normalizationSources)) }

    /// Images [B, 1, 28, 28] for noise [B, noise] and labels (B of them).
    public func callAsFunction(_ z: Tensor, labels: [Int], _ p: Parameters) -> Tensor {
        network(concat([z, oneHot(labels, classes: 10, dtype: z.dtype)], alongAxis: 1), p)
    }
}

/// The paper's generator: WN-FC → BN → LReLU twice, reshape C×7×7, then two (upsample ×2,
/// WN-conv) stages, the first followed by BN and LReLU; tanh·2 covers the normalized pixel range.
public struct WeightNormalizedGenerator: GeneratorNetwork {
    let fc1: LinearLayer, bn1: BatchNormLayer, fc2: LinearLayer, bn2: BatchNormLayer
    let conv1: Conv2dLayer, bn3: BatchNormLayer, conv2: Conv2dLayer
    let channels: Int

    public init(noiseSize: Int, channels: Int, middle: Int) {
        fc1 = LinearLayer("gen.fc1", noiseSize + 10, 1024, bias: false)
        bn1 = BatchNormLayer("gen.bn1", 1024)
        fc2 = LinearLayer("gen.fc2", 1024, channels * 49, bias: false)
        bn2 = BatchNormLayer("gen.bn2", channels * 49)
        conv1 = Conv2dLayer("gen.conv1", channels, middle, bias: false)
        bn3 = BatchNormLayer("gen.bn3", middle)
        conv2 = Conv2dLayer("gen.conv2", middle, 1, bias: true)
        self.channels = channels
    }

    public func initialParameters(using rng: inout SeededGenerator) -> Parameters {
        var p = Parameters()
        fc1.initialize(into: &p, using: &rng); bn1.initialize(into: &p)
        fc2.initialize(into: &p, using: &rng); bn2.initialize(into: &p)
        conv1.initialize(into: &p, using: &rng); bn3.initialize(into: &p)
        conv2.initialize(into: &p, using: &rng)
        return p
    }

    public var normalizedLayers: [WeightNormalizable] { [fc1, fc2, conv1, conv2] }

    public func callAsFunction(_ input: Tensor, _ p: Parameters) -> Tensor {
        var h = leakyReLU(bn1(fc1(input, p), p))
        h = leakyReLU(bn2(fc2(h, p), p)).reshaped(to: [-1, channels, 7, 7])
        h = leakyReLU(bn3(conv1(upsampleNearest(h), p), p))
        return tanh(conv2(upsampleNearest(h), p)) * 2
    }
}

/// The seed project's generator (docs/gtn.md §3): plain FC layers to 128×28×28, two convs, and
/// a tanh mapped to the pixel range [0, 1] before normalization (about 103 M parameters).
public struct SeedPresetGenerator: GeneratorNetwork {
    let fc1: LinearLayer, bn1: BatchNormLayer, fc2: LinearLayer, bn2: BatchNormLayer
    let conv1: Conv2dLayer, bn3: BatchNormLayer, conv2: Conv2dLayer, bn4: BatchNormLayer

    public init(noiseSize: Int) {
        fc1 = LinearLayer("gen.fc1", noiseSize + 10, 1024, weightNormalized: false)
        bn1 = BatchNormLayer("gen.bn1", 1024)
        fc2 = LinearLayer("gen.fc2", 1024, 128 * 784, weightNormalized: false)
        bn2 = BatchNormLayer("gen.bn2", 128 * 784)
        conv1 = Conv2dLayer("gen.conv1", 128, 64, weightNormalized: false)
        bn3 = BatchNormLayer("gen.bn3", 64)
        conv2 = Conv2dLayer("gen.conv2", 64, 1, weightNormalized: false)
        bn4 = BatchNormLayer("gen.bn4", 1)
    }

    public func initialParameters(using rng: inout SeededGenerator) -> Parameters {
        var p = Parameters()
        fc1.initialize(into: &p, using: &rng); bn1.initialize(into: &p)
        fc2.initialize(into: &p, using: &rng); bn2.initialize(into: &p)
        conv1.initialize(into: &p, using: &rng); bn3.initialize(into: &p)
        conv2.initialize(into: &p, using: &rng); bn4.initialize(into: &p)
        return p
    }

    public var normalizedLayers: [WeightNormalizable] { [] }

    public func callAsFunction(_ input: Tensor, _ p: Parameters) -> Tensor {
        var h = bn1(leakyReLU(fc1(input, p)), p)
        h = bn2(leakyReLU(fc2(h, p)), p).reshaped(to: [-1, 128, 28, 28])
        h = leakyReLU(bn3(conv1(h, p), p))
        let unit = (tanh(bn4(conv2(h, p), p)) + 1) * 0.5
        return (unit - PixelNormalization.mean) / PixelNormalization.standardDeviation
    }
}
