/// Functions composed from the primitives that the engine's own users and tests need. None has a
/// hand-written derivative: their first and second derivatives come from the primitives'.
/// Losses and normalization, composed the same way, live in NeuralNet.

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

/// A linear layer's output: x · wᵀ + b, for x [N, in], w [out, in], b [out].
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    let y = matmul(x, weight, transposingB: true)
    return bias.map { y + $0 } ?? y
}
