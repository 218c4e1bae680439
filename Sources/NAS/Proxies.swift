import Datasets
import Foundation
import GTN
import NeuralNet
import Support
import TensorEngine

/// How candidates are trained on real data, for the real-data proxies, the ground truth and the
/// final training of the best candidate.
public struct RealTrainingSettings: Codable, Sendable, Equatable {
    /// Steps of the short and long real-data proxies (real-32 and real-128 in the report).
    public var shortProxySteps = 32
    public var longProxySteps = 128
    /// SGD learning rate of the real-data proxies: 0.2 is the best of the real-data baseline's
    /// grid {0.01 … 0.5} for 32 real steps on this learner family (95.8% vs 95.1% at 0.1;
    /// docs/gtn.md §10), so the real-32 baseline is as strong as the grid allows.
    public var learningRate = 0.2
    public var momentum = 0.5
    public var batchSize = 128
    /// Epochs of real training that define the ground truth; 0 skips the real-data proxies and
    /// the ground truth (a GTN-only search).
    public var groundTruthEpochs = 1
    /// Epochs the best candidate is finally trained for before its test accuracy is measured.
    public var finalEpochs = 3

    public init() {}
}

/// The outcome of one proxy or training run of one candidate.
public struct Measurement: Sendable, Equatable {
    public let accuracy: Double
    public let seconds: Double
}

/// Trains candidates on real data: constant-rate SGD for the proxies, SGD whose rate decays
/// to 0 on a cosine over the budget for the ground truth and the final training (annealing makes
/// the end-of-budget accuracy far less noisy, so the ground truth ranks better). Every
/// candidate sees the same batches in the same order (one shuffle for the run), so that
/// differences between candidates come from the architectures, not from the data order.
public struct RealTrainer: Sendable {
    public let data: RealData
    public let settings: RealTrainingSettings
    public let seed: UInt64

    public init(data: RealData, settings: RealTrainingSettings, seed: UInt64) {
        self.data = data
        self.settings = settings
        self.seed = seed
    }

    /// The candidate's learner and its initial parameters, a function of the run seed and the
    /// architecture alone, shared by all of its proxies.
    public func learner(for spec: LearnerSpec) -> (learner: Learner, initial: Parameters) {
        let learner = Learner(architecture: .weightNormalized, spec: spec)
        var rng = SeededGenerator(seed: seed ^ spec.stableHash)
        return (learner, learner.initialParameters(using: &rng))
    }

    public var batchSize: Int { min(settings.batchSize, data.train.count) }
    public var stepsPerEpoch: Int { data.train.count / batchSize }

    public enum Schedule: Sendable { case constant, cosine }

    /// Trains `spec` for `steps` real steps and scores it on `set` (validation by default).
    public func train(_ spec: LearnerSpec, steps: Int, schedule: Schedule, scoreOn set: LabeledImages? = nil) throws -> (trained: TrainedLearner, measurement: Measurement) {
        let start = Date()
        let (learner, initial) = learner(for: spec)
        var sampler = BatchSampler(count: data.train.count, batchSize: batchSize, seed: seed ^ 0xDA7A)
        let peak = settings.learningRate, momentum = settings.momentum
        let trained = try trainLearner(learner, from: initial, steps: steps,
                                       batch: { _ in data.train.batch(sampler.next()) },
                                       learningRate: { t in
                                           schedule == .constant ? peak : cosineDecay(from: peak, progress: Double(t) / Double(steps))
                                       },
                                       momentum: { _ in momentum })
        let value = accuracy(of: learner, trained, on: set ?? data.validation)
        return (trained, Measurement(accuracy: value, seconds: Date().timeIntervalSince(start)))
    }

    public func proxy(_ spec: LearnerSpec, steps: Int) throws -> Measurement {
        try train(spec, steps: steps, schedule: .constant).measurement
    }

    public func groundTruth(_ spec: LearnerSpec) throws -> Measurement {
        try train(spec, steps: settings.groundTruthEpochs * stepsPerEpoch, schedule: .cosine).measurement
    }

    /// The final training of the chosen candidate: validation and test accuracy.
    public func trainFully(_ spec: LearnerSpec) throws -> FinalTraining {
        let start = Date()
        let (learner, _) = learner(for: spec)
        let (trained, validation) = try train(spec, steps: settings.finalEpochs * stepsPerEpoch, schedule: .cosine)
        let test = accuracy(of: learner, trained, on: data.test)
        return FinalTraining(candidate: spec.description, epochs: settings.finalEpochs, validationAccuracy: validation.accuracy,
                             testAccuracy: test, seconds: Date().timeIntervalSince(start))
    }
}

public struct FinalTraining: Codable, Sendable, Equatable {
    public var candidate: String
    public var epochs: Int
    public var validationAccuracy: Double
    public var testAccuracy: Double
    public var seconds: Double
}

/// The GTN proxy: validation accuracy after the teacher's T steps on its curriculum, with its
/// learned learning rates and momenta. The curriculum's batches are the same for every
/// candidate, so they are generated once (`generationSeconds`) and reused.
public struct GTNProxy: Sendable {
    public let trainer: RealTrainer
    public let steps: Int
    public let generationSeconds: Double
    private let teacher: Teacher
    private let batches: [SyntheticBatch]

    public init(teacher: Teacher, trainer: RealTrainer) {
        let start = Date()
        var rng = SeededGenerator(seed: trainer.seed ^ 0x6E7)
        let plan = teacher.plan(using: &rng)
        batches = teacher.syntheticBatches(for: plan)
        self.teacher = teacher
        steps = plan.steps.count
        self.trainer = trainer
        generationSeconds = Date().timeIntervalSince(start)
    }

    public func score(_ spec: LearnerSpec) throws -> Measurement {
        let start = Date()
        let (learner, initial) = trainer.learner(for: spec)
        let trained = try teacher.train(learner, from: initial, batches: batches)
        let value = accuracy(of: learner, trained, on: trainer.data.validation)
        return Measurement(accuracy: value, seconds: Date().timeIntervalSince(start))
    }
}
