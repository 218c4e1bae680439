import Foundation
import XCTest
@testable import GTN

/// The run loop as a library: its cadences, events, stop conditions and resume.
final class TrainingRunTests: XCTestCase {
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gtn-run-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

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
            case .evaluationProgress: break
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
        let first = try TrainingRun.start(in: directory, configuration: configuration(outer: 4), data: data, policy: Self.policy)
        var stops: [TrainingRun.StopReason] = []
        try first.run { event in
            if case .iterationFinished(let m) = event, m.iteration == 1 { first.requestStop() }
            if case .stopped(let reason, _) = event { stops.append(reason) }
        }
        XCTAssertEqual(stops, [.requested])
        XCTAssertEqual(try Checkpoint.load(from: directory).state.iteration, 1)

        let second = try TrainingRun.resume(in: directory, data: data, policy: Self.policy)
        XCTAssertEqual(second.startIteration, 1)
        try second.run()
        XCTAssertEqual(try Data(contentsOf: second.checkpointURL), try Data(contentsOf: whole.checkpointURL))
        let strip: ([[String: Any]]) -> [String] = { rows in
            rows.map { row in
                row.filter { !["seconds", "elapsed_seconds", "peak_memory_bytes"].contains($0.key) }
                    .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            }
        }
        // The interrupted run evaluated its stopping point (iteration 1) as well; otherwise the logs agree.
        let resumedRows = try metricsRows(second).filter { !($0["type"] as? String == "evaluation" && $0["iteration"] as? Int == 1) }
        XCTAssertEqual(strip(resumedRows), strip(try metricsRows(whole)))
    }

    func testTimeLimitStopsAfterTheFirstIterationWithACheckpointAndAnEvaluation() throws {
        var policy = Self.policy
        policy.timeLimit = 1e-9
        let run = try TrainingRun.start(in: try temporaryDirectory(), configuration: configuration(outer: 4),
                                        data: TrainingTests.syntheticData, policy: policy)
        var stops: [TrainingRun.StopReason] = [], finals: [Int] = []
        try run.run { event in
            if case .stopped(let reason, _) = event { stops.append(reason) }
            if case .evaluationFinished(let record, _, true) = event { finals.append(record.iteration) }
        }
        XCTAssertEqual(stops, [.timeLimit])
        XCTAssertEqual(finals, [1])
        XCTAssertEqual(try Checkpoint.load(from: run.directory).state.iteration, 1)
    }

    func testStartRefusesADirectoryWithACheckpoint() throws {
        let directory = try temporaryDirectory()
        var policy = Self.policy
        policy.evaluateEvery = 0
        let run = try TrainingRun.start(in: directory, configuration: configuration(outer: 1), data: TrainingTests.syntheticData,
                                        policy: policy)
        try run.run()
        XCTAssertThrowsError(try TrainingRun.start(in: directory, configuration: configuration(outer: 1),
                                                   data: TrainingTests.syntheticData)) { error in
            XCTAssertTrue("\(error)".contains("already holds a checkpoint"), "\(error)")
        }
    }
}
