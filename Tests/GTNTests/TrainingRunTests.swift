import Foundation
import NeuralNet
import Support
import TensorEngine
import TestSupport
import XCTest
@testable import GTN

/// The run loop as a library: its cadences, events, stop conditions and resume.
final class TrainingRunTests: XCTestCase {
    func configuration(outer: Int) -> TrainingConfiguration {
        var c = TrainingTests.tinyConfiguration()
        c.outerIterations = outer
        return c
    }

    static let policy = TrainingRun.Policy(evaluateEvery: 2, evaluationLearners: 1, checkpointEvery: 3)

    func metricsRows(_ run: TrainingRun) throws -> [[String: Any]] {
        try String(contentsOf: run.metricsURL, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    func testEventsFollowThePolicyAndMatchTheMetricsLog() throws {
        let run = try TrainingRun.start(in: try temporaryDirectory(), configuration: configuration(outer: 4),
                                        data: TrainingTests.syntheticData, policy: Self.policy)
        var iterations: [Int] = [], evaluations: [(Int, Bool)] = [], checkpoints: [Int] = []
        try run.run { event in
            switch event {
            case .iterationFinished(let m): iterations.append(m.iteration)
            case .evaluationFinished(let record, _, let final): evaluations.append((record.iteration, final))
            case .checkpointWritten(let iteration, _): checkpoints.append(iteration)
            case .evaluationProgress, .snapshotWritten: break
            case .stopped: XCTFail("the run should not stop early")
            }
        }
        XCTAssertEqual(iterations, [1, 2, 3, 4])
        XCTAssertEqual(evaluations.map(\.0), [2, 4])
        XCTAssertEqual(evaluations.map(\.1), [false, true])
        XCTAssertEqual(checkpoints, [3, 4])
        XCTAssertEqual(try Checkpoint.load(from: run.directory).state.iteration, 4)
        let rows = try metricsRows(run)
        XCTAssertEqual(rows.compactMap { $0["type"] as? String }, ["evaluation", "evaluation"])
        XCTAssertEqual(rows.compactMap { $0["iteration"] as? Int }, [1, 2, 2, 3, 4, 4])
    }

    /// A run stopped on request and resumed ends with the same checkpoint and metrics as one that
    /// was never interrupted.
    func testStopRequestThenResumeEqualsAnUninterruptedRun() throws {
        let data = TrainingTests.syntheticData
        let whole = try TrainingRun.start(in: try temporaryDirectory(), configuration: configuration(outer: 4), data: data,
                                          policy: Self.policy)
        try whole.run()

        let directory = try temporaryDirectory()
        var stops: [TrainingRun.StopReason] = []
        do {
            // The run holds its directory's lock while it exists; the resume below needs it.
            let first = try TrainingRun.start(in: directory, configuration: configuration(outer: 4), data: data, policy: Self.policy)
            try first.run { event in
                if case .iterationFinished(let m) = event, m.iteration == 1 { first.requestStop() }
                if case .stopped(let reason, _) = event { stops.append(reason) }
            }
        }
        XCTAssertEqual(stops, [.requested])
        let stopped = try Checkpoint.load(from: directory).state
        XCTAssertEqual(stopped.iteration, 1)

        let second = try TrainingRun.resume(in: directory, data: data, policy: Self.policy)
        XCTAssertEqual(second.startIteration, 1)
        try second.run()
        // Everything but the wall-clock time: the teacher, Adam's moments and the counters.
        let resumed: TrainingState = try Checkpoint.load(from: directory).state
        let uninterrupted: TrainingState = try Checkpoint.load(from: whole.directory).state
        XCTAssertEqual(resumed.iteration, uninterrupted.iteration)
        XCTAssertEqual(resumed.adam.step, uninterrupted.adam.step)
        XCTAssertEqual(resumed.clippedCount, uninterrupted.clippedCount)
        let tensors: (TrainingState) -> [Tensor] = { $0.teacher.parameters.tensors + $0.adam.firstMoments + $0.adam.secondMoments }
        for (x, y) in zip(tensors(resumed), tensors(uninterrupted)) { XCTAssertEqual(x.scalars, y.scalars) }
        // Evaluations carry the run's clock, which the resume continued from the checkpoint's.
        let clock = try metricsRows(second).compactMap { $0["run_elapsed_seconds"] as? Double }
        XCTAssertEqual(clock.count, 2)
        XCTAssertGreaterThan(clock[0], stopped.elapsedSeconds)
        XCTAssertGreaterThan(clock[1], clock[0])
        let strip: ([[String: Any]]) -> [String] = { rows in
            rows.map { row in
                row.filter { !["seconds", "elapsed_seconds", "run_elapsed_seconds", "peak_memory_bytes"].contains($0.key) }
                    .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            }
        }
        // A requested stop skips the final evaluation, so the logs agree row for row.
        XCTAssertEqual(strip(try metricsRows(second)), strip(try metricsRows(whole)))
    }

    /// K may change on resume: from the next iteration on, each meta-gradient is the mean over
    /// the new K learners, and the checkpoint records the new K.
    func testResumeMayChangeTheLearnersPerIteration() throws {
        let directory = try temporaryDirectory(), data = TrainingTests.syntheticData
        var policy = Self.policy
        policy.evaluateEvery = 0
        do {
            let first = try TrainingRun.start(in: directory, configuration: configuration(outer: 1), data: data, policy: policy)
            try first.run()
        }
        let second = try TrainingRun.resume(in: directory, data: data, policy: policy, outerIterations: 3, learnersPerIteration: 2)
        try second.run()
        XCTAssertEqual(try Checkpoint.load(from: directory).configuration.learnersPerIteration, 2)
        let learners = try metricsRows(second).compactMap { $0["learner"] as? String }
        XCTAssertEqual(learners.map { $0.split(separator: " ").count }, [1, 2, 2])
    }

    /// In-run evaluations score on the policy's split, which may change on resume, and each row
    /// says which it scored on.
    func testEvaluationsScoreOnThePolicysSplitAndMayChangeOnResume() throws {
        let directory = try temporaryDirectory(), data = TrainingTests.syntheticData
        var policy = Self.policy
        policy.evaluationSplit = .validation
        // Hard labels: with the tiny teacher's soft labels its one learner scores 0.1 on both
        // balanced splits (as a learner predicting a single class does), so they could not be told apart.
        var tiny = configuration(outer: 2)
        tiny.preset.learnedSoftLabels = false
        do {
            let first = try TrainingRun.start(in: directory, configuration: tiny, data: data, policy: policy)
            try first.run()
        }
        let (saved, state) = try Checkpoint.load(from: directory)
        func accuracies(on split: EvaluationSplit) throws -> [Double] {
            var evaluator = Evaluator(teacher: state.teacher, data: data, configuration: saved)
            evaluator.score(on: split)
            return try evaluator.gtnAccuracy(learners: policy.evaluationLearners).accuracies
        }
        let onValidation = try accuracies(on: .validation), onTest = try accuracies(on: .test)
        XCTAssertNotEqual(onValidation, onTest, "the two splits must tell apart for this test to mean anything")

        policy.evaluationSplit = .test
        let second = try TrainingRun.resume(in: directory, data: data, policy: policy, outerIterations: 4)
        try second.run()
        let rows = try metricsRows(second).filter { $0["type"] as? String == "evaluation" }
        XCTAssertEqual(rows.compactMap { $0["iteration"] as? Int }, [2, 4])
        XCTAssertEqual(rows.compactMap { $0["split"] as? String }, ["validation", "test"])
        XCTAssertEqual(rows.first?["accuracies"] as? [Double], onValidation)
    }

    /// A resume without a policy goes on with the run's own (`policy.json`): its snapshots and
    /// evaluations continue as before; a policy given replaces it, for later resumes too.
    func testResumeKeepsTheRunsPolicyUnlessGivenAnother() throws {
        let directory = try temporaryDirectory(), data = TrainingTests.syntheticData
        let policy = TrainingRun.Policy(evaluateEvery: 3, evaluationLearners: 1, checkpointEvery: 1, snapshotEvery: 2,
                                        evaluationSplit: .validation)
        do {
            let first = try TrainingRun.start(in: directory, configuration: configuration(outer: 2), data: data, policy: policy)
            try first.run()
        }
        XCTAssertEqual(try TrainingRun.Policy.saved(in: directory), policy)
        do {
            let second = try TrainingRun.resume(in: directory, data: data, outerIterations: 4)
            XCTAssertEqual(second.policy, policy)
            var snapshots: [Int] = []
            try second.run { event in
                if case .snapshotWritten(let iteration, _) = event { snapshots.append(iteration) }
            }
            XCTAssertEqual(snapshots, [4])
            let rows = try metricsRows(second).filter { $0["type"] as? String == "evaluation" }
            XCTAssertEqual(rows.compactMap { $0["iteration"] as? Int }, [2, 3, 4])
            XCTAssertEqual(rows.compactMap { $0["split"] as? String }, ["validation", "validation", "validation"])
        }
        var changed = policy
        changed.snapshotEvery = 0
        changed.evaluateEvery = 0
        do {
            let third = try TrainingRun.resume(in: directory, data: data, policy: changed, outerIterations: 5)
            try third.run()
        }
        XCTAssertEqual(try TrainingRun.Policy.saved(in: directory), changed)
        XCTAssertEqual(try TrainingRun.resume(in: directory, data: data, outerIterations: 6).policy, changed)
    }

    /// A run written before runs kept their policy resumes with the defaults; a policy file that
    /// cannot be read, or a policy that cannot drive a run, is refused by name.
    func testPolicyFilesAndInvalidPoliciesAreCheckedWhereTheyComeIn() throws {
        let directory = try temporaryDirectory(), data = TrainingTests.syntheticData
        do {
            let first = try TrainingRun.start(in: directory, configuration: configuration(outer: 1), data: data,
                                              policy: TrainingRun.Policy(evaluateEvery: 0, evaluationLearners: 1, snapshotEvery: 5))
            try first.run()
        }
        let file = directory.appendingPathComponent(TrainingRun.Policy.fileName)
        try FileManager.default.removeItem(at: file)
        XCTAssertEqual(try TrainingRun.Policy.saved(in: directory), TrainingRun.Policy())
        // Fields a file does not name keep their defaults.
        try Data(#"{"snapshotEvery": 4}"#.utf8).write(to: file)
        XCTAssertEqual(try TrainingRun.Policy.saved(in: directory), TrainingRun.Policy(snapshotEvery: 4))
        for (contents, reason) in [("{", "not a readable run policy"), (#"{"checkpointEvery": 0}"#, "checkpointEvery must be ≥ 1")] {
            try Data(contents.utf8).write(to: file)
            XCTAssertThrowsError(try TrainingRun.resume(in: directory, data: data, outerIterations: 2)) { error in
                XCTAssertTrue("\(error)".contains(file.path) && "\(error)".contains(reason), "\(error)")
            }
        }
        XCTAssertThrowsError(try TrainingRun.start(in: try temporaryDirectory(), configuration: configuration(outer: 1), data: data,
                                                   policy: TrainingRun.Policy(evaluationLearners: 0))) { error in
            XCTAssertTrue("\(error)".contains("evaluationLearners must be ≥ 1, got 0"), "\(error)")
        }
    }

    func testTimeBudgetStopsAfterTheFirstIterationWithACheckpointAndAnEvaluation() throws {
        var configuration = configuration(outer: 4)
        configuration.timeBudget = 1e-9
        let run = try TrainingRun.start(in: try temporaryDirectory(), configuration: configuration,
                                        data: TrainingTests.syntheticData, policy: Self.policy)
        var stops: [TrainingRun.StopReason] = [], finals: [Int] = []
        try run.run { event in
            if case .stopped(let reason, _) = event { stops.append(reason) }
            if case .evaluationFinished(let record, _, true) = event { finals.append(record.iteration) }
        }
        XCTAssertEqual(stops, [.timeLimit])
        XCTAssertEqual(finals, [1])
        XCTAssertEqual(try Checkpoint.load(from: run.directory).state.iteration, 1)
    }

    func testStartRefusesADirectoryWithACheckpointAndALiveRunHoldsItsLock() throws {
        let directory = try temporaryDirectory()
        var policy = Self.policy
        policy.evaluateEvery = 0
        do {
            let run = try TrainingRun.start(in: directory, configuration: configuration(outer: 1), data: TrainingTests.syntheticData,
                                            policy: policy)
            try run.run()
            XCTAssertThrowsError(try TrainingRun.resume(in: directory, data: TrainingTests.syntheticData)) { error in
                XCTAssertTrue("\(error)".contains("in use by another process"), "\(error)")
            }
        }
        XCTAssertThrowsError(try TrainingRun.start(in: directory, configuration: configuration(outer: 1),
                                                   data: TrainingTests.syntheticData)) { error in
            XCTAssertTrue("\(error)".contains("already holds a checkpoint"), "\(error)")
        }
    }

    /// With a time budget the outer learning rate's cosine follows the elapsed fraction of it,
    /// and the elapsed time survives a checkpoint, so a resumed run continues the same schedule.
    func testTimeBudgetDrivesTheScheduleAndSurvivesACheckpoint() throws {
        var configuration = configuration(outer: 1000)
        configuration.timeBudget = 100
        let trainer = MetaTrainer(configuration: configuration, data: TrainingTests.syntheticData)
        trainer.addElapsedTime(50)
        XCTAssertEqual(trainer.scheduleProgress, 0.5)
        let metrics = try trainer.step()
        XCTAssertEqual(metrics.outerLearningRate, cosineDecay(from: 0.02, progress: 0.5, finalFraction: 0.1))
        XCTAssertGreaterThan(trainer.state.elapsedSeconds, 50)
        XCTAssertFalse(trainer.isFinished)
        let directory = try temporaryDirectory()
        try Checkpoint.save(trainer.state, configuration: configuration, to: directory)
        let (saved, state) = try Checkpoint.load(from: directory)
        XCTAssertEqual(saved.timeBudget, 100)
        XCTAssertEqual(state.elapsedSeconds, trainer.state.elapsedSeconds)
        trainer.addElapsedTime(50)
        XCTAssertTrue(trainer.isOutOfTime)
        XCTAssertTrue(trainer.isFinished)
        XCTAssertEqual(trainer.scheduleProgress, 1, accuracy: 0.1)
    }

    /// A resume that lengthens a run with `.holdFinalRate` keeps the cosine's end: the added
    /// iterations train at the final rate, where a warm restart raises the rate again. The end is
    /// saved with the checkpoint, outlives a resume that only changes K, and a warm restart that
    /// lengthens the run again clears it.
    func testHoldingTheFinalRateLengthensARunWithoutAWarmRestart() throws {
        let data = TrainingTests.syntheticData
        var policy = Self.policy
        policy.evaluateEvery = 0
        let peak = configuration(outer: 3).preset.outerLearningRate
        let held = try temporaryDirectory(), restarted = try temporaryDirectory()
        for directory in [held, restarted] {
            let run = try TrainingRun.start(in: directory, configuration: configuration(outer: 3), data: data, policy: policy)
            try run.run()
        }
        // The log's rates, read back through JSONSerialization, which may round the last digit.
        func assertRates(_ run: TrainingRun, _ expected: [Double], line: UInt = #line) throws {
            let logged = try metricsRows(run).filter { $0["type"] == nil }.compactMap { $0["outer_learning_rate"] as? Double }
            XCTAssertEqual(logged.count, expected.count, line: line)
            for (x, y) in zip(logged, expected) { XCTAssertEqual(x, y, accuracy: 1e-15, line: line) }
        }
        let first = (0..<3).map { cosineDecay(from: peak, progress: Double($0) / 2, finalFraction: 0.1) }
        do {
            let run = try TrainingRun.resume(in: held, data: data, policy: policy, outerIterations: 5, schedule: .holdFinalRate)
            XCTAssertEqual(run.configuration.annealingEnd, .outerIterations(3))
            try run.run()
            try assertRates(run, first + [peak * 0.1, peak * 0.1])
        }
        do {
            let run = try TrainingRun.resume(in: restarted, data: data, policy: policy, outerIterations: 5)
            XCTAssertNil(run.configuration.annealingEnd)
            try run.run()
            try assertRates(run, first + [3, 4].map { cosineDecay(from: peak, progress: Double($0) / 4, finalFraction: 0.1) })
        }
        XCTAssertEqual(try Checkpoint.load(from: held).configuration.annealingEnd, .outerIterations(3))
        do {
            let run = try TrainingRun.resume(in: held, data: data, policy: policy, outerIterations: 6, learnersPerIteration: 2)
            XCTAssertNil(run.configuration.annealingEnd, "lengthening with a warm restart spans the cosine over the whole run again")
        }
        do {
            let run = try TrainingRun.resume(in: held, data: data, policy: policy, learnersPerIteration: 2)
            XCTAssertEqual(run.configuration.annealingEnd, .outerIterations(3), "a resume that keeps the length keeps the end")
            XCTAssertEqual(run.trainer.scheduleProgress, 1)
        }
    }

    /// A time-limited run's held end is in seconds: the schedule reaches it and stays there.
    func testAnAnnealingEndInSecondsHoldsTheFinalRateAndIsSavedAsJSON() throws {
        var configuration = configuration(outer: 1000)
        configuration.timeBudget = 300
        configuration.annealingEnd = .seconds(100)
        let trainer = MetaTrainer(configuration: configuration, data: TrainingTests.syntheticData)
        trainer.addElapsedTime(50)
        XCTAssertEqual(trainer.scheduleProgress, 0.5)
        trainer.addElapsedTime(150)
        XCTAssertEqual(trainer.scheduleProgress, 1)
        XCTAssertEqual(try trainer.step().outerLearningRate, configuration.preset.outerLearningRate * 0.1, accuracy: 1e-15)
        XCTAssertEqual(AnnealingEnd(of: configuration), .seconds(100))
        configuration.annealingEnd = nil
        XCTAssertEqual(AnnealingEnd(of: configuration), .seconds(300))
        configuration.timeBudget = nil
        XCTAssertEqual(AnnealingEnd(of: configuration), .outerIterations(1000))

        let json = try JSONEncoder().encode([AnnealingEnd.seconds(7200), .outerIterations(200)])
        XCTAssertEqual(String(decoding: json, as: UTF8.self), #"[{"seconds":7200},{"outerIterations":200}]"#)
        XCTAssertEqual(try JSONDecoder().decode([AnnealingEnd].self, from: json), [.seconds(7200), .outerIterations(200)])
        XCTAssertThrowsError(try JSONDecoder().decode(AnnealingEnd.self, from: Data(#"{"seconds":1,"outerIterations":2}"#.utf8))) {
            XCTAssertTrue("\($0)".contains("exactly one of outerIterations or seconds"), "\($0)")
        }
        configuration.annealingEnd = .outerIterations(0)
        XCTAssertThrowsError(try configuration.validate()) {
            XCTAssertTrue("\($0)".contains("the annealing end must be a positive number of outer iterations, got 0"), "\($0)")
        }
    }

    /// K learners per iteration: the update uses the mean of the K learners' meta-gradients,
    /// each computable on its own from (seed, iteration, learner index).
    func testSeveralLearnersPerIterationAverageTheirMetaGradients() throws {
        var configuration = configuration(outer: 3)
        configuration.learnersPerIteration = 3
        configuration.fixedWidths = nil
        let data = TrainingTests.syntheticData
        let trainer = MetaTrainer(configuration: configuration, data: data)
        let reference = MetaTrainer(configuration: configuration, data: data)
        let parts = try (0..<3).map {
            try MetaTrainer.learnerMetaGradient(teacher: reference.state.teacher, configuration: configuration, data: data,
                                                iteration: 0, learner: $0)
        }
        XCTAssertEqual(Set(parts.map(\.learner.description)).count, 3, "each learner draws its own widths")
        let metrics = try trainer.step()
        let expected = try reference.apply(MetaGradient.mean(parts.map(\.metaGradient)), learners: parts.map(\.learner))
        XCTAssertEqual(metrics.metaLoss, expected.metaLoss)
        XCTAssertEqual(metrics.metaLoss, parts.map(\.metaGradient.metaLoss).reduce(0, +) / 3, accuracy: 1e-12)
        XCTAssertEqual(metrics.finalLoss ?? .nan, parts.map(\.metaGradient.finalLoss).reduce(0, +) / 3, accuracy: 1e-12)
        XCTAssertEqual(metrics.learner, parts.map(\.learner.description).joined(separator: " "))
        for (x, y) in zip(trainer.state.teacher.parameters.tensors, reference.state.teacher.parameters.tensors) {
            XCTAssertEqual(x.scalars, y.scalars)
        }
        // The same learner index at the same iteration gives the same draws in any process.
        let again = try MetaTrainer.learnerMetaGradient(teacher: reference.state.teacher, configuration: configuration, data: data,
                                                        iteration: 1, learner: 2)
        let twice = try MetaTrainer.learnerMetaGradient(teacher: reference.state.teacher, configuration: configuration, data: data,
                                                        iteration: 1, learner: 2)
        XCTAssertEqual(again.metaGradient.metaLoss, twice.metaGradient.metaLoss)
        XCTAssertNotEqual(again.learner.description + "\(again.metaGradient.metaLoss)",
                          parts[2].learner.description + "\(parts[2].metaGradient.metaLoss)")
    }

    /// Rotating labels give slot i of step t the class (t·B + i) mod 10.
    func testRotatingLabelsRotateTheClassesAcrossSteps() {
        var preset = configuration(outer: 1).preset
        preset.rotatingLabels = true
        var rng = SeededGenerator(seed: 1)
        let teacher = Teacher(preset: preset, curriculum: .full, using: &rng)
        let plan = teacher.plan(using: &rng)
        let B = preset.batchSize
        for (t, step) in plan.steps.enumerated() {
            XCTAssertEqual(step.labels, (0..<B).map { (t * B + $0) % 10 })
        }
        preset.rotatingLabels = false
        let fixed = Teacher(preset: preset, curriculum: .full, using: &rng).plan(using: &rng)
        XCTAssertTrue(fixed.steps.allSatisfy { $0.labels == (0..<B).map { $0 % 10 } })
    }
}
