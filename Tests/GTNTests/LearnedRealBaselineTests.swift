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

    func testEvaluatesWithTheClipItWasLearnedUnder() throws {
        var configuration = TrainingTests.tinyConfiguration()
        configuration.preset.innerGradientClip = 1e-3  // tight enough to clip every step
        let data = TrainingTests.syntheticData
        let baseline = try LearnedRealBaseline.learn(configuration: configuration, data: data, outerIterations: 1)
        let evaluator = Evaluator(teacher: baseline.optimizer, data: data, configuration: configuration)
        let pair = evaluator.learners(1, seed: 5)[0]
        let rates = baseline.optimizer.innerLearningRates, momenta = baseline.optimizer.innerMomenta
        func trained(clip: Double?) throws -> [Tensor] {
            try evaluator.trainOnRealBatches(pair, index: 0, seed: 5, learningRate: { rates[$0] }, momentum: { momenta[$0] },
                                             gradientClip: clip).parameters.tensors
        }
        let evaluated = try XCTUnwrap(evaluator.learnersTrained(learnedBy: baseline, learners: 1, seed: 5).first).trained.parameters.tensors
        XCTAssertEqual(evaluated.map(\.scalars), try trained(clip: 1e-3).map(\.scalars))
        XCTAssertNotEqual(evaluated.map(\.scalars), try trained(clip: nil).map(\.scalars))
    }
}
