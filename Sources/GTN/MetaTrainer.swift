import Foundation
import NeuralNet
import Support
import TensorEngine

/// What a meta-training run is: the preset (with any overrides), the curriculum variant and
/// the outer loop's settings. Saved with every checkpoint.
public struct TrainingConfiguration: Sendable, Equatable {
    public var preset: Preset
    public var curriculum: CurriculumKind = .full
    public var outerIterations: Int
    /// Every learner gets these widths instead of random ones (`--widths`).
    public var fixedWidths: LearnerWidths?
    public var seed: UInt64 = 0
    public var memoryMode: MemoryMode
    /// With `.stepwise`: the last inner steps that keep their forward graph (nil: the preset's).
    public var recordedSteps: Int?
    /// Adds the real-data loss after every inner step to the meta-loss, each on a fresh batch
    /// (default: the preset's).
    public var intermediateLosses: Bool
    /// The meta-gradient's global norm is clipped to this.
    public var clipNorm = 10.0
    /// Consecutive non-finite iterations after which training stops.
    public var maxConsecutiveFailures = 5
    public var dataset = "mnist"
    /// Draw learners from this space instead of the preset's family (`--learner-family search-space`).
    public var learnerSpace: ArchitectureSpace?
    /// Learners per outer iteration, each with its own architecture, initialisation and real
    /// batches; the meta-gradient is their mean, so the outer learning rate means the same for
    /// any count.
    public var learnersPerIteration = 1
    /// Real images per meta-loss batch (nil: the preset's batch size).
    public var metaBatchSize: Int?
    /// Seconds of meta-training the run may take, over all its processes: the outer learning
    /// rate's cosine then follows the elapsed fraction of this budget instead of the iteration
    /// count, so a time-limited run always finishes its decay.
    public var timeBudget: Double?
    /// Where the outer learning rate's cosine ends when that is before the run does: a run
    /// lengthened on resume with `ScheduleExtension.holdFinalRate` keeps its old end and trains
    /// the added part at the final rate. nil: the cosine spans the whole run.
    public var annealingEnd: AnnealingEnd?

    public init(preset: Preset, outerIterations: Int? = nil) {
        self.preset = preset
        self.outerIterations = outerIterations ?? preset.outerIterations
        memoryMode = preset.memoryMode
        intermediateLosses = preset.intermediateLosses
    }

    /// The real images per meta-loss batch.
    public var effectiveMetaBatchSize: Int { metaBatchSize ?? preset.batchSize }

    /// The last inner steps whose forward graph the meta-gradient keeps (all of them in a full unroll).
    public var effectiveRecordedSteps: Int {
        memoryMode == .fullUnroll ? preset.steps : Swift.min(recordedSteps ?? preset.recordedSteps, preset.steps)
    }

    /// How the meta-gradient is computed, for logs: "full-unroll" or "stepwise (16 of 32 steps recorded)".
    public var memoryDescription: String {
        memoryMode == .fullUnroll ? memoryMode.rawValue
            : "\(memoryMode.rawValue) (\(effectiveRecordedSteps) of \(preset.steps) steps recorded)"
    }

    public var widthRanges: WidthRanges { fixedWidths.map(WidthRanges.fixed) ?? preset.widthRanges }

    /// The real batches that score one learner: a fresh one after every inner step with
    /// intermediate losses, else one for the final loss.
    public func realBatches(from data: RealData, using rng: inout SeededGenerator) -> [LabeledBatch] {
        (0..<(intermediateLosses ? preset.steps : 1)).map { _ in data.train.randomBatch(size: effectiveMetaBatchSize, using: &rng) }
    }

    /// Where fresh learners come from: the learner space when set, else the preset's family with
    /// random (or fixed) widths.
    public var learners: LearnerDistribution { learnerSpace.map(LearnerDistribution.space) ?? .widths(widthRanges) }
}

extension TrainingConfiguration: Codable {
    private enum CodingKeys: String, CodingKey {
        case preset, curriculum, outerIterations, fixedWidths, seed, memoryMode, recordedSteps, intermediateLosses, clipNorm
        case maxConsecutiveFailures, dataset, learnerSpace, learnersPerIteration, metaBatchSize, timeBudget, annealingEnd
    }

    /// Settings added after the first checkpoints take their defaults when absent.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        preset = try c.decode(Preset.self, forKey: .preset)
        curriculum = try c.decode(CurriculumKind.self, forKey: .curriculum)
        outerIterations = try c.decode(Int.self, forKey: .outerIterations)
        fixedWidths = try c.decodeIfPresent(LearnerWidths.self, forKey: .fixedWidths)
        seed = try c.decode(UInt64.self, forKey: .seed)
        memoryMode = try c.decode(MemoryMode.self, forKey: .memoryMode)
        recordedSteps = try c.decodeIfPresent(Int.self, forKey: .recordedSteps)
        intermediateLosses = try c.decode(Bool.self, forKey: .intermediateLosses)
        clipNorm = try c.decode(Double.self, forKey: .clipNorm)
        maxConsecutiveFailures = try c.decode(Int.self, forKey: .maxConsecutiveFailures)
        dataset = try c.decode(String.self, forKey: .dataset)
        learnerSpace = try c.decodeIfPresent(ArchitectureSpace.self, forKey: .learnerSpace)
        learnersPerIteration = try c.decodeIfPresent(Int.self, forKey: .learnersPerIteration) ?? 1
        metaBatchSize = try c.decodeIfPresent(Int.self, forKey: .metaBatchSize)
        timeBudget = try c.decodeIfPresent(Double.self, forKey: .timeBudget)
        annealingEnd = try c.decodeIfPresent(AnnealingEnd.self, forKey: .annealingEnd)
    }
}

/// The point where the outer learning rate's cosine reaches its final value, in the unit the
/// schedule counts: outer iterations, or seconds of meta-training for a time-limited run.
public enum AnnealingEnd: Sendable, Equatable {
    case outerIterations(Int)
    case seconds(Double)

    /// The end of `configuration`'s schedule as it stands: its own, or its time budget, or
    /// its outer iterations.
    public init(of configuration: TrainingConfiguration) {
        if let end = configuration.annealingEnd { self = end }
        else if let budget = configuration.timeBudget { self = .seconds(budget) }
        else { self = .outerIterations(configuration.outerIterations) }
    }

    /// How far a run that has done `iteration` outer iterations in `elapsedSeconds` has come
    /// toward this end, from 0 to 1 (1 from the end on).
    public func progress(iteration: Int, elapsedSeconds: Double) -> Double {
        switch self {
        case .outerIterations(let total):
            guard iteration < total else { return 1 }
            return total <= 1 ? 0 : Double(iteration) / Double(total - 1)
        case .seconds(let seconds): return Swift.min(1, elapsedSeconds / seconds)
        }
    }
}

/// In `config.json`: `{"outerIterations": 200}` or `{"seconds": 7200}`.
extension AnnealingEnd: Codable {
    private enum CodingKeys: String, CodingKey { case outerIterations, seconds }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch (try c.decodeIfPresent(Int.self, forKey: .outerIterations), try c.decodeIfPresent(Double.self, forKey: .seconds)) {
        case (let n?, nil): self = .outerIterations(n)
        case (nil, let s?): self = .seconds(s)
        default:
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "an annealing end holds exactly one of outerIterations or seconds"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .outerIterations(let n): try c.encode(n, forKey: .outerIterations)
        case .seconds(let s): try c.encode(s, forKey: .seconds)
        }
    }
}

/// Everything that changes during meta-training; a checkpoint stores exactly this.
public struct TrainingState: Sendable {
    /// Outer iterations completed.
    public var iteration = 0
    public var teacher: Teacher
    public var adam: Adam
    public var clippedCount = 0
    public var skippedCount = 0
    public var consecutiveFailures = 0
    /// Seconds of meta-training so far, over every process that trained this run.
    public var elapsedSeconds = 0.0

    public init(iteration: Int = 0, teacher: Teacher, adam: Adam, clippedCount: Int = 0, skippedCount: Int = 0,
                consecutiveFailures: Int = 0, elapsedSeconds: Double = 0) {
        self.iteration = iteration
        self.teacher = teacher
        self.adam = adam
        self.clippedCount = clippedCount
        self.skippedCount = skippedCount
        self.consecutiveFailures = consecutiveFailures
        self.elapsedSeconds = elapsedSeconds
    }
}

public struct TrainingFailure: Error, CustomStringConvertible {
    public let description: String
}

/// One learner's share of an outer iteration: the learner and its meta-gradient.
public struct LearnerMetaGradient {
    public let learner: LearnerSpec
    public let metaGradient: MetaGradient
}

extension MetaGradient {
    /// The mean of several learners' meta-gradients, summed in the order given.
    public static func mean(_ parts: [MetaGradient]) -> MetaGradient {
        precondition(!parts.isEmpty, "MetaGradient.mean: no meta-gradients")
        guard parts.count > 1 else { return parts[0] }
        let scale = 1 / Double(parts.count)
        let gradients = withoutGradientRecording {
            parts.dropFirst().reduce(parts[0].gradients) { sum, part in zip(sum, part.gradients).map { $0 + $1 } }.map { $0 * scale }
        }
        return MetaGradient(metaLoss: parts.reduce(0) { $0 + $1.metaLoss } * scale,
                            finalLoss: parts.reduce(0) { $0 + $1.finalLoss } * scale, gradients: gradients,
                            innerLosses: parts[0].innerLosses)
    }
}

/// The outer loop: sample learners, differentiate the real-data loss through their inner
/// training, and take an Adam step on the teacher with the mean of their meta-gradients.
public final class MetaTrainer {
    public let configuration: TrainingConfiguration
    public let data: RealData
    public internal(set) var state: TrainingState

    public init(configuration: TrainingConfiguration, data: RealData) {
        self.configuration = configuration
        self.data = data
        var rng = SeededGenerator(seed: configuration.seed)
        var teacherRNG = rng.split()
        let teacher = Teacher(preset: configuration.preset, curriculum: configuration.curriculum, using: &teacherRNG)
        state = TrainingState(teacher: teacher, adam: Adam(like: teacher.parameters.tensors))
    }

    /// Continues from a saved state.
    public init(configuration: TrainingConfiguration, data: RealData, state: TrainingState) {
        self.configuration = configuration
        self.data = data
        self.state = state
    }

    /// Whether the run is done: its outer iterations are, or its time budget is spent.
    public var isFinished: Bool { state.iteration >= configuration.outerIterations || isOutOfTime }

    /// Whether the time budget (if any) is spent.
    public var isOutOfTime: Bool { configuration.timeBudget.map { state.elapsedSeconds >= $0 } ?? false }

    /// How far the outer learning rate's schedule has come, from 0 to 1: the elapsed fraction of
    /// the time budget, or of the outer iterations, or of a held `annealingEnd`.
    public var scheduleProgress: Double {
        AnnealingEnd(of: configuration).progress(iteration: state.iteration, elapsedSeconds: state.elapsedSeconds)
    }

    /// Counts time spent on the run outside `step()` (evaluations, checkpoints) toward its budget.
    public func addElapsedTime(_ seconds: Double) { state.elapsedSeconds += seconds }

    /// The random draws of learner `index` of outer iteration `iteration`: a function of the seed,
    /// the iteration and the learner's index alone, so any process can compute any learner.
    public static func learnerGenerator(seed: UInt64, iteration: Int, learner index: Int) -> SeededGenerator {
        var mixed = SeededGenerator(seed: seed ^ 0x1EA2_4E25)
        for word in [UInt64(iteration), UInt64(index)] {
            var next = SeededGenerator(seed: mixed.next() ^ word)
            mixed = next.split()
        }
        return mixed
    }

    /// Learner `index`'s meta-gradient at outer iteration `iteration` for `teacher`: a fresh
    /// learner (architecture and initialisation), its curriculum order, and its real batches,
    /// all drawn from `learnerGenerator`. This is what several learners per iteration, or
    /// several processes, compute independently and average.
    public static func learnerMetaGradient(teacher: Teacher, configuration: TrainingConfiguration, data: RealData,
                                           iteration: Int, learner index: Int) throws -> LearnerMetaGradient {
        var rng = learnerGenerator(seed: configuration.seed, iteration: iteration, learner: index)
        let learner = Learner(architecture: configuration.preset.learner, spec: configuration.learners.sample(using: &rng))
        let initial = learner.initialParameters(using: &rng)
        let plan = teacher.plan(using: &rng)
        let real = configuration.realBatches(from: data, using: &rng)
        let result = try teacher.metaGradient(learner: learner, initial: initial, plan: plan, realBatches: real,
                                              mode: configuration.memoryMode, recordedSteps: configuration.effectiveRecordedSteps,
                                              intermediateLosses: configuration.intermediateLosses)
        return LearnerMetaGradient(learner: learner.spec, metaGradient: result)
    }

    /// Runs one outer iteration. A non-finite meta-loss or gradient skips the update (logged in
    /// the metrics); too many in a row throw, leaving the state as it was before them.
    public func step() throws -> IterationMetrics {
        let start = Date()
        BufferPool.shared.resetPeak()
        FiniteCheck.reset()
        let learners = try (0..<configuration.learnersPerIteration).map {
            try Self.learnerMetaGradient(teacher: state.teacher, configuration: configuration, data: data,
                                         iteration: state.iteration, learner: $0)
        }
        var metrics = try apply(MetaGradient.mean(learners.map(\.metaGradient)), learners: learners.map(\.learner))
        state.elapsedSeconds += Date().timeIntervalSince(start)
        metrics.seconds = Date().timeIntervalSince(start)
        metrics.peakMemoryBytes = BufferPool.shared.statistics.peakLiveBytes
        return metrics
    }

    /// Takes the Adam step for a meta-gradient already averaged over the iteration's learners
    /// (clipped to `clipNorm`; skipped when non-finite), and advances the iteration.
    public func apply(_ result: MetaGradient, learners: [LearnerSpec]) throws -> IterationMetrics {
        let lr = cosineDecay(from: configuration.preset.outerLearningRate, progress: scheduleProgress, finalFraction: 0.1)
        let (clippedGradients, norm) = clippedByGlobalNorm(result.gradients, maxNorm: configuration.clipNorm)
        let finite = result.metaLoss.isFinite && norm.isFinite
        state.iteration += 1
        if finite {
            state.teacher.parameters.tensors = state.adam.update(state.teacher.parameters.tensors, gradients: clippedGradients, learningRate: lr)
            state.consecutiveFailures = 0
            if norm > configuration.clipNorm { state.clippedCount += 1 }
        } else {
            state.skippedCount += 1
            state.consecutiveFailures += 1
            if state.consecutiveFailures >= configuration.maxConsecutiveFailures {
                throw TrainingFailure(description: "meta-training stopped: \(state.consecutiveFailures) consecutive outer iterations had a non-finite meta-loss or meta-gradient (last at iteration \(state.iteration), meta-loss \(result.metaLoss), gradient norm \(norm)\(FiniteCheck.firstViolation.map { "; \($0)" } ?? "")); the last good checkpoint is kept")
            }
        }
        return IterationMetrics(iteration: state.iteration, metaLoss: result.metaLoss, finalLoss: result.finalLoss,
                                innerLossFirst: result.innerLosses.first ?? .nan, innerLossLast: result.innerLosses.last ?? .nan,
                                gradientNorm: norm, clipped: finite && norm > configuration.clipNorm, skipped: !finite,
                                outerLearningRate: lr, learner: learners.map(\.description).joined(separator: " "), seconds: 0,
                                peakMemoryBytes: 0, nonFiniteOrigin: finite ? nil : FiniteCheck.firstViolation?.description)
    }
}
