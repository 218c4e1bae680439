import Foundation
import NeuralNet
import Support
import TensorEngine

/// What a meta-training run is: the preset (with any overrides), the curriculum variant and
/// the outer loop's settings. Saved with every checkpoint.
public struct TrainingConfiguration: Codable, Sendable, Equatable {
    public var preset: Preset
    public var curriculum: CurriculumKind = .full
    public var outerIterations: Int
    /// Every learner gets these widths instead of random ones (`--widths`).
    public var fixedWidths: LearnerWidths?
    public var seed: UInt64 = 0
    public var memoryMode: MemoryMode
    /// With `.stepwise`: the last inner steps that keep their forward graph (nil: the preset's).
    public var recordedSteps: Int?
    public var intermediateLosses = false
    /// The meta-gradient's global norm is clipped to this.
    public var clipNorm = 10.0
    /// Consecutive non-finite iterations after which training stops.
    public var maxConsecutiveFailures = 5
    public var dataset = "mnist"

    public init(preset: Preset, outerIterations: Int? = nil) {
        self.preset = preset
        self.outerIterations = outerIterations ?? preset.outerIterations
        memoryMode = preset.defaultMemoryMode
    }

    /// Draw learners from this space instead of the preset's family (`--learner-family search-space`).
    public var learnerSpace: LearnerSpace?

    /// The last inner steps whose forward graph the meta-gradient keeps (all of them in a full unroll).
    public var effectiveRecordedSteps: Int {
        memoryMode == .fullUnroll ? preset.steps : Swift.min(recordedSteps ?? preset.defaultRecordedSteps, preset.steps)
    }

    /// How the meta-gradient is computed, for logs: "full-unroll" or "stepwise (16 of 32 steps recorded)".
    public var memoryDescription: String {
        memoryMode == .fullUnroll ? memoryMode.rawValue
            : "\(memoryMode.rawValue) (\(effectiveRecordedSteps) of \(preset.steps) steps recorded)"
    }

    public var widthRanges: WidthRanges { fixedWidths.map(WidthRanges.fixed) ?? preset.widthRanges }

    /// A fresh learner's architecture: from the learner space when set, else the preset's family
    /// with random (or fixed) widths.
    public func sampleLearnerSpec(using rng: inout SeededGenerator) -> LearnerSpec {
        learnerSpace?.sample(using: &rng) ?? LearnerSpec(widths: widthRanges.sample(using: &rng))
    }
}

/// Everything that changes during meta-training; a checkpoint stores exactly this.
public struct TrainingState: Sendable {
    /// Outer iterations completed.
    public var iteration = 0
    public var teacher: Teacher
    public var adam: Adam
    public var rng: SeededGenerator
    public var clippedCount = 0
    public var skippedCount = 0
    public var consecutiveFailures = 0

    public init(iteration: Int = 0, teacher: Teacher, adam: Adam, rng: SeededGenerator,
                clippedCount: Int = 0, skippedCount: Int = 0, consecutiveFailures: Int = 0) {
        self.iteration = iteration
        self.teacher = teacher
        self.adam = adam
        self.rng = rng
        self.clippedCount = clippedCount
        self.skippedCount = skippedCount
        self.consecutiveFailures = consecutiveFailures
    }
}

/// One outer iteration's record, as written to `metrics.jsonl`.
public struct IterationMetrics: Codable, Sendable {
    public var iteration: Int
    public var metaLoss: Double
    public var innerLossFirst: Double
    public var innerLossLast: Double
    public var gradientNorm: Double
    public var clipped: Bool
    public var skipped: Bool
    public var outerLearningRate: Double
    /// The sampled learner, as a `LearnerSpec` string.
    public var learner: String
    public var seconds: Double
    public var peakMemoryBytes: Int
}

public struct TrainingFailure: Error, CustomStringConvertible {
    public let description: String
}

/// The outer loop: sample a learner, differentiate the real-data loss through its inner training,
/// and take an Adam step on the teacher.
public final class MetaTrainer {
    public let configuration: TrainingConfiguration
    public let data: RealData
    public private(set) var state: TrainingState

    public init(configuration: TrainingConfiguration, data: RealData) {
        self.configuration = configuration
        self.data = data
        var rng = SeededGenerator(seed: configuration.seed)
        var teacherRNG = rng.split()
        let teacher = Teacher(preset: configuration.preset, curriculum: configuration.curriculum, using: &teacherRNG)
        state = TrainingState(teacher: teacher, adam: Adam(like: teacher.parameters.tensors), rng: rng)
    }

    /// Continues from a saved state.
    public init(configuration: TrainingConfiguration, data: RealData, state: TrainingState) {
        self.configuration = configuration
        self.data = data
        self.state = state
    }

    public var isFinished: Bool { state.iteration >= configuration.outerIterations }

    /// Runs one outer iteration. A non-finite meta-loss or gradient skips the update (logged in
    /// the metrics); too many in a row throw, leaving the state as it was before them.
    public func step() throws -> IterationMetrics {
        let start = Date()
        BufferPool.shared.resetPeak()
        var rng = state.rng
        let preset = configuration.preset
        let learner = Learner(architecture: preset.learner, spec: configuration.sampleLearnerSpec(using: &rng))
        let initial = learner.initialParameters(using: &rng)
        let plan = state.teacher.plan(using: &rng)
        let real = data.train.randomBatch(size: preset.batchSize, using: &rng)
        let result = try state.teacher.metaGradient(learner: learner, initial: initial, plan: plan,
                                                    realImages: real.images, realLabels: real.labels,
                                                    mode: configuration.memoryMode,
                                                    recordedSteps: configuration.effectiveRecordedSteps,
                                                    intermediateLosses: configuration.intermediateLosses)
        let lr = cosineLearningRate(initial: preset.outerLearningRate, step: state.iteration, total: configuration.outerIterations)
        let (clippedGradients, norm) = clippedByGlobalNorm(result.gradients, maxNorm: configuration.clipNorm)
        let finite = result.metaLoss.isFinite && norm.isFinite
        state.rng = rng
        state.iteration += 1
        if finite {
            state.teacher.parameters.tensors = state.adam.update(state.teacher.parameters.tensors, gradients: clippedGradients, learningRate: lr)
            state.consecutiveFailures = 0
            if norm > configuration.clipNorm { state.clippedCount += 1 }
        } else {
            state.skippedCount += 1
            state.consecutiveFailures += 1
            if state.consecutiveFailures >= configuration.maxConsecutiveFailures {
                throw TrainingFailure(description: "meta-training stopped: \(state.consecutiveFailures) consecutive outer iterations had a non-finite meta-loss or meta-gradient (last at iteration \(state.iteration), meta-loss \(result.metaLoss), gradient norm \(norm)); the last good checkpoint is kept")
            }
        }
        return IterationMetrics(iteration: state.iteration, metaLoss: result.metaLoss,
                                innerLossFirst: result.innerLosses.first ?? .nan, innerLossLast: result.innerLosses.last ?? .nan,
                                gradientNorm: norm, clipped: finite && norm > configuration.clipNorm, skipped: !finite,
                                outerLearningRate: lr, learner: learner.spec.description, seconds: Date().timeIntervalSince(start),
                                peakMemoryBytes: BufferPool.shared.statistics.peakLiveBytes)
    }
}
