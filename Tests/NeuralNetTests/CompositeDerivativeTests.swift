import NeuralNet
import TensorEngine
import TestSupport
import XCTest

/// First- and second-order finite-difference checks of the losses and normalizations, in Float64.
final class CompositeDerivativeTests: XCTestCase {
    var checker = GradientChecker()

    func testLossesAndNormalization() throws {
        let logits = random([4, 5], seed: 70, low: -3, high: 3)
        try checker.check("crossEntropy hard", [logits]) { crossEntropy(logits: $0[0], labels: [0, 4, 2, 2]) }
        let probabilities = softmax(random([4, 5], seed: 71))
        try checker.check("crossEntropy soft", [logits, probabilities]) { crossEntropy(logits: $0[0], probabilities: $0[1]) }
        let images = random([3, 2, 3, 3], seed: 72)
        try checker.check("batchNorm images", [images, random([2], seed: 73), random([2], seed: 74)]) {
            batchNorm($0[0], scale: $0[1], shift: $0[2])
        }
        try checker.check("batchNorm features", [random([4, 3], seed: 75)]) { batchNorm($0[0]) }
        try checker.check("meanOnlyBatchNorm", [images, random([2], seed: 76)]) { meanOnlyBatchNorm($0[0], bias: $0[1]) }
        try checker.check("meanOnlyBatchNorm with given mean", [images, random([1, 2, 1, 1], seed: 77)]) {
            meanOnlyBatchNorm($0[0], mean: $0[1])
        }
        try checker.check("weightNormalized conv", [random([3, 2, 3, 3], seed: 78), random([3], seed: 79, low: 0.5, high: 2)]) {
            weightNormalized(direction: $0[0], gain: $0[1])
        }
        try checker.check("weightNormalized linear", [random([4, 3], seed: 80), random([4], seed: 81)]) {
            weightNormalized(direction: $0[0], gain: $0[1])
        }
        let wnInputs = [random([2, 5], seed: 82), random([4, 5], seed: 83), random([4], seed: 84, low: 0.5, high: 2), random([4], seed: 85)]
        try checker.check("weightNormalizedLinear", wnInputs) {
            weightNormalizedLinear($0[0], direction: $0[1], gain: $0[2], bias: $0[3])
        }
        // The same function as forming the weight first.
        let fused = weightNormalizedLinear(wnInputs[0], direction: wnInputs[1], gain: wnInputs[2], bias: wnInputs[3])
        let formed = linear(wnInputs[0], weight: weightNormalized(direction: wnInputs[1], gain: wnInputs[2]), bias: wnInputs[3])
        for (a, b) in zip(fused.doubles, formed.doubles) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }
}
