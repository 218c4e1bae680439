import FileFormats
import Foundation
import Support

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
    /// `timeBudget`) and the learners that estimate each meta-gradient (`learnersPerIteration`).
    /// A run keeps its policy in `policy.json` beside its checkpoint, so that a resume without
    /// one goes on evaluating and keeping snapshots as the run did.
    public struct Policy: Codable, Sendable, Equatable {
        /// Evaluate GTN-T accuracy every N outer iterations (0: only at the end).
        public var evaluateEvery = 10
        /// Fresh learners per evaluation (K).
        public var evaluationLearners = 8
        /// Write the checkpoint every N outer iterations (and always at the end).
        public var checkpointEvery = 10
        /// Also keep a copy of the checkpoint every N outer iterations (0: none) in
        /// `snapshots/iteration-N`, to average later (`TeacherAverage`).
        public var snapshotEvery = 0
        /// The images evaluations score on. Choosing a checkpoint or an averaging window by the
        /// run's own curve is choosing on these images: `.validation` keeps the test set for the
        /// result.
        public var evaluationSplit = EvaluationSplit.test

        public init(evaluateEvery: Int = 10, evaluationLearners: Int = 8, checkpointEvery: Int = 10, snapshotEvery: Int = 0,
                    evaluationSplit: EvaluationSplit = .test) {
            self.evaluateEvery = evaluateEvery
            self.evaluationLearners = evaluationLearners
            self.checkpointEvery = checkpointEvery
            self.snapshotEvery = snapshotEvery
            self.evaluationSplit = evaluationSplit
        }

        /// The file in a run directory that holds the run's policy.
        public static let fileName = "policy.json"

        /// A field missing from the file keeps its default, so files written before a field
        /// existed still read.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let defaults = Policy()
            evaluateEvery = try c.decodeIfPresent(Int.self, forKey: .evaluateEvery) ?? defaults.evaluateEvery
            evaluationLearners = try c.decodeIfPresent(Int.self, forKey: .evaluationLearners) ?? defaults.evaluationLearners
            checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? defaults.checkpointEvery
            snapshotEvery = try c.decodeIfPresent(Int.self, forKey: .snapshotEvery) ?? defaults.snapshotEvery
            evaluationSplit = try c.decodeIfPresent(EvaluationSplit.self, forKey: .evaluationSplit) ?? defaults.evaluationSplit
        }

        /// Throws, naming the field, when the policy cannot drive a run.
        public func validate() throws {
            for (name, value, least) in [("evaluateEvery", evaluateEvery, 0), ("evaluationLearners", evaluationLearners, 1),
                                         ("checkpointEvery", checkpointEvery, 1), ("snapshotEvery", snapshotEvery, 0)] where value < least {
                throw TrainingRunError(description: "the run policy's \(name) must be ≥ \(least), got \(value)")
            }
        }

        /// The policy saved in the run directory `directory`, or the defaults for a run that
        /// has none (one written before runs kept their policy).
        public static func saved(in directory: URL) throws -> Policy {
            let file = directory.appendingPathComponent(fileName)
            guard FileManager.default.fileExists(atPath: file.path) else { return Policy() }
            let policy: Policy
            do {
                policy = try JSONDecoder().decode(Policy.self, from: Data(contentsOf: file))
                try policy.validate()
            } catch {
                throw TrainingRunError(description: "\(file.path): not a readable run policy (\(error)); fix or delete it to resume with the defaults")
            }
            return policy
        }

        /// Writes the policy (atomically) into the run directory `directory`.
        func save(in directory: URL) throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try AtomicFile.write(try encoder.encode(self), to: directory.appendingPathComponent(Self.fileName))
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
        /// A snapshot of the state after `iteration` outer iterations was kept in `directory`.
        case snapshotWritten(iteration: Int, directory: URL)
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
    /// The policy this process follows; `policy.json` keeps the one the run was opened with,
    /// which a later resume without a policy takes.
    public var policy: Policy
    /// The outer iteration this process started from (0 for a new run).
    public let startIteration: Int

    public var configuration: TrainingConfiguration { trainer.configuration }
    public var state: TrainingState { trainer.state }
    public var metricsURL: URL { directory.appendingPathComponent(MetricsLog.fileName) }
    public var checkpointURL: URL { Checkpoint.url(in: directory) }

    /// Where the snapshot of outer iteration `iteration` goes (`Policy.snapshotEvery`): a
    /// directory holding a checkpoint, which `gtn eval` and `TeacherAverage` read as a run.
    public func snapshotDirectory(iteration: Int) -> URL {
        directory.appendingPathComponent("snapshots", isDirectory: true)
            .appendingPathComponent(String(format: "iteration-%06d", iteration), isDirectory: true)
    }

    /// Set from any thread (a signal handler among them) to stop the run after the current
    /// outer iteration.
    public let stopSwitch = StopSwitch()
    /// Held for the run's lifetime: one process at a time writes a run directory (under MPI,
    /// rank 0; the other ranks hold none).
    private let lock: DirectoryLock?
    /// The processes training this run together (`shared(by:…)`); rank 0 writes its files.
    public internal(set) var communicator: any Communicator = SingleProcess()

    private init(directory: URL, trainer: MetaTrainer, policy: Policy, lock: DirectoryLock?) {
        self.directory = directory
        self.trainer = trainer
        self.policy = policy
        self.lock = lock
        startIteration = trainer.state.iteration
    }

    /// A rank other than 0 of a shared run: it trains and evaluates but writes nothing.
    convenience init(follower trainer: MetaTrainer, directory: URL, policy: Policy) {
        self.init(directory: directory, trainer: trainer, policy: policy, lock: nil)
    }

    /// Locks `directory` for this process and clears what killed writers left in it.
    private static func claim(_ directory: URL) throws -> DirectoryLock {
        let lock = try DirectoryLock(directory, purpose: "gtn train")
        AtomicFile.removeStaleTemporaryFiles(in: directory)
        return lock
    }

    /// A new run in `directory`, which must not hold a checkpoint yet; any old metrics there are
    /// replaced. The configuration and policy are checked first (`TrainingConfiguration.validate`,
    /// `Policy.validate`), and the policy is kept in `policy.json` for resumes.
    public static func start(in directory: URL, configuration: TrainingConfiguration, data: RealData,
                             policy: Policy = Policy()) throws -> TrainingRun {
        try start(in: directory, configuration: configuration, policy: policy, loadingData: { _ in data })
    }

    /// `start` with the data loaded only once the directory is locked and checked, so that a
    /// run that cannot start fails at once instead of after loading (or downloading) a dataset.
    public static func start(in directory: URL, configuration: TrainingConfiguration, policy: Policy = Policy(),
                             loadingData load: (TrainingConfiguration) throws -> RealData) throws -> TrainingRun {
        try configuration.validate()
        try policy.validate()
        try Directory.create(directory, role: "run directory")
        let lock = try claim(directory)
        if Checkpoint.exists(in: directory) {
            throw TrainingRunError(description: "\(directory.path) already holds a checkpoint; resume it or choose another directory")
        }
        let run = TrainingRun(directory: directory, trainer: MetaTrainer(configuration: configuration, data: try load(configuration)),
                              policy: policy, lock: lock)
        try? FileManager.default.removeItem(at: run.metricsURL)
        try policy.save(in: directory)
        return run
    }

    /// The checkpoint in `directory`: what a resumed run trains (the dataset among it).
    public static func savedConfiguration(in directory: URL) throws -> TrainingConfiguration {
        try Checkpoint.load(from: directory).configuration
    }

    /// What a resume that changes a run's length does to the outer learning rate's cosine.
    public enum ScheduleExtension: Sendable, Equatable {
        /// The cosine spans the new length: its progress moves back to the new fraction, so the
        /// rate rises again and anneals once more (a warm restart).
        case warmRestart
        /// The cosine keeps the end it had (`TrainingConfiguration.annealingEnd`); a longer run
        /// trains its added part at the final rate, with no jump in the rate.
        case holdFinalRate
    }

    /// Continues the run in `directory` from its checkpoint, exactly where it stopped. Metrics
    /// rows written after the checkpoint are dropped, so the log matches the state. Without a
    /// `policy` the run keeps its own (`Policy.saved(in:)`); a policy given replaces it for this
    /// resume and later ones.
    /// `outerIterations` and `timeBudget` extend or shorten the run, and `schedule` says what
    /// that does to the learning rate's schedule; `learnersPerIteration` changes how many
    /// learners (K) estimate each meta-gradient from here on. That changes the estimate's
    /// variance and cost, not what is trained: the mean over K learners is the same expected
    /// meta-gradient for any K, so the outer learning rate keeps its meaning.
    public static func resume(in directory: URL, data: RealData, policy: Policy? = nil,
                              outerIterations: Int? = nil, timeBudget: Double? = nil,
                              schedule: ScheduleExtension = .warmRestart,
                              learnersPerIteration: Int? = nil) throws -> TrainingRun {
        try resume(in: directory, policy: policy, outerIterations: outerIterations, timeBudget: timeBudget,
                   schedule: schedule, learnersPerIteration: learnersPerIteration, loadingData: { _ in data })
    }

    /// `resume` with the data loaded for the checkpoint's configuration (its dataset), once the
    /// directory is locked and the checkpoint read, so that a refusal comes before any loading.
    public static func resume(in directory: URL, policy: Policy? = nil, outerIterations: Int? = nil, timeBudget: Double? = nil,
                              schedule: ScheduleExtension = .warmRestart, learnersPerIteration: Int? = nil,
                              loadingData load: (TrainingConfiguration) throws -> RealData) throws -> TrainingRun {
        guard Checkpoint.exists(in: directory) else {
            throw TrainingRunError(description: "\(directory.path) holds no checkpoint to resume (expected \(Checkpoint.fileName))")
        }
        try policy?.validate()
        let lock = try claim(directory)
        let (saved, state) = try Checkpoint.load(from: directory)
        let policy = try policy ?? Policy.saved(in: directory)
        var configuration = saved
        let heldEnd = AnnealingEnd(of: saved)
        if let outerIterations {
            guard outerIterations > state.iteration else {
                throw TrainingRunError(description: "the checkpoint in \(directory.path) has done \(state.iteration) outer iterations already; resuming it needs more than \(outerIterations)")
            }
            configuration.outerIterations = outerIterations
        }
        if let timeBudget {
            guard timeBudget > state.elapsedSeconds else {
                throw TrainingRunError(description: String(format: "the run in %@ has meta-trained for %.0f s already; resuming it needs a time budget above that, not %.0f s", directory.path, state.elapsedSeconds, timeBudget))
            }
            configuration.timeBudget = timeBudget
        }
        if configuration.outerIterations != saved.outerIterations || configuration.timeBudget != saved.timeBudget {
            configuration.annealingEnd = schedule == .holdFinalRate ? heldEnd : nil
        }
        if let learnersPerIteration { configuration.learnersPerIteration = learnersPerIteration }
        try configuration.validate()
        let run = TrainingRun(directory: directory, trainer: MetaTrainer(configuration: configuration, data: try load(configuration),
                                                                         state: state),
                              policy: policy, lock: lock)
        try MetricsLog.truncate(run.metricsURL, afterIteration: state.iteration)
        try policy.save(in: directory)
        return run
    }

    /// Asks the run to stop after the outer iteration in progress (checkpointing first). Safe to
    /// call from any thread, a signal handler's dispatch source among them.
    public func requestStop() { stopSwitch.flip() }

    private var stopRequested: Bool { stopSwitch.isOn }

    /// Trains until the configuration's outer iterations are done, its time budget is spent or a
    /// stop is requested; evaluates and checkpoints by the policy, and always leaves a checkpoint
    /// of the final state, and an evaluation of it unless the stop was requested (a user who
    /// interrupts wants out). Evaluations and checkpoints count toward the budget. Throws when
    /// every iteration of this process was skipped: nothing was learned, and the user must know.
    ///
    /// In a run shared by several ranks every rank calls this; rank 0 alone writes files and
    /// reports events, and its clock and stop requests decide for all.
    public func run(onEvent reportEvent: (Event) -> Void = { _ in }) throws {
        let start = Date()
        let isWriter = communicator.rank == 0
        func onEvent(_ event: Event) { if isWriter { reportEvent(event) } }
        var agreedStop = false
        /// Every rank takes rank 0's elapsed time and stop request (nothing to do alone).
        func synchronize() throws {
            guard communicator.size > 1 else { return }
            var values = [trainer.state.elapsedSeconds, stopRequested ? 1 : 0]
            try communicator.broadcast(&values, root: 0)
            trainer.state.elapsedSeconds = values[0]
            agreedStop = values[1] != 0
        }
        var stopNow: Bool { communicator.size > 1 ? agreedStop : stopRequested }
        var lastEvaluated: Int?
        /// Adds the time `body` takes to the run's elapsed time (steps count their own).
        func timed(_ body: () throws -> Void) rethrows {
            let begin = Date()
            defer { trainer.addElapsedTime(Date().timeIntervalSince(begin)) }
            try body()
        }
        var lastSaved = trainer.state.iteration
        func save(snapshot: Bool) throws {
            lastSaved = trainer.state.iteration
            guard isWriter else { return }
            try timed { try Checkpoint.save(trainer.state, configuration: configuration, to: directory) }
            onEvent(.checkpointWritten(iteration: lastSaved, url: checkpointURL))
            guard snapshot else { return }
            let snapshotDirectory = snapshotDirectory(iteration: lastSaved)
            try timed { try Checkpoint.copy(from: directory, to: snapshotDirectory) }
            onEvent(.snapshotWritten(iteration: lastSaved, directory: snapshotDirectory))
        }
        func evaluate(final: Bool) throws {
            let learners = policy.evaluationLearners
            let split = policy.evaluationSplit
            var evaluator = Evaluator(teacher: trainer.state.teacher, data: trainer.data, configuration: configuration)
            evaluator.score(on: split)
            var evaluation: GTNEvaluation?
            try timed {
                evaluation = try withoutActuallyEscaping(onEvent) { report in
                    try evaluator.gtnAccuracy(learners: learners, communicator: communicator) {
                        report(.evaluationProgress(finished: $0, total: learners))
                    }
                }
            }
            guard let result = evaluation else { return }
            let record = EvaluationRecord(iteration: trainer.state.iteration, elapsedSeconds: Date().timeIntervalSince(start),
                                          runElapsedSeconds: trainer.state.elapsedSeconds, split: split, evaluation: result)
            if isWriter { try MetricsLog.append(record, to: metricsURL) }
            lastEvaluated = trainer.state.iteration
            onEvent(.evaluationFinished(record, result, final: final))
        }

        var stoppedOnRequest = false
        var learned = false
        try synchronize()
        while !trainer.isFinished {
            let metrics = try trainer.step(communicator: communicator)
            try synchronize()
            learned = learned || !metrics.skipped
            if isWriter { try MetricsLog.append(metrics, to: metricsURL) }
            onEvent(.iterationFinished(metrics))
            let iteration = trainer.state.iteration
            let stop: StopReason? = trainer.isOutOfTime && iteration < configuration.outerIterations ? .timeLimit
                : stopNow && !trainer.isFinished ? .requested : nil
            let snapshot = policy.snapshotEvery > 0 && iteration % policy.snapshotEvery == 0
            if iteration % policy.checkpointEvery == 0 || snapshot || trainer.isFinished || stop != nil { try save(snapshot: snapshot) }
            if policy.evaluateEvery > 0, iteration % policy.evaluateEvery == 0, !trainer.isFinished { try evaluate(final: false) }
            if let stop {
                onEvent(.stopped(reason: stop, elapsedSeconds: trainer.state.elapsedSeconds))
                stoppedOnRequest = stop == .requested
                break
            }
            try synchronize()
        }
        if lastSaved != trainer.state.iteration { try save(snapshot: false) }
        if trainer.state.iteration > startIteration && !learned {
            throw TrainingRunError(description: "every outer iteration of this run (\(startIteration + 1)–\(trainer.state.iteration)) was skipped as non-finite; nothing was learned (the checkpoint keeps the last good state; try --check-finite to see where the values break)")
        }
        if !stoppedOnRequest && lastEvaluated != trainer.state.iteration { try evaluate(final: true) }
    }
}

/// A thread-safe one-way switch: once flipped, it stays on.
public final class StopSwitch: Sendable {
    private let state = Locked(false)
    public init() {}
    public func flip() { state.withLock { $0 = true } }
    public var isOn: Bool { state.withLock { $0 } }
}

public struct TrainingRunError: Error, CustomStringConvertible, LocalizedError {
    public var errorDescription: String? { description }
    public let description: String
}
