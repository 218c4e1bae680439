import Foundation
import TensorEngine

/// Adam (Kingma & Ba) over a list of tensors, as a value: `step` returns the updated tensors.
public struct Adam: Sendable {
    public var beta1 = 0.9
    public var beta2 = 0.999
    public var epsilon = 1e-8
    public private(set) var step = 0
    public private(set) var firstMoments: [Tensor]
    public private(set) var secondMoments: [Tensor]

    public init(like tensors: [Tensor]) {
        firstMoments = tensors.map { Tensor.zeros($0.shape, dtype: $0.dtype) }
        secondMoments = firstMoments
    }

    /// Restores a saved state.
    public init(step: Int, firstMoments: [Tensor], secondMoments: [Tensor]) {
        self.step = step
        self.firstMoments = firstMoments
        self.secondMoments = secondMoments
    }

    public mutating func update(_ parameters: [Tensor], gradients: [Tensor], learningRate: Double) -> [Tensor] {
        precondition(parameters.count == gradients.count && parameters.count == firstMoments.count,
                     "Adam: \(parameters.count) parameters, \(gradients.count) gradients, state for \(firstMoments.count)")
        step += 1
        let c1 = 1 - Foundation.pow(beta1, Double(step)), c2 = 1 - Foundation.pow(beta2, Double(step))
        return withoutGradientRecording {
            var updated: [Tensor] = []
            for i in parameters.indices {
                let g = gradients[i].detached()
                firstMoments[i] = firstMoments[i] * beta1 + g * (1 - beta1)
                secondMoments[i] = secondMoments[i] * beta2 + square(g) * (1 - beta2)
                let denominator = sqrt(secondMoments[i] * (1 / c2)) + epsilon
                updated.append(parameters[i].detached() - firstMoments[i] * (learningRate / c1) / denominator)
            }
            return updated
        }
    }
}

/// Cosine decay from `initial` at `progress` 0 to `initial · finalFraction` at `progress` 1
/// (progress is clamped to that interval).
public func cosineDecay(from initial: Double, progress: Double, finalFraction: Double = 0) -> Double {
    let floor = initial * finalFraction
    return floor + (initial - floor) * 0.5 * (1 + Foundation.cos(Double.pi * Swift.min(1, Swift.max(0, progress))))
}

/// The global L2 norm of a list of tensors.
public func globalNorm(_ tensors: [Tensor]) -> Double {
    withoutGradientRecording {
        tensors.reduce(0.0) { $0 + square($1.detached()).sum().item }.squareRoot()
    }
}

/// Scales `tensors` so that their global norm is at most `maxNorm`; returns them with the norm
/// before clipping.
public func clippedByGlobalNorm(_ tensors: [Tensor], maxNorm: Double) -> (tensors: [Tensor], norm: Double) {
    let norm = globalNorm(tensors)
    guard norm > maxNorm, norm.isFinite else { return (tensors, norm) }
    let scale = maxNorm / norm
    return (withoutGradientRecording { tensors.map { $0.detached() * scale } }, norm)
}
