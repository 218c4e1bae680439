import TensorEngine

/// Losses and metrics of a classifier's logits, composed from the engine's ops (so they are
/// differentiable to any order without derivatives of their own).

/// Mean cross-entropy of `logits` [N, classes] against integer labels.
public func crossEntropy(logits: Tensor, labels: [Int]) -> Tensor {
    TensorError.check {
        guard logits.rank == 2, logits.shape[0] == labels.count else {
            throw TensorError(op: "crossEntropy", "logits \(TensorError.describe(logits.shape)) do not match \(labels.count) labels")
        }
        if let bad = labels.first(where: { $0 < 0 || $0 >= logits.shape[1] }) {
            throw TensorError(op: "crossEntropy", "label \(bad) is outside 0..<\(logits.shape[1]) for logits \(TensorError.describe(logits.shape))")
        }
    }
    return crossEntropy(logits: logits, probabilities: oneHot(labels, classes: logits.shape[1], dtype: logits.dtype))
}

/// Mean cross-entropy of `logits` [N, classes] against soft labels (rows of probabilities).
public func crossEntropy(logits: Tensor, probabilities: Tensor) -> Tensor {
    TensorError.check {
        guard logits.rank == 2, probabilities.shape == logits.shape else {
            throw TensorError(op: "crossEntropy", "logits \(TensorError.describe(logits.shape)) and probabilities \(TensorError.describe(probabilities.shape)) must be equal [N, classes] shapes")
        }
    }
    return -(logSoftmax(logits, alongAxis: 1) * probabilities).sum() * (1 / Double(logits.shape[0]))
}

/// Fraction of rows of `logits` whose argmax equals the label.
public func accuracy(logits: Tensor, labels: [Int]) -> Double {
    let predicted = logits.argmax(alongAxis: 1)
    guard !labels.isEmpty else { return 0 }
    return Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(labels.count)
}
