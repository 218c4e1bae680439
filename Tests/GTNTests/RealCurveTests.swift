import Support
import XCTest
@testable import GTN

final class RealCurveTests: XCTestCase {
    /// The real per-step curve trains exactly the baseline's learners on its batches: its last
    /// value is the baseline's row at that learning rate, and it has one value per step.
    func testRealCurveEndsAtTheBaselineRow() throws {
        let configuration = TrainingTests.tinyConfiguration()
        var rng = SeededGenerator(seed: 5)
        let teacher = Teacher(preset: configuration.preset, curriculum: .full, using: &rng)
        let evaluator = Evaluator(teacher: teacher, data: TrainingTests.syntheticData, configuration: configuration)
        let baseline = try evaluator.realBaseline(learners: 2, seed: 9, learningRates: [0.05, 0.5])
        let curve = try evaluator.realAccuracyCurve(learners: 2, seed: 9, learningRate: 0.5)
        XCTAssertEqual(curve.count, configuration.preset.steps)
        XCTAssertEqual(curve.last ?? -1, baseline.rows[1].mean, accuracy: 1e-12)
        XCTAssertNotEqual(curve.last ?? -1, baseline.rows[0].mean, "the learning rate must matter for this check to mean anything")
    }
}
