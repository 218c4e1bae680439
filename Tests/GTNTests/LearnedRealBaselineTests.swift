import Foundation
import Support
import TensorEngine
import XCTest
@testable import GTN

/// The real-data baseline with a meta-learned inner optimizer.
final class LearnedRealBaselineTests: XCTestCase {
    func testLearnsOnlyTheOptimizerAndEvaluatesTheSameLearners() throws {
        let configuration = TrainingTests.tinyConfiguration()
        let data = TrainingTests.syntheticData
        var rng = SeededGenerator(seed: 0x8EA1)
        let start = Teacher(preset: configuration.preset, curriculum: .none, using: &rng)
        let baseline = try LearnedRealBaseline.learn(configuration: configuration, data: data, outerIterations: 3)
        XCTAssertEqual(baseline.metaLosses.count, 3)
        XCTAssertTrue(baseline.metaLosses.allSatisfy(\.isFinite))
        XCTAssertNotEqual(baseline.optimizer.parameters[Teacher.logLRName].scalars, start.parameters[Teacher.logLRName].scalars,
                          "the learning rates get a meta-gradient")
        XCTAssertNotEqual(baseline.optimizer.parameters[Teacher.logMomentumName].scalars, start.parameters[Teacher.logMomentumName].scalars)
        for name in start.parameters.names where name.hasPrefix("gen.") {
            XCTAssertEqual(baseline.optimizer.parameters[name].scalars, start.parameters[name].scalars, "\(name) is never used")
        }
        let evaluator = Evaluator(teacher: start, data: data, configuration: configuration)
        let accuracies = try evaluator.realAccuracy(learnedBy: baseline, learners: 2)
        XCTAssertEqual(accuracies.count, 2)
        XCTAssertTrue(accuracies.allSatisfy { (0...1).contains($0) })
        XCTAssertEqual(try evaluator.realAccuracy(learnedBy: baseline, learners: 2), accuracies, "deterministic")
    }
}
