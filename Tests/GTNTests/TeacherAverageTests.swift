import Foundation
import NeuralNet
import Support
import TensorEngine
import TestSupport
import XCTest
@testable import GTN

/// Snapshots of a run and the mean of their teachers.
final class TeacherAverageTests: XCTestCase {
    func teacher(seed: UInt64, preset: Preset = TrainingTests.tinyConfiguration().preset) -> Teacher {
        var rng = SeededGenerator(seed: seed)
        return Teacher(preset: preset, curriculum: .full, using: &rng)
    }

    func testTheMeanIsElementwiseOverEveryLearnedTensor() throws {
        let teachers = [1, 2, 3].map { teacher(seed: $0) }
        let mean = try TeacherAverage.mean(teachers)
        XCTAssertEqual(mean.parameters.names, teachers[0].parameters.names)
        for (index, name) in mean.parameters.names.enumerated() {
            let values = teachers.map { $0.parameters[name].doubles }
            let expected = values[0].indices.map { j in values.map { $0[j] }.reduce(0, +) / 3 }
            XCTAssertEqual(mean.parameters.tensors[index].shape, teachers[0].parameters[name].shape)
            XCTAssertEqual(mean.parameters.tensors[index].dtype, .float32)
            for (x, y) in zip(mean.parameters.tensors[index].doubles, expected) { XCTAssertEqual(x, y, accuracy: 1e-6 * max(1, abs(y)), name) }
        }
        // The curriculum of different seeds differs, so the mean is not any one of them.
        XCTAssertNotEqual(mean.parameters[Teacher.curriculumName].doubles, teachers[0].parameters[Teacher.curriculumName].doubles)
    }

    func testTeachersOfAnotherConfigurationAreRefused() {
        var other = TrainingTests.tinyConfiguration().preset
        other.steps += 1
        XCTAssertThrowsError(try TeacherAverage.mean([teacher(seed: 1), teacher(seed: 2, preset: other)])) { error in
            XCTAssertTrue("\(error)".contains("teacher 2"), "\(error)")
        }
        XCTAssertThrowsError(try TeacherAverage.mean([]))
    }

    /// A run keeps snapshots at the policy's cadence; averaging them writes a checkpoint whose
    /// teacher is their mean and whose other state is the latest one's, and never overwrites one.
    func testSnapshotsOfARunAverageIntoANewCheckpoint() throws {
        let directory = try temporaryDirectory()
        let policy = TrainingRun.Policy(evaluateEvery: 0, evaluationLearners: 1, checkpointEvery: 3, snapshotEvery: 2)
        var configuration = TrainingTests.tinyConfiguration()
        configuration.outerIterations = 5
        let run = try TrainingRun.start(in: directory, configuration: configuration, data: TrainingTests.syntheticData, policy: policy)
        var snapshots: [Int] = []
        try run.run { event in
            if case .snapshotWritten(let iteration, let url) = event {
                snapshots.append(iteration)
                XCTAssertEqual(url, run.snapshotDirectory(iteration: iteration))
                // The snapshot is the checkpoint just saved, byte for byte.
                XCTAssertEqual(try? Data(contentsOf: Checkpoint.url(in: url)), try? Data(contentsOf: Checkpoint.url(in: directory)))
                let configurationFile = Checkpoint.configurationFileName
                XCTAssertEqual(try? Data(contentsOf: url.appendingPathComponent(configurationFile)),
                               try? Data(contentsOf: directory.appendingPathComponent(configurationFile)))
            }
        }
        XCTAssertEqual(snapshots, [2, 4])
        let sources = [2, 4].map { run.snapshotDirectory(iteration: $0) }
        XCTAssertEqual(sources.map(\.lastPathComponent), ["iteration-000002", "iteration-000004"])
        let states = try sources.map { try Checkpoint.load(from: $0).state }
        XCTAssertEqual(states.map(\.iteration), [2, 4])

        let destination = try temporaryDirectory().appendingPathComponent("average")
        let averaged = try TeacherAverage.write(averaging: sources, to: destination)
        XCTAssertEqual(averaged.map(\.iteration), [2, 4])
        let (saved, state) = try Checkpoint.load(from: destination)
        XCTAssertEqual(saved, configuration)
        XCTAssertEqual(state.iteration, 4)
        XCTAssertEqual(state.adam.step, states[1].adam.step)
        let expected = try TeacherAverage.mean(states.map(\.teacher))
        for (x, y) in zip(state.teacher.parameters.tensors, expected.parameters.tensors) { XCTAssertEqual(x.scalars, y.scalars) }
        for (x, y) in zip(state.adam.firstMoments, states[1].adam.firstMoments) { XCTAssertEqual(x.scalars, y.scalars) }

        let before = try Data(contentsOf: Checkpoint.url(in: destination))
        XCTAssertThrowsError(try TeacherAverage.write(averaging: sources, to: destination)) { error in
            XCTAssertTrue("\(error)".contains("already holds a checkpoint"), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: Checkpoint.url(in: destination)), before)
    }
}
