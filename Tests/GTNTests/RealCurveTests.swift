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

    /// The steps curve trains the baseline's learners on its batches for longer: its first point
    /// is the baseline's best row, every point takes the best rate of the grid for its count, and
    /// the rates do differ somewhere, so the choice per count is tested.
    func testRealStepsCurveStartsAtTheBaselineAndTakesTheBestRatePerCount() throws {
        let configuration = TrainingTests.tinyConfiguration()
        let T = configuration.preset.steps
        var rng = SeededGenerator(seed: 5)
        let teacher = Teacher(preset: configuration.preset, curriculum: .full, using: &rng)
        let evaluator = Evaluator(teacher: teacher, data: TrainingTests.syntheticData, configuration: configuration)
        let rates = [0.01, 0.5]
        let baseline = try evaluator.realBaseline(learners: 2, seed: 9, learningRates: rates)
        let reports = Locked<[(done: Int, total: Int)]>([])
        let curve = try evaluator.realStepsCurve(learners: 2, seed: 9, maxSteps: 32, learningRates: rates) { done, total in
            reports.withLock { $0.append((done, total)) }
        }
        XCTAssertEqual(curve.baselines.map(\.steps), RealStepsCurve.checkpoints(from: T, through: 32))
        XCTAssertGreaterThan(curve.baselines.count, 4)
        XCTAssertEqual(reports.withLock { $0.map(\.done) }, [32, 64, 96, 128], "every 32 steps of each of the 4 runs, in order")
        XCTAssertTrue(reports.withLock { $0.allSatisfy { $0.total == 128 } })
        XCTAssertEqual(try XCTUnwrap(curve.baselines[0].best).mean, try XCTUnwrap(baseline.best).mean, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(curve.baselines[0].best).accuracies, try XCTUnwrap(baseline.best).accuracies)
        let table = try evaluator.realBaselines(learners: 2, seed: 9, learningRates: rates, momentum: 0.5,
                                                after: curve.baselines.map(\.steps))
        for (c, point) in curve.baselines.enumerated() {
            let means = table[c].rows.map { $0.accuracies.reduce(0, +) / 2 }
            let best = try XCTUnwrap(point.best)
            XCTAssertEqual(best.mean, means.max() ?? -1, accuracy: 1e-12, "after \(point.steps) steps")
            XCTAssertEqual(best.learningRate, rates[means.firstIndex(of: means.max() ?? -1) ?? -1])
        }
        XCTAssertNotEqual(table.map { $0.rows[0].accuracies.reduce(0, +) }, table.map { $0.rows[1].accuracies.reduce(0, +) },
                          "the learning rate must matter for this check to mean anything")
    }

    func testStepCountsAreAboutRootTwoApartAndEndAtTheLimit() {
        XCTAssertEqual(RealStepsCurve.checkpoints(from: 32, through: 512), [32, 48, 64, 96, 128, 192, 256, 384, 512])
        XCTAssertEqual(RealStepsCurve.checkpoints(from: 32, through: 100), [32, 48, 64, 96, 100])
        XCTAssertEqual(RealStepsCurve.checkpoints(from: 32, through: 32), [32])
        XCTAssertEqual(RealStepsCurve.checkpoints(from: 3, through: 13), [3, 6, 9, 12, 13])
    }

    func testStepsToReachIsTheFirstCountAtOrAboveTheTarget() {
        let curve = RealStepsCurve(baselines: [
            RealBaseline(steps: 32, rows: [.init(learningRate: 0.5, accuracies: [0.875, 0.9375]), .init(learningRate: 0.2, accuracies: [0.5, 0.5])]),
            RealBaseline(steps: 64, rows: [.init(learningRate: 0.5, accuracies: [0.9375, 0.9375])]),
            RealBaseline(steps: 96, rows: [.init(learningRate: 0.2, accuracies: [0.96875, 1])]),
        ])
        XCTAssertEqual(curve.steps(toReach: 0.90625), 32, "a mean equal to the target reaches it")
        XCTAssertEqual(curve.steps(toReach: 0.90626), 64)
        XCTAssertEqual(curve.steps(toReach: 0.984375), 96)
        XCTAssertNil(curve.steps(toReach: 0.985))
    }
}
