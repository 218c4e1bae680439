import Datasets
import FileFormats
import Foundation
import NeuralNet
import Support
import GTNTestSupport
import TensorEngine
import TestSupport
import XCTest
@testable import GTN

/// Checkpoints, resume and a short real training run.
final class TrainingTests: XCTestCase {
    static func tinyConfiguration(curriculum: CurriculumKind = .full) -> TrainingConfiguration {
        TinyRun.configuration(outerIterations: 6, curriculum: curriculum)
    }

    static let syntheticData = TinyRun.data

    func testPresetSettingsReachTheConfigurationAndOldPresetsKeepTheirs() throws {
        XCTAssertTrue(TrainingConfiguration(preset: .named(.cpu)).intermediateLosses)
        XCTAssertFalse(TrainingConfiguration(preset: .named(.paper)).intermediateLosses)
        XCTAssertTrue(Preset.named(.cpu).learnedSoftLabels)
        XCTAssertFalse(Preset.named(.paper).learnedSoftLabels || Preset.named(.seed).learnedSoftLabels)
        // A preset stored before a field existed decodes to the behaviour its run had.
        let stored = try JSONEncoder().encode(Preset.named(.cpu))
        var fields = try XCTUnwrap(JSONSerialization.jsonObject(with: stored) as? [String: Any])
        XCTAssertEqual(fields.removeValue(forKey: "intermediateLosses") as? Bool, true)
        XCTAssertEqual(fields.removeValue(forKey: "learnedSoftLabels") as? Bool, true)
        let old = try JSONDecoder().decode(Preset.self, from: JSONSerialization.data(withJSONObject: fields))
        XCTAssertFalse(old.intermediateLosses)
        XCTAssertFalse(old.learnedSoftLabels)
        XCTAssertEqual(try JSONDecoder().decode(Preset.self, from: stored), .named(.cpu))
    }

    func testCheckpointRoundTrip() throws {
        let trainer = MetaTrainer(configuration: Self.tinyConfiguration(), data: Self.syntheticData)
        _ = try trainer.step()
        let dir = try temporaryDirectory()
        try Checkpoint.save(trainer.state, configuration: trainer.configuration, to: dir)
        let (configuration, state) = try Checkpoint.load(from: dir)
        XCTAssertEqual(configuration, trainer.configuration)
        XCTAssertEqual(state.iteration, 1)
        XCTAssertEqual(state.elapsedSeconds, trainer.state.elapsedSeconds)
        XCTAssertEqual(state.adam.step, trainer.state.adam.step)
        XCTAssertEqual(state.teacher.parameters.names, trainer.state.teacher.parameters.names)
        for (a, b) in zip(state.teacher.parameters.tensors + state.adam.firstMoments + state.adam.secondMoments,
                          trainer.state.teacher.parameters.tensors + trainer.state.adam.firstMoments + trainer.state.adam.secondMoments) {
            XCTAssertEqual(a.scalars, b.scalars)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(Checkpoint.configurationFileName).path))

        // A copy holds the same bytes; copying from a directory without a checkpoint names it.
        let copy = try temporaryDirectory().appendingPathComponent("copy")
        try Checkpoint.copy(from: dir, to: copy)
        XCTAssertEqual(try Data(contentsOf: Checkpoint.url(in: copy)), try Data(contentsOf: Checkpoint.url(in: dir)))
        let empty = try temporaryDirectory()
        XCTAssertThrowsError(try Checkpoint.copy(from: empty, to: copy)) { error in
            XCTAssertTrue("\(error)".contains(Checkpoint.url(in: empty).path), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: Checkpoint.url(in: copy)), try Data(contentsOf: Checkpoint.url(in: dir)))
    }

    func testResumeGivesTheSameResultAsAnUninterruptedRun() throws {
        for curriculum in [CurriculumKind.full, .none] {
            let configuration = Self.tinyConfiguration(curriculum: curriculum)
            let uninterrupted = MetaTrainer(configuration: configuration, data: Self.syntheticData)
            var losses: [Double] = []
            for _ in 0..<4 { losses.append(try uninterrupted.step().metaLoss) }

            let first = MetaTrainer(configuration: configuration, data: Self.syntheticData)
            var resumedLosses = [try first.step().metaLoss, try first.step().metaLoss]
            let dir = try temporaryDirectory()
            try Checkpoint.save(first.state, configuration: configuration, to: dir)
            let (saved, state) = try Checkpoint.load(from: dir)
            let second = MetaTrainer(configuration: saved, data: Self.syntheticData, state: state)
            resumedLosses += [try second.step().metaLoss, try second.step().metaLoss]

            XCTAssertEqual(resumedLosses, losses, "\(curriculum)")
            for (a, b) in zip(second.state.teacher.parameters.tensors, uninterrupted.state.teacher.parameters.tensors) {
                XCTAssertEqual(a.scalars, b.scalars, "\(curriculum)")
            }
        }
    }

    func testSameSeedSameRun() throws {
        let a = MetaTrainer(configuration: Self.tinyConfiguration(curriculum: .allShuffled), data: Self.syntheticData)
        let b = MetaTrainer(configuration: Self.tinyConfiguration(curriculum: .allShuffled), data: Self.syntheticData)
        XCTAssertEqual(try a.step().metaLoss, try b.step().metaLoss)
        XCTAssertEqual(a.state.teacher.parameters.tensors.last?.scalars, b.state.teacher.parameters.tensors.last?.scalars)
    }

    func testCorruptedOrForeignCheckpointsAreClearErrors() throws {
        let dir = try temporaryDirectory()
        XCTAssertThrowsError(try Checkpoint.load(from: dir)) { error in
            XCTAssertTrue("\(error)".contains("no checkpoint here"), "\(error)")
        }
        let file = Checkpoint.url(in: dir)
        try Data("not a safetensors file".utf8).write(to: file)
        XCTAssertThrowsError(try Checkpoint.load(from: dir)) { error in
            XCTAssertTrue("\(error)".contains(file.path), "\(error)")
        }
        try SafeTensors.write([("x", Tensor.zeros([2]))], metadata: [:], to: file)
        XCTAssertThrowsError(try Checkpoint.load(from: dir)) { error in
            XCTAssertTrue("\(error)".contains("not a GTN checkpoint"), "\(error)")
        }
        // A checkpoint whose tensors do not fit its configuration.
        let trainer = MetaTrainer(configuration: Self.tinyConfiguration(), data: Self.syntheticData)
        try Checkpoint.save(trainer.state, configuration: trainer.configuration, to: dir)
        let contents = try SafeTensors.read(from: file)
        var tensors = contents.tensors
        tensors[0].tensor = Tensor.zeros([3])
        try SafeTensors.write(tensors, metadata: contents.metadata, to: file)
        XCTAssertThrowsError(try Checkpoint.load(from: dir)) { error in
            XCTAssertTrue("\(error)".contains("has shape [3], expected"), "\(error)")
        }
    }

    func testNonFiniteMetaGradientSkipsTheUpdateAndRepeatedFailuresStop() throws {
        var configuration = Self.tinyConfiguration()
        configuration.maxConsecutiveFailures = 2
        let trainer = MetaTrainer(configuration: configuration, data: Self.syntheticData)
        // An infinite learning rate makes the inner loop diverge.
        var state = trainer.state
        state.teacher.parameters[Teacher.logLRName] = Tensor(filling: 1000, shape: [configuration.preset.steps])
        let broken = MetaTrainer(configuration: configuration, data: Self.syntheticData, state: state)
        let before = broken.state.teacher.parameters.tensors.map(\.scalars)
        let first = try broken.step()
        XCTAssertTrue(first.skipped)
        XCTAssertEqual(broken.state.teacher.parameters.tensors.map(\.scalars), before)
        XCTAssertThrowsError(try broken.step()) { error in
            XCTAssertTrue("\(error)".contains("2 consecutive outer iterations"), "\(error)")
        }
    }

    /// Evaluation generates the curriculum once and trains its learners side by side: each
    /// learner's accuracy and per-step curve must equal training that learner alone, on the test
    /// set or, when asked, the validation set.
    func testEvaluationMatchesTrainingEachLearnerAlone() throws {
        let trainer = MetaTrainer(configuration: Self.tinyConfiguration(), data: Self.syntheticData)
        _ = try trainer.step()
        let teacher = trainer.state.teacher
        var evaluator = Evaluator(teacher: teacher, data: Self.syntheticData, configuration: trainer.configuration)
        let seed: UInt64 = 42, count = 3
        var planRNG = SeededGenerator(seed: seed ^ 0x5EED)
        let plan = teacher.plan(using: &planRNG)
        for images in [Self.syntheticData.test, Self.syntheticData.validation] {
            evaluator.scoringSet = images
            let result = try evaluator.gtnAccuracy(learners: count, seed: seed, curve: true)
            var curve = [Double](repeating: 0, count: plan.steps.count)
            var accuracies: [Double] = []
            for (learner, initial) in evaluator.learners(count, seed: seed) {
                let trained = try Parallel.serially {
                    try teacher.train(learner, from: initial, plan: plan) { t, θ, means in
                        let partial = TrainedLearner(parameters: θ, scoringMeans: means, innerLosses: [])
                        curve[t] += accuracy(of: learner, partial, on: images) / Double(count)
                    }
                }
                accuracies.append(accuracy(of: learner, trained, on: images))
            }
            XCTAssertEqual(result.accuracies, accuracies)
            XCTAssertEqual(result.curve, curve)
            XCTAssertGreaterThan(Set(curve).count, 1, "the curve must move, or the comparison shows nothing")
        }
        XCTAssertNotEqual(Self.syntheticData.test.count, Self.syntheticData.validation.count, "the two sets must be told apart")
    }

    /// A few outer iterations on real MNIST make the teacher better at what it is asked: the
    /// real-data loss of fixed learners after its last step goes down, and with intermediate
    /// losses the mean of the losses after every step does. Hard labels: at this size and length
    /// learned soft labels (the `cpu` default) lowered these losses by only 0.028 and 0.008; their
    /// gains are measured at full size (README), their meta-gradient against finite differences.
    func testShortRealTrainingRunImprovesTheMetaLoss() throws {
        guard let directory = RealMNIST.directory else { throw XCTSkip("real MNIST files not found") }
        let data = try RealData(splits: DatasetLoader(kind: .mnist, directory: directory, allowDownload: false)
            .loadSplits(validationCount: 10_000, seed: 0))
        for intermediateLosses in [false, true] {
            var configuration = Self.tinyConfiguration()
            configuration.preset.steps = 4
            configuration.preset.batchSize = 32
            configuration.preset.initialInnerLearningRate = 0.1
            configuration.outerIterations = 20
            configuration.intermediateLosses = intermediateLosses
            configuration.preset.learnedSoftLabels = false
            let trainer = MetaTrainer(configuration: configuration, data: data)

            func heldOutLoss(_ teacher: Teacher) throws -> Double {
                var rng = SeededGenerator(seed: 99)
                let real = data.validation.randomBatch(size: 200, using: &rng)
                var total = 0.0, count = 0
                for _ in 0..<3 {
                    let learner = Learner(architecture: .weightNormalized, widths: configuration.fixedWidths!)
                    _ = try teacher.train(learner, from: learner.initialParameters(using: &rng), plan: teacher.plan(using: &rng)) { t, θ, means in
                        guard intermediateLosses || t == configuration.preset.steps - 1 else { return }
                        total += withoutGradientRecording { realLoss(learner, θ, means: means, images: real.images, labels: real.labels).item }
                        count += 1
                    }
                }
                return total / Double(count)
            }
            let before = try heldOutLoss(trainer.state.teacher)
            while !trainer.isFinished { _ = try trainer.step() }
            let after = try heldOutLoss(trainer.state.teacher)
            print("intermediate losses \(intermediateLosses): held-out real-data loss of learners taught for 4 steps: \(before) before meta-training, \(after) after")
            XCTAssertLessThan(after, before - 0.03, "intermediate losses \(intermediateLosses): held-out loss \(before) → \(after)")
        }
    }
}

/// Meta-training on a space of architectures (what `gtn nas` ranks) rather than one family.
final class LearnerSpaceTrainingTests: XCTestCase {
    func testSamplesEveryDepthAndKernelWithinBounds() {
        let space = ArchitectureSpace(depths: 2...4, kernels: [3, 5], convWidths: Array(8...48), fcWidths: Array(32...256))
        var rng = SeededGenerator(seed: 1)
        var depths = Set<Int>(), kernels = Set<Int>()
        for _ in 0..<200 {
            let spec = space.sample(using: &rng)
            depths.insert(spec.blocks.count)
            for block in spec.blocks {
                kernels.insert(block.kernel)
                XCTAssertTrue(space.convWidths.contains(block.width))
            }
            XCTAssertTrue(space.fcWidths.contains(spec.fc))
            XCTAssertEqual(LearnerSpec(parsing: spec.description), spec)
        }
        XCTAssertEqual(depths, [2, 3, 4])
        XCTAssertEqual(kernels, [3, 5])
    }

    func testMetaTrainingDrawsLearnersFromTheSpaceAndCheckpointsIt() throws {
        var configuration = TrainingTests.tinyConfiguration()
        configuration.fixedWidths = nil
        configuration.learnerSpace = ArchitectureSpace(depths: 3...4, kernels: [3, 5], convWidths: [2, 3], fcWidths: [4, 5, 6])
        let trainer = MetaTrainer(configuration: configuration, data: TrainingTests.syntheticData)
        for _ in 0..<2 {
            let metrics = try trainer.step()
            let spec = try XCTUnwrap(LearnerSpec(parsing: metrics.learner), metrics.learner)
            XCTAssertTrue((3...4).contains(spec.blocks.count), metrics.learner)
            XCTAssertTrue(metrics.metaLoss.isFinite)
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtn-space-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Checkpoint.save(trainer.state, configuration: configuration, to: dir)
        XCTAssertEqual(try Checkpoint.load(from: dir).configuration.learnerSpace, configuration.learnerSpace)
    }
}
