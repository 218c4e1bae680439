import TensorEngine

/// Batch and weight normalization, composed from the engine's ops (so they are differentiable
/// to any order without derivatives of their own).

/// The axes batch statistics are taken over: the batch, and the spatial ones for images.
func statisticsAxes(_ x: Tensor, op: String) -> [Int] {
    TensorError.check {
        guard x.rank == 2 || x.rank == 4 else {
            throw TensorError(op: op, "expects [N, F] or [N, C, H, W], got \(TensorError.describe(x.shape))")
        }
    }
    return x.rank == 4 ? [0, 2, 3] : [0]
}

/// Batch normalization with the batch's own statistics: (x − mean) / sqrt(var + ε), per
/// channel (or feature); an optional affine scale and shift (shaped like the mean) follow.
public func batchNorm(_ x: Tensor, scale: Tensor? = nil, shift: Tensor? = nil, epsilon: Double = 1e-5) -> Tensor {
    let axes = statisticsAxes(x, op: "batchNorm")
    let centered = x - x.mean(alongAxes: axes, keepingDimensions: true)
    let variance = square(centered).mean(alongAxes: axes, keepingDimensions: true)
    var y = centered / sqrt(variance + epsilon)
    if let scale { y = y * scale.reshaped(to: statisticsShape(x)) }
    if let shift { y = y + shift.reshaped(to: statisticsShape(x)) }
    return y
}

/// The per-channel mean a batch norm subtracts, shaped for broadcasting ([1, C, 1, 1] or [1, F]).
public func batchMean(_ x: Tensor) -> Tensor {
    x.mean(alongAxes: statisticsAxes(x, op: "batchMean"), keepingDimensions: true)
}

/// Mean-only batch norm: subtracts `mean` (by default the batch's own) and adds `bias`, as one
/// pass over x: x − (mean − bias).
public func meanOnlyBatchNorm(_ x: Tensor, bias: Tensor? = nil, mean: Tensor? = nil) -> Tensor {
    let mean = mean ?? batchMean(x)
    return x - (bias.map { mean - $0.reshaped(to: statisticsShape(x)) } ?? mean)
}

func statisticsShape(_ x: Tensor) -> [Int] { x.rank == 4 ? [1, x.shape[1], 1, 1] : [1, x.shape[1]] }

/// Weight normalization: w = g · v / ‖v‖, one norm and gain per output unit (the first axis).
public func weightNormalized(direction v: Tensor, gain g: Tensor) -> Tensor {
    TensorError.check {
        guard g.shape == [v.shape[0]] else {
            throw TensorError(op: "weightNormalized", "gain \(TensorError.describe(g.shape)) must be [\(v.shape[0])] for direction \(TensorError.describe(v.shape))")
        }
    }
    var unitShape = [Int](repeating: 1, count: v.rank)
    unitShape[0] = v.shape[0]
    let norm = sqrt(square(v).sum(alongAxes: Array(1..<v.rank), keepingDimensions: true))
    return v * (g.reshaped(to: unitShape) / norm)
}

/// `linear(x, weight: weightNormalized(direction: v, gain: g), bias: b)` without forming the
/// weight: x · (s ⊙ v)ᵀ = (x · vᵀ) ⊙ s with s = g / ‖v‖ per output unit. Scaling the [N, out]
/// output instead of the [out, in] weight saves weight-sized passes forward and in every
/// derivative whenever the batch is smaller than the fan-in (the learner's first FC layer).
public func weightNormalizedLinear(_ x: Tensor, direction v: Tensor, gain g: Tensor, bias: Tensor? = nil) -> Tensor {
    TensorError.check {
        guard v.rank == 2, g.shape == [v.shape[0]] else {
            throw TensorError(op: "weightNormalizedLinear", "expects direction [out, in] and gain [out], got \(TensorError.describe(v.shape)) and \(TensorError.describe(g.shape))")
        }
    }
    let scale = g / sqrt(square(v).sum(alongAxes: [1]))
    let y = matmul(x, v, transposingB: true) * scale
    return bias.map { y + $0 } ?? y
}
