/// Layers composed from the primitives. None has a hand-written derivative: their first and
/// second derivatives come from the primitives'.

/// log(softmax(x)) along `axis`, shifted by the (constant) maximum so that exp never overflows.
public func logSoftmax(_ x: Tensor, alongAxis axis: Int = -1) -> Tensor {
    let shifted = x - x.max(alongAxis: axis)
    return shifted - log(exp(shifted).sum(alongAxes: [axis], keepingDimensions: true))
}

public func softmax(_ x: Tensor, alongAxis axis: Int = -1) -> Tensor {
    exp(logSoftmax(x, alongAxis: axis))
}

/// Rows of the identity: [labels.count, classes], constant.
public func oneHot(_ labels: [Int], classes: Int, dtype: DType = .float32) -> Tensor {
    var values = [Double](repeating: 0, count: labels.count * classes)
    for (i, label) in labels.enumerated() {
        precondition(label >= 0 && label < classes, "oneHot: label \(label) at position \(i) is outside 0..<\(classes)")
        values[i * classes + label] = 1
    }
    let t = Tensor(shape: [labels.count, classes], doubles: values)
    return dtype == .float64 ? t : t.converted(to: dtype)
}

/// Mean cross-entropy of `logits` [N, classes] against integer labels.
public func crossEntropy(logits: Tensor, labels: [Int]) -> Tensor {
    check {
        guard logits.rank == 2, logits.shape[0] == labels.count else {
            throw TensorError(op: "crossEntropy", "logits \(describe(logits.shape)) do not match \(labels.count) labels")
        }
        if let bad = labels.first(where: { $0 < 0 || $0 >= logits.shape[1] }) {
            throw TensorError(op: "crossEntropy", "label \(bad) is outside 0..<\(logits.shape[1]) for logits \(describe(logits.shape))")
        }
    }
    return crossEntropy(logits: logits, probabilities: oneHot(labels, classes: logits.shape[1], dtype: logits.dtype))
}

/// Mean cross-entropy of `logits` [N, classes] against soft labels (rows of probabilities).
public func crossEntropy(logits: Tensor, probabilities: Tensor) -> Tensor {
    check {
        guard logits.rank == 2, probabilities.shape == logits.shape else {
            throw TensorError(op: "crossEntropy", "logits \(describe(logits.shape)) and probabilities \(describe(probabilities.shape)) must be equal [N, classes] shapes")
        }
    }
    return -(logSoftmax(logits, alongAxis: 1) * probabilities).sum() * (1 / Double(logits.shape[0]))
}

/// The axes batch statistics are taken over: the batch, and the spatial ones for images.
func statisticsAxes(_ x: Tensor, op: String) -> [Int] {
    check {
        guard x.rank == 2 || x.rank == 4 else {
            throw TensorError(op: op, "expects [N, F] or [N, C, H, W], got \(describe(x.shape))")
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
    check {
        guard g.shape == [v.shape[0]] else {
            throw TensorError(op: "weightNormalized", "gain \(describe(g.shape)) must be [\(v.shape[0])] for direction \(describe(v.shape))")
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
    check {
        guard v.rank == 2, g.shape == [v.shape[0]] else {
            throw TensorError(op: "weightNormalizedLinear", "expects direction [out, in] and gain [out], got \(describe(v.shape)) and \(describe(g.shape))")
        }
    }
    let scale = g / sqrt(square(v).sum(alongAxes: [1]))
    let y = matmul(x, v, transposingB: true) * scale
    return bias.map { y + $0 } ?? y
}

/// A linear layer's output: x · wᵀ + b, for x [N, in], w [out, in], b [out].
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    let y = matmul(x, weight, transposingB: true)
    return bias.map { y + $0 } ?? y
}

/// Fraction of rows of `logits` whose argmax equals the label.
public func accuracy(logits: Tensor, labels: [Int]) -> Double {
    let predicted = logits.argmax(alongAxis: 1)
    guard !labels.isEmpty else { return 0 }
    return Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(labels.count)
}
