import Foundation

/// A meta-training run in a directory: its checkpoint, `config.json` and `metrics.jsonl`, and the
/// policy that decides when to evaluate, checkpoint and stop. The CLI, tests and any other
/// front end drive runs through this type and learn what happens from its events.
///
/// ```swift
/// let run = try TrainingRun.start(in: directory, configuration: configuration, data: data)
/// try run.run { event in print(event) }
/// // later, or after the process was killed:
/// let resumed = try TrainingRun.resume(in: directory, data: data)
/// try resumed.run()
/// ```
public final class TrainingRun {
    /// When a run evaluates and checkpoints. These may change when a run is resumed; the
    /// configuration (what is trained) may not, but for its length (`outerIterations`,
    /// `timeBudget`).
    public struct Policy: Sendable, Equatable {
        /// Evaluate GTN-T accuracy every N outer iterations (0: only at the end).
        public var evaluateEvery = 10
        /// Fresh learners per evaluation (K).
        public var evaluationLearners = 8
        /// Write the checkpoint every N outer iterations (and always at the end).
        public var checkpointEvery = 10

        public init(evaluateEvery: Int = 10, evaluationLearners: Int = 8, checkpointEvery: Int = 10) {
            self.evaluateEvery = evaluateEvery
            self.evaluationLearners = evaluationLearners
            self.checkpointEvery = checkpointEvery
        }
    }

    /// What a run reports while it goes.
    public enum Event: Sendable {
        /// An outer iteration finished (its row is already in `metrics.jsonl`).
        case iterationFinished(IterationMetrics)
        /// `finished` of `total` evaluation learners are done.
        case evaluationProgress(finished: Int, total: Int)
        /// An evaluation finished (its row is already in `metrics.jsonl`); `final` for the one
        /// that closes the run.
        case evaluationFinished(EvaluationRecord, GTNEvaluation, final: Bool)
        /// The checkpoint now holds the state after `iteration` outer iterations.
        case checkpointWritten(iteration: Int, url: URL)
        /// The run stopped before its outer iterations were done: its time budget is spent, or a
        /// stop was requested. `elapsedSeconds` is the run's meta-training time over all processes.
        case stopped(reason: StopReason, elapsedSeconds: Double)
    }

    public enum StopReason: Sendable, Equatable {
        case timeLimit
        case requested
    }

    public let directory: URL
    public let trainer: MetaTrainer
    public var policy: Policy
    /// The outer iteration this process started from (0 for a new run).
    public let startIteration: Int

    public var configuration: TrainingConfiguration { trainer.configuration }
    public var state: TrainingState { trainer.state }
    public var metricsURL: URL { directory.appendingPathComponent(MetricsLog.fileName) }
    public var checkpointURL: URL { Checkpoint.url(in: directory) }

    private let stopFlag = NSLock()
    private var stopIsRequested = false

    private init(directory: URL, trainer: MetaTrainer, policy: Policy) {
        self.directory = directory
        self.trainer = trainer
        self.policy = policy
        startIteration = trainer.state.iteration
    }

    /// A new run in `directory`, which must not hold a checkpoint yet; any old metrics there are
    /// replaced.
    public static func start(in directory: URL, configuration: TrainingConfiguration, data: RealData,
                             policy: Policy = Policy()) throws -> TrainingRun {
        if Checkpoint.exists(in: directory) {
            throw TrainingRunError(description: "\(directory.path) already holds a checkpoint; resume it or choose another directory")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let run = TrainingRun(directory: directory, trainer: MetaTrainer(configuration: configuration, data: data), policy: policy)
        try? FileManager.default.removeItem(at: run.metricsURL)
        return run
    }

    /// The checkpoint in `directory`: what a resumed run trains (the dataset among it).
    public static func savedConfiguration(in directory: URL) throws -> TrainingConfiguration {
        try Checkpoint.load(from: directory).configuration
    }

    /// Continues the run in `directory` from its checkpoint, exactly where it stopped. Metrics
    /// rows written after the checkpoint are dropped, so the log matches the state.
    /// `outerIterations` and `timeBudget` extend or shorten the schedule.
    public static func resume(in directory: URL, data: RealData, policy: Policy = Policy(),
                              outerIterations: Int? = nil, timeBudget: Double? = nil) throws -> TrainingRun {
        let (saved, state) = try Checkpoint.load(from: directory)
        var configuration = saved
        if let outerIterations { configuration.outerIterations = outerIterations }
        if let timeBudget { configuration.timeBudget = timeBudget }
        let run = TrainingRun(directory: directory, trainer: MetaTrainer(configuration: configuration, data: data, state: state),
                              policy: policy)
        try MetricsLog.truncate(run.metricsURL, afterIteration: state.iteration)
        return run
    }

    /// Asks the run to stop after the outer iteration in progress (checkpointing first). Safe to
    /// call from any thread, a signal handler's dispatch source among them.
    public func requestStop() {
        stopFlag.lock()
        stopIsRequested = true
        stopFlag.unlock()
    }

    private var stopRequested: Bool {
        stopFlag.lock()
        defer { stopFlag.unlock() }
        return stopIsRequested
    }

    /// Trains until the configuration's outer iterations are done, its time budget is spent or a
    /// stop is requested; evaluates and checkpoints by the policy, and always leaves a checkpoint
    /// and an evaluation of the final state. Evaluations and checkpoints count toward the budget.
    public func run(onEvent: (Event) -> Void = { _ in }) throws {
        let start = Date()
        var lastEvaluated: Int?
        /// Adds the time `body` takes to the run's elapsed time (steps count their own).
        func timed(_ body: () throws -> Void) rethrows {
            let begin = Date()
            defer { trainer.addElapsedTime(Date().timeIntervalSince(begin)) }
            try body()
        }
        var lastSaved = trainer.state.iteration
        func save() throws {
            try timed { try Checkpoint.save(trainer.state, configuration: configuration, to: directory) }
            lastSaved = trainer.state.iteration
            onEvent(.checkpointWritten(iteration: lastSaved, url: checkpointURL))
        }
        func evaluate(final: Bool) throws {
            let learners = policy.evaluationLearners
            let evaluator = Evaluator(teacher: trainer.state.teacher, data: trainer.data, configuration: configuration)
            var evaluation: GTNEvaluation?
            try timed {
                evaluation = try withoutActuallyEscaping(onEvent) { report in
                    try evaluator.gtnAccuracy(learners: learners) { report(.evaluationProgress(finished: $0, total: learners)) }
                }
            }
            guard let result = evaluation else { return }
            let record = EvaluationRecord(iteration: trainer.state.iteration, elapsedSeconds: Date().timeIntervalSince(start),
                                          evaluation: result)
            try MetricsLog.append(record, to: metricsURL)
            lastEvaluated = trainer.state.iteration
            onEvent(.evaluationFinished(record, result, final: final))
        }

        while !trainer.isFinished {
            let metrics = try trainer.step()
            try MetricsLog.append(metrics, to: metricsURL)
            onEvent(.iterationFinished(metrics))
            let iteration = trainer.state.iteration
            let stop: StopReason? = trainer.isOutOfTime && iteration < configuration.outerIterations ? .timeLimit
                : stopRequested && !trainer.isFinished ? .requested : nil
            if iteration % policy.checkpointEvery == 0 || trainer.isFinished || stop != nil { try save() }
            if policy.evaluateEvery > 0, iteration % policy.evaluateEvery == 0, !trainer.isFinished { try evaluate(final: false) }
            if let stop {
                onEvent(.stopped(reason: stop, elapsedSeconds: trainer.state.elapsedSeconds))
                break
            }
        }
        if lastSaved != trainer.state.iteration { try save() }
        if lastEvaluated != trainer.state.iteration { try evaluate(final: true) }
    }
}

public struct TrainingRunError: Error, CustomStringConvertible {
    public let description: String
}
