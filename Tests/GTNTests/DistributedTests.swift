import Foundation
import NeuralNet
import Support
import TensorEngine
import TestSupport
import XCTest
@testable import GTN

/// Training over several ranks, with ranks as threads (`LocalGroup`) standing in for MPI's.
final class DistributedTests: XCTestCase {
    func configuration(outer: Int, learners: Int) -> TrainingConfiguration {
        var c = TrainingTests.tinyConfiguration()
        c.outerIterations = outer
        c.learnersPerIteration = learners
        return c
    }

    func allTensors(_ state: TrainingState) -> [[Float]] {
        (state.teacher.parameters.tensors + state.adam.firstMoments + state.adam.secondMoments).map(\.scalars)
    }

    func testCollectivesSumInRankOrderAndBroadcastFromTheRoot() throws {
        let results = try LocalGroup.run(3) { world -> ([Float], [Double], [UInt8]) in
            var floats: [Float] = [1e8, Float(world.rank), 1]
            try world.allreduceSum(&floats)
            var doubles = [Double(world.rank)]
            try world.broadcast(&doubles, root: 2)
            var bytes: [UInt8] = world.rank == 1 ? [7, 8, 9] : []
            try world.broadcast(&bytes, root: 1)
            return (floats, doubles, bytes)
        }
        for (floats, doubles, bytes) in results {
            XCTAssertEqual(floats, [(Float(1e8) + 1e8) + 1e8, 3, 3])
            XCTAssertEqual(doubles, [2])
            XCTAssertEqual(bytes, [7, 8, 9])
        }
    }

    /// One learner on each of K ranks takes exactly the step one process takes with K learners.
    func testRanksWithOneLearnerEachEqualOneProcessWithAllOfThem() throws {
        for ranks in [2, 3] {
            let single = MetaTrainer(configuration: configuration(outer: 3, learners: ranks), data: TrainingTests.syntheticData)
            let expected = try (0..<2).map { _ in try single.step() }
            let states = try LocalGroup.run(ranks) { world -> (TrainingState, [IterationMetrics]) in
                let trainer = MetaTrainer(configuration: self.configuration(outer: 3, learners: ranks), data: TrainingTests.syntheticData)
                let metrics = try (0..<2).map { _ in try trainer.step(communicator: world) }
                return (trainer.state, metrics)
            }
            for (state, metrics) in states {
                XCTAssertEqual(allTensors(state), allTensors(single.state), "\(ranks) ranks")
                XCTAssertEqual(metrics.map(\.metaLoss), expected.map(\.metaLoss))
                XCTAssertEqual(metrics.map(\.gradientNorm), expected.map(\.gradientNorm))
            }
            XCTAssertEqual(states[0].1.map(\.learner), expected.map(\.learner))
            XCTAssertEqual(states[0].1.map(\.innerLossLast), expected.map(\.innerLossLast))
        }
    }

    /// A shared run: rank 0 starts it and writes; a resume on two ranks continues exactly; the
    /// evaluation split over ranks gives one process's numbers, on the split rank 0 was given.
    func testSharedRunWritesOnRankZeroAndResumesExactly() throws {
        let policy = TrainingRun.Policy(evaluateEvery: 2, evaluationLearners: 3, checkpointEvery: 1, evaluationSplit: .validation)
        let alone = try TrainingRun.start(in: try temporaryDirectory(), configuration: configuration(outer: 3, learners: 2),
                                          data: TrainingTests.syntheticData, policy: policy)
        try alone.run()
        let directory = try temporaryDirectory()
        func shared(outer: Int, resume: Bool) throws -> [TrainingState] {
            try LocalGroup.run(2) { world in
                let run = try TrainingRun.shared(by: world, directory: directory, open: {
                    resume ? try TrainingRun.resume(in: directory, data: TrainingTests.syntheticData, policy: policy, outerIterations: outer)
                        : try TrainingRun.start(in: directory, configuration: self.configuration(outer: outer, learners: 2),
                                                data: TrainingTests.syntheticData, policy: policy)
                }, data: { _ in TrainingTests.syntheticData })
                try run.run()
                return run.state
            }
        }
        // The cosine schedule's first step is the same for any length, so one iteration, then a
        // resume to three, trains what three in one go do.
        _ = try shared(outer: 1, resume: false)
        let states = try shared(outer: 3, resume: true)
        for state in states { XCTAssertEqual(allTensors(state), allTensors(alone.state)) }
        let (_, saved) = try Checkpoint.load(from: directory)
        XCTAssertEqual(allTensors(saved), allTensors(alone.state))
        func evaluations(_ url: URL) throws -> [[Double]] {
            try String(contentsOf: url, encoding: .utf8).split(separator: "\n").compactMap { line in
                let row = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                return row["type"] as? String == "evaluation" ? try XCTUnwrap(row["accuracies"] as? [Double]) : nil
            }
        }
        XCTAssertEqual(try evaluations(directory.appendingPathComponent(MetricsLog.fileName)).suffix(2), try evaluations(alone.metricsURL)[...])
        XCTAssertEqual(try evaluations(alone.metricsURL).count, 2)
    }
}
