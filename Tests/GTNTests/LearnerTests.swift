import NeuralNet
import Support
import TensorEngine
import XCTest
@testable import GTN

final class LearnerTests: XCTestCase {
    func testSpecPrintsAndParses() {
        let spec = LearnerSpec(blocks: [.init(kernel: 3, width: 48), .init(kernel: 5, width: 96)], fc: 128)
        XCTAssertEqual(spec.description, "c3x48-c5x96-fc128")
        XCTAssertEqual(LearnerSpec(parsing: "c3x48-c5x96-fc128"), spec)
        for bad in ["", "c3x48--fc128", "fc10", "c3x48", "c4x48-fc10", "c3x0-fc10", "c3x8-c3x8-c3x8-c3x8-c3x8-fc10", "d3x48-fc10", "c3x48-fc"] {
            XCTAssertNil(LearnerSpec(parsing: bad), bad)
        }
    }

    func testEveryDepthAndKernelProducesLogits() {
        var rng = SeededGenerator(seed: 1)
        let x = Tensor.randomNormal([3, 1, 28, 28], using: &rng)
        for depth in 1...4 {
            for kernel in [3, 5] {
                let spec = LearnerSpec(blocks: (0..<depth).map { .init(kernel: kernel, width: 2 + $0) }, fc: 5)
                let learner = Learner(architecture: .weightNormalized, spec: spec)
                let (logits, means) = learner(x, learner.initialParameters(using: &rng))
                XCTAssertEqual(logits.shape, [3, 10], spec.description)
                XCTAssertEqual(means.count, depth + 1)
            }
        }
    }

    func testScoringWithRecordedMeansDiffersFromBatchMeans() {
        var rng = SeededGenerator(seed: 2)
        let learner = Learner(architecture: .weightNormalized, widths: LearnerWidths(conv1: 4, conv2: 4, fc: 6))
        let p = learner.initialParameters(using: &rng)
        let a = Tensor.randomNormal([4, 1, 28, 28], using: &rng), b = Tensor.randomNormal([4, 1, 28, 28], mean: 1, using: &rng)
        let recorded = learner(a, p).means
        let scoredWithA = learner(b, p, statistics: .recorded(recorded)).logits.scalars
        let scoredWithB = learner(b, p).logits.scalars
        XCTAssertNotEqual(scoredWithA, scoredWithB)
        XCTAssertEqual(learner(a, p, statistics: .recorded(recorded)).logits.scalars, learner(a, p).logits.scalars)
    }
}
