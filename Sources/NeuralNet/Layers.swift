import Foundation
import Support
import TensorEngine

/// Kaiming-normal initialisation for a layer followed by a leaky ReLU of the given slope.
public func kaimingNormal(_ shape: [Int], fanIn: Int, slope: Double = 0.1, dtype: DType = .float32,
                          using rng: inout SeededGenerator) -> Tensor {
    let std = (2 / (1 + slope * slope) / Double(fanIn)).squareRoot()
    return Tensor.randomNormal(shape, standardDeviation: std, dtype: dtype, using: &rng)
}

/// The per-output-unit norms of a weight, used as the initial gain so that weight
/// normalization starts from exactly the initialised weight.
func unitNorms(_ v: Tensor) -> Tensor {
    withoutGradientRecording { sqrt(square(v).sum(alongAxes: Array(1..<v.rank))) }
}

/// Adds a layer's weight (`name.v` and `name.g` under weight normalization, else `name.w`) and
/// bias (`name.b`) to `p`: Kaiming-normal weights, unit-norm gains, zero biases.
private func initializeWeightAndBias(_ name: String, shape: [Int], fanIn: Int, weightNormalized: Bool, bias: Bool,
                                     into p: inout Parameters, dtype: DType, using rng: inout SeededGenerator) {
    let v = kaimingNormal(shape, fanIn: fanIn, dtype: dtype, using: &rng)
    if weightNormalized {
        p.append(name + ".v", v)
        p.append(name + ".g", unitNorms(v))
    } else {
        p.append(name + ".w", v)
    }
    if bias { p.append(name + ".b", Tensor.zeros([shape[0]], dtype: dtype)) }
}

/// The layer's weight: `name.w` when `p` has it (a plain weight, or a normalized one resolved
/// ahead of time), else g · v / ‖v‖.
private func layerWeight(_ name: String, weightNormalized: Bool, _ p: Parameters) -> Tensor {
    !weightNormalized || p.contains(name + ".w")
        ? p[name + ".w"] : NeuralNet.weightNormalized(direction: p[name + ".v"], gain: p[name + ".g"])
}

/// Adds `name.w` = g · v / ‖v‖ to `p`, so that calls sharing `p` normalize the weight once and
/// gradients reach v and g through that one node.
private func resolveWeight(_ name: String, weightNormalized: Bool, in p: inout Parameters) {
    guard weightNormalized, !p.contains(name + ".w") else { return }
    p.append(name + ".w", layerWeight(name, weightNormalized: true, p))
}

/// A 2-D convolution (stride 1, square kernel), optionally weight-normalized. Its parameters
/// live in a `Parameters` under `name.v`, `name.g` (weight norm) or `name.w`, and `name.b`.
public struct Conv2dLayer: Sendable {
    public let name: String
    public let inChannels, outChannels, kernel, padding: Int
    public let weightNormalized: Bool
    public let hasBias: Bool

    public init(_ name: String, _ inChannels: Int, _ outChannels: Int, kernel: Int = 3, padding: Int = 1,
                weightNormalized: Bool = true, bias: Bool = true) {
        self.name = name
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.padding = padding
        self.weightNormalized = weightNormalized; self.hasBias = bias
    }

    public func initialize(into p: inout Parameters, dtype: DType = .float32, using rng: inout SeededGenerator) {
        initializeWeightAndBias(name, shape: [outChannels, inChannels, kernel, kernel], fanIn: inChannels * kernel * kernel,
                                weightNormalized: weightNormalized, bias: hasBias, into: &p, dtype: dtype, using: &rng)
    }

    public func weight(_ p: Parameters) -> Tensor { layerWeight(name, weightNormalized: weightNormalized, p) }

    /// Computes a weight-normalized weight once into `p` (as `name.w`) for repeated calls.
    public func resolveWeight(in p: inout Parameters) { NeuralNet.resolveWeight(name, weightNormalized: weightNormalized, in: &p) }

    /// The parameters a resolved weight stands for (nothing unless weight-normalized).
    public var normalizationSources: [String] { weightNormalized ? [name + ".v", name + ".g"] : [] }

    public func callAsFunction(_ x: Tensor, _ p: Parameters) -> Tensor {
        let y = conv2d(x, weight(p), padding: padding)
        return hasBias ? y + p[name + ".b"].reshaped(to: [1, outChannels, 1, 1]) : y
    }
}

/// A fully connected layer y = x·wᵀ + b, optionally weight-normalized.
public struct LinearLayer: Sendable {
    public let name: String
    public let inFeatures, outFeatures: Int
    public let weightNormalized: Bool
    public let hasBias: Bool

    public init(_ name: String, _ inFeatures: Int, _ outFeatures: Int, weightNormalized: Bool = true, bias: Bool = true) {
        self.name = name
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
        self.weightNormalized = weightNormalized; self.hasBias = bias
    }

    public func initialize(into p: inout Parameters, dtype: DType = .float32, using rng: inout SeededGenerator) {
        initializeWeightAndBias(name, shape: [outFeatures, inFeatures], fanIn: inFeatures,
                                weightNormalized: weightNormalized, bias: hasBias, into: &p, dtype: dtype, using: &rng)
    }

    public func weight(_ p: Parameters) -> Tensor { layerWeight(name, weightNormalized: weightNormalized, p) }

    /// Computes a weight-normalized weight once into `p` (as `name.w`) for repeated calls.
    public func resolveWeight(in p: inout Parameters) { NeuralNet.resolveWeight(name, weightNormalized: weightNormalized, in: &p) }

    /// The parameters a resolved weight stands for (nothing unless weight-normalized).
    public var normalizationSources: [String] { weightNormalized ? [name + ".v", name + ".g"] : [] }

    public func callAsFunction(_ x: Tensor, _ p: Parameters) -> Tensor {
        let bias = hasBias ? p[name + ".b"] : nil
        if weightNormalized && !p.contains(name + ".w") && x.shape[0] < inFeatures {
            return weightNormalizedLinear(x, direction: p[name + ".v"], gain: p[name + ".g"], bias: bias)
        }
        return linear(x, weight: weight(p), bias: bias)
    }
}

/// Batch normalization with batch statistics and a learned scale and shift (`name.gamma`,
/// `name.beta`), for [N, F] or [N, C, H, W].
public struct BatchNormLayer: Sendable {
    public let name: String
    public let features: Int

    public init(_ name: String, _ features: Int) {
        self.name = name
        self.features = features
    }

    public func initialize(into p: inout Parameters, dtype: DType = .float32) {
        p.append(name + ".gamma", Tensor.ones([features], dtype: dtype))
        p.append(name + ".beta", Tensor.zeros([features], dtype: dtype))
    }

    public func callAsFunction(_ x: Tensor, _ p: Parameters) -> Tensor {
        batchNorm(x, scale: p[name + ".gamma"], shift: p[name + ".beta"])
    }
}
