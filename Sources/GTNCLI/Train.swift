import ArgumentParser
import Datasets
import FileFormats
import Foundation
import GTN
import RunReport
import TensorEngine

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Meta-train a generative teaching network.",
        discussion: """
        Each outer iteration draws a fresh learner with random widths, trains it for T steps on \
        generated data, scores it on real data and differentiates that score through the whole inner \
        training run. Metrics go to OUT/metrics.jsonl (one JSON object per line), the checkpoint to \
        OUT/checkpoint.safetensors (atomically, every --checkpoint-every iterations and at the end). \
        One process at a time may use OUT (a second one is refused and told which process holds it).

        A killed run continues exactly where its last checkpoint left it with --resume. The \
        checkpoint decides what is trained (preset, dataset, widths, curriculum, seed, ...); on resume \
        only --outer, --time-limit, --hold-final-lr, --learners-per-iteration, --eval-every, --eval-learners, \
        --eval-split, --checkpoint-every, --snapshot-every, --data-dir and --check-finite may be given freely, and any other flag must \
        agree with the checkpoint. The evaluation, checkpoint and snapshot flags are kept in OUT/policy.json: a resume without \
        them goes on as the run did. \
        Ctrl-C (SIGINT) or SIGTERM finishes the current outer iteration, checkpoints and exits with \
        130 or 143; a second one exits at once. \
        OUT/report.html (see `gtn report`) and TensorBoard event files in OUT/tensorboard are refreshed \
        as the run goes. --config FILE.json starts from a saved configuration, such as a run's \
        OUT/config.json, which replays that run; flags given on the command line override its fields.

        Under `mpirun -np N` (a build with `--traits MPI`; README) the N ranks train one run: rank 0 \
        opens it and alone writes OUT, every rank computes --learners-per-iteration learners of each \
        outer iteration (so K = that × N), and their meta-gradients are averaged over all K. A resumed \
        run keeps its checkpoint's K on any number of ranks, unless --learners-per-iteration is given.
        """)

    @Option(help: "Start from this configuration (a run's config.json: replays it); flags given override it.")
    var config: String?

    @Option(help: "Configuration: cpu (default, sized for a laptop), paper or seed.")
    var preset: Preset.Name?

    @Option(help: "Curriculum: full (default), shuffled-batch, all-shuffled or none.")
    var curriculum: CurriculumKind?

    @Option(parsing: .unconditional, help: "Outer iterations (default: the preset's; unlimited with --time-limit).")
    var outer: Int?

    @Option(parsing: .unconditional, help: "Inner steps T (default: the preset's, 32).")
    var steps: Int?

    @Option(parsing: .unconditional, help: "Batch size B of generated and real batches (default: 128).")
    var batch: Int?

    @Option(help: "Fix every learner's widths to c1,c2,f instead of drawing them at random.")
    var widths: LearnerWidths?

    @Option(name: .customLong("learner-family"), help: "Learners to meta-train on: preset (default: the preset's two-block family with random widths) or search-space (2-4 blocks of kernel 3 or 5, widths 8-48, FC 32-256: the architectures `gtn nas` ranks).")
    var learnerFamily: LearnerFamily?

    @Option(name: .customLong("inner-lr"), parsing: .unconditional, help: "Initial inner learning rate (default: the preset's).")
    var innerLearningRate: Double?

    @Option(name: .customLong("outer-lr"), parsing: .unconditional, help: "Peak outer (Adam) learning rate of the teacher; a cosine takes it to a tenth by the end (default: the preset's, 0.02 for cpu).")
    var outerLearningRate: Double?

    @Option(help: "Random seed (default 0); the same seed gives the same run.")
    var seed: UInt64?

    @Option(help: "Output directory for checkpoint, metrics and evaluations (default: runs/<preset>-<curriculum>).")
    var out: String?

    @Flag(help: "Continue the run in --out from its checkpoint.")
    var resume = false

    @Option(name: .customLong("eval-every"), parsing: .unconditional, help: "Evaluate GTN-T accuracy (on --eval-split) every N outer iterations (0: only at the end; default \(TrainingRun.Policy().evaluateEvery), on --resume the run's own).")
    var evaluateEvery: Int?

    @Option(name: .customLong("eval-split"), help: "Images the run's evaluations score on: test, or validation to choose a checkpoint or an averaging window by the run's curve without looking at the test set (then measure the choice with `gtn eval`). Default \(TrainingRun.Policy().evaluationSplit.rawValue), on --resume the run's own; metrics.jsonl records each evaluation's split.")
    var evaluationSplit: EvaluationSplit?

    @Option(name: .customLong("eval-learners"), parsing: .unconditional, help: "Fresh learners per evaluation (K, at most \(Limits.learners); default \(TrainingRun.Policy().evaluationLearners), on --resume the run's own).")
    var evaluationLearners: Int?

    @Option(name: .customLong("checkpoint-every"), parsing: .unconditional, help: "Write the checkpoint every N outer iterations (default \(TrainingRun.Policy().checkpointEvery), on --resume the run's own).")
    var checkpointEvery: Int?

    @Option(name: .customLong("snapshot-every"), parsing: .unconditional, help: "Also keep the checkpoint of every Nth outer iteration in OUT/snapshots/iteration-N (0: none, the default; on --resume the run's own; about 90 MB each at paper size), to average with `gtn average`.")
    var snapshotEvery: Int?

    @OptionGroup var memory: MemoryOptions

    @Flag(name: .customLong("intermediate-losses"), inversion: .prefixedNo, help: "Add the real-data loss after every inner step to the meta-loss, each on a fresh real batch (default: the preset's: on for cpu, off for paper and seed).")
    var intermediateLosses: Bool?

    @Option(name: .customLong("time-limit"), parsing: .unconditional, help: "Meta-train for this many seconds in all (over resumes too; evaluations count), checkpointing at the end. The outer learning rate's cosine then follows the elapsed fraction of this time, so the run anneals fully, but it depends on measured time: unlike a run of --outer iterations, it does not repeat bit for bit. Without --outer, iterations are not limited. A larger limit given on --resume extends the run: the cosine moves to the new fraction, so the learning rate rises again (a warm restart), unless --hold-final-lr is given.")
    var timeLimit: Double?

    @Flag(name: .customLong("hold-final-lr"), help: "With --resume and a larger --outer or --time-limit: the outer learning rate's cosine keeps the end it had, and the added iterations train at its final rate (a tenth of the peak) instead of a warm restart. The checkpoint's config.json records the end as annealingEnd.")
    var holdFinalLearningRate = false

    @Option(name: .customLong("learners-per-iteration"), parsing: .unconditional, help: "Learners per outer iteration (K), each with its own widths, initialisation and real batches; the meta-gradient is their mean, so the outer learning rate keeps its meaning and each iteration costs K times as much. Under mpirun: learners per rank (K = this × ranks, default 1 each); the outer learning rate still applies to the mean over all K. On --resume it sets K from the next iteration on: a less noisy meta-gradient for more computation, or the reverse.")
    var learnersPerIteration: Int?

    @Option(name: .customLong("meta-batch"), parsing: .unconditional, help: "Real images per meta-loss batch (default: the batch size B).")
    var metaBatch: Int?

    @Flag(name: .customLong("rotating-labels"), inversion: .prefixedNo, help: "Slot i of inner step t has class (t·B + i) mod 10, rotating which classes a batch holds fewer of (default: the preset's).")
    var rotatingLabels: Bool?

    @Flag(name: .customLong("soft-labels"), inversion: .prefixedNo, help: "Learn a soft label per curriculum slot (logits [T·B, 10], starting near the slot's class); learners train toward their softmax (default: the preset's: on for cpu, off for paper and seed; learned curricula only).")
    var softLabels: Bool?

    @Option(name: .customLong("inner-clip"), parsing: .unconditional, help: "Scale each inner step's gradient down to this global norm when it is longer (default: the preset's, 3 for cpu; 0 turns clipping off), in meta-training and whenever the curriculum trains a learner.")
    var innerClip: Double?

    @Flag(name: .customLong("check-finite"), help: "Check every op's output for NaN and infinity (slower), and name the op where a skipped iteration's non-finite values started (also: GTN_CHECK_FINITE=1).")
    var checkFinite = false

    @OptionGroup var data: DataOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if learnerFamily == .searchSpace && (widths != nil || presetName == .seed) {
            throw ValidationError("--learner-family search-space draws whole architectures; it cannot be combined with --widths or the seed preset")
        }
        if resume && config != nil { throw ValidationError("--config starts a new run; --resume continues the checkpoint's configuration") }
        try requirePositive(outer, "--outer")
        try requirePositive(steps, "--steps")
        try requirePositive(batch, "--batch")
        try requirePositive(evaluationLearners, "--eval-learners")
        try requireAtMost(evaluationLearners, Limits.learners, "--eval-learners")
        try requirePositive(checkpointEvery, "--checkpoint-every")
        if let snapshotEvery, snapshotEvery < 0 { throw ValidationError("--snapshot-every must be ≥ 0 (0: no snapshots), got \(snapshotEvery)") }
        try requirePositive(learnersPerIteration, "--learners-per-iteration")
        try requireAtMost(learnersPerIteration, Limits.learners, "--learners-per-iteration")
        if softLabels == true && curriculum == CurriculumKind.none {
            throw ValidationError("--soft-labels learns a label per curriculum slot; the none curriculum has no slots (it draws fresh noise and labels)")
        }
        try requirePositive(metaBatch, "--meta-batch")
        if let evaluateEvery, evaluateEvery < 0 { throw ValidationError("--eval-every must be ≥ 0, got \(evaluateEvery)") }
        try requirePositiveFinite(innerLearningRate, "--inner-lr")
        try requirePositiveFinite(outerLearningRate, "--outer-lr")
        if let innerClip, !(innerClip >= 0 && innerClip.isFinite) {
            throw ValidationError("--inner-clip must be a finite number ≥ 0 (0: no clipping), got \(innerClip)")
        }
        try requirePositiveFinite(timeLimit, "--time-limit")
        if holdFinalLearningRate && !(resume && (outer != nil || timeLimit != nil)) {
            throw ValidationError("--hold-final-lr keeps a resumed run's learning-rate schedule while the run gets longer: give it with --resume and a larger --outer or --time-limit")
        }
        guard !resume else { return }
        let configuration = try makeConfiguration()
        try requireFitsInMemory(configuration) { needed, available in
            String(format: "this configuration needs an estimated %.1f GiB at its widest learner (--widths/the preset's ranges, --batch, --steps, --memory, --recorded-steps), more than this machine's %.1f GiB", needed, available)
        }
    }

    /// The preset a new run uses; on resume, `--preset` only checks the checkpoint's.
    var presetName: Preset.Name { preset ?? .cpu }

    var outputDirectory: URL {
        let c = try? makeConfiguration()
        return URL(fileURLWithPath: out ?? "runs/\((c?.preset.name ?? presetName).rawValue)-\((c?.curriculum ?? .full).rawValue)")
    }

    /// The preset's defaults, or --config's configuration, with every given flag applied.
    func makeConfiguration() throws -> TrainingConfiguration {
        var base: TrainingConfiguration?
        if let config {
            do {
                base = try JSONDecoder().decode(TrainingConfiguration.self, from: Data(contentsOf: URL(fileURLWithPath: config)))
            } catch {
                throw ValidationError("--config \(config): not a training configuration (a run's config.json): \(error)")
            }
        }
        var p = preset.map(Preset.named) ?? base?.preset ?? Preset.named(presetName)
        if let steps { p.steps = steps }
        if let batch { p.batchSize = batch }
        if let innerLearningRate { p.initialInnerLearningRate = innerLearningRate }
        if let outerLearningRate { p.outerLearningRate = outerLearningRate }
        if let rotatingLabels { p.rotatingLabels = rotatingLabels }
        if let softLabels { p.learnedSoftLabels = softLabels }
        if let innerClip { p.innerGradientClip = innerClip > 0 ? innerClip : nil }
        var c = base ?? TrainingConfiguration(preset: p, outerIterations: outer ?? (timeLimit == nil ? nil : .max))
        c.preset = p
        if base != nil && preset != nil {  // another preset brings its own memory mode
            c.memoryMode = p.memoryMode
            c.recordedSteps = nil
            c.intermediateLosses = p.intermediateLosses
        }
        if let outer { c.outerIterations = outer } else if timeLimit != nil { c.outerIterations = .max }
        if let timeLimit { c.timeBudget = timeLimit }
        if let learnersPerIteration { c.learnersPerIteration = learnersPerIteration * Ranks.launched }
        else if base == nil { c.learnersPerIteration = Ranks.launched }
        if let metaBatch { c.metaBatchSize = metaBatch }
        if let curriculum { c.curriculum = curriculum }
        // A preset's soft labels belong to curriculum slots, which `none` does not have.
        if softLabels == nil && !c.curriculum.isLearned { c.preset.learnedSoftLabels = false }
        if let widths { c.fixedWidths = widths }
        if let learnerFamily { c.learnerSpace = learnerFamily == .searchSpace ? ArchitectureSpace.standard.everyWidthInRange : nil }
        if let seed { c.seed = seed }
        try memory.apply(to: &c)
        if let intermediateLosses { c.intermediateLosses = intermediateLosses }
        if let dataset = data.dataset { c.dataset = dataset.rawValue }
        return c
    }

    /// On resume: every flag that says what is trained must agree with the checkpoint.
    func checkAgreement(with saved: TrainingConfiguration, in directory: URL) throws {
        func refuse(_ flag: String, _ given: String, _ stored: String) -> ValidationError {
            ValidationError("--resume: \(flag) \(given) conflicts with the checkpoint in \(directory.path), which was trained with \(stored); drop the flag to continue the run as it was")
        }
        let p = saved.preset
        if let preset, preset != p.name { throw refuse("--preset", preset.rawValue, "preset \(p.name.rawValue)") }
        if let curriculum, curriculum != saved.curriculum { throw refuse("--curriculum", curriculum.rawValue, "curriculum \(saved.curriculum.rawValue)") }
        if let steps, steps != p.steps { throw refuse("--steps", "\(steps)", "\(p.steps) inner steps") }
        if let batch, batch != p.batchSize { throw refuse("--batch", "\(batch)", "batch size \(p.batchSize)") }
        if let widths, widths != saved.fixedWidths { throw refuse("--widths", "\(widths)", saved.fixedWidths.map { "widths \($0)" } ?? "random widths") }
        if let learnerFamily, (learnerFamily == .searchSpace) != (saved.learnerSpace != nil) {
            throw refuse("--learner-family", learnerFamily.rawValue, saved.learnerSpace == nil ? "the preset's learner family" : "the search-space learner family")
        }
        if let innerLearningRate, innerLearningRate != p.initialInnerLearningRate {
            throw refuse("--inner-lr", "\(innerLearningRate)", "initial inner learning rate \(p.initialInnerLearningRate)")
        }
        if let outerLearningRate, outerLearningRate != p.outerLearningRate {
            throw refuse("--outer-lr", "\(outerLearningRate)", "outer learning rate \(p.outerLearningRate)")
        }
        if let seed, seed != saved.seed { throw refuse("--seed", "\(seed)", "seed \(saved.seed)") }
        if let mode = memory.memory, mode != saved.memoryMode { throw refuse("--memory", mode.rawValue, "memory mode \(saved.memoryMode.rawValue)") }
        if let recorded = memory.recordedSteps, recorded != saved.effectiveRecordedSteps {
            throw refuse("--recorded-steps", "\(recorded)", "\(saved.effectiveRecordedSteps) recorded steps")
        }
        if let intermediateLosses, intermediateLosses != saved.intermediateLosses {
            throw refuse(intermediateLosses ? "--intermediate-losses" : "--no-intermediate-losses", "", saved.intermediateLosses ? "intermediate losses" : "no intermediate losses")
        }
        if let metaBatch, metaBatch != saved.effectiveMetaBatchSize { throw refuse("--meta-batch", "\(metaBatch)", "meta-batches of \(saved.effectiveMetaBatchSize)") }
        if let rotatingLabels, rotatingLabels != p.rotatingLabels {
            throw refuse(rotatingLabels ? "--rotating-labels" : "--no-rotating-labels", "", p.rotatingLabels ? "rotating labels" : "fixed labels")
        }
        if let softLabels, softLabels != p.learnedSoftLabels {
            throw refuse(softLabels ? "--soft-labels" : "--no-soft-labels", "", p.learnedSoftLabels ? "learned soft labels" : "hard labels")
        }
        if let innerClip, (innerClip > 0 ? innerClip : nil) != p.innerGradientClip {
            throw refuse("--inner-clip", "\(innerClip)", p.innerGradientClip.map { "inner gradient clip \($0)" } ?? "no inner gradient clip")
        }
        if let dataset = data.dataset, dataset.rawValue != saved.dataset { throw refuse("--dataset", dataset.rawValue, "dataset \(saved.dataset)") }
    }

    /// The evaluation, checkpoint and snapshot flags given, over `base`: the run's own policy on
    /// --resume, the defaults on a new run.
    func policy(over base: TrainingRun.Policy) -> TrainingRun.Policy {
        var policy = base
        if let evaluateEvery { policy.evaluateEvery = evaluateEvery }
        if let evaluationLearners { policy.evaluationLearners = evaluationLearners }
        if let checkpointEvery { policy.checkpointEvery = checkpointEvery }
        if let snapshotEvery { policy.snapshotEvery = snapshotEvery }
        if let evaluationSplit { policy.evaluationSplit = evaluationSplit }
        return policy
    }

    func run() throws {
        output.apply()
        try Ranks.run("train") { world in try run(world) }
    }

    /// Rank 0 (or the only process) opens the run: starts it, or resumes its checkpoint.
    func open(_ directory: URL) throws -> TrainingRun {
        let run: TrainingRun
        if resume {
            let saved = try TrainingRun.savedConfiguration(in: directory)
            try checkAgreement(with: saved, in: directory)
            run = try TrainingRun.resume(in: directory, policy: policy(over: try TrainingRun.Policy.saved(in: directory)), outerIterations: outer, timeBudget: timeLimit,
                                         schedule: holdFinalLearningRate ? .holdFinalRate : .warmRestart,
                                         learnersPerIteration: learnersPerIteration.map { $0 * Ranks.launched }) {
                try data.load(defaultKind: DatasetKind(rawValue: $0.dataset))
            }
            Terminal.line("resuming \(directory.path) at outer iteration \(run.state.iteration); \(TrainingProgress.cadences(of: run.policy))")
        } else {
            if Checkpoint.exists(in: directory) {
                throw ValidationError("\(directory.path) already holds a checkpoint; pass --resume to continue it or choose another --out")
            }
            let configuration = try makeConfiguration()
            try Directory.create(directory, role: "--out")
            run = try TrainingRun.start(in: directory, configuration: configuration, policy: policy(over: TrainingRun.Policy())) {
                try data.load(defaultKind: DatasetKind(rawValue: $0.dataset))
            }
        }
        return run
    }

    func run(_ world: any Communicator) throws {
        if checkFinite { FiniteCheck.isEnabled = true }
        let directory = outputDirectory
        let run = try TrainingRun.shared(by: world, directory: directory, open: { try open(directory) }) {
            try data.load(defaultKind: DatasetKind(rawValue: $0.dataset))
        }
        let configuration = run.configuration
        let ranks = world.size > 1 ? " over \(world.size) MPI ranks" : ""
        Terminal.line("meta-training preset \(configuration.preset.name.rawValue), curriculum \(configuration.curriculum.rawValue), T=\(configuration.preset.steps), B=\(configuration.preset.batchSize), \(TrainingProgress.length(of: configuration)), \(configuration.learnersPerIteration) learner\(configuration.learnersPerIteration == 1 ? "" : "s") per iteration\(ranks), \(configuration.memoryDescription) meta-gradients → \(directory.path)")

        let stopSwitch = run.stopSwitch
        let interruption = Interruption { signal in
            FileHandle.standardError.write(Data("\nreceived \(signal == SIGINT ? "SIGINT" : "SIGTERM"): finishing this outer iteration and checkpointing (again to quit at once)\n".utf8))
            stopSwitch.flip()
        }
        var progress = TrainingProgress(run: run)
        // Only the rank that writes the run (rank 0, or the only process) keeps its report.
        let monitor = world.rank == 0 ? try RunMonitor(run: run) : nil
        try run.run { event in
            progress.report(event)
            do { try monitor?.record(event) } catch { Terminal.line("warning: report or TensorBoard events not updated: \(error)") }
        }
        if let monitor {
            Terminal.result("report: \(monitor.reportURL.path); TensorBoard: tensorboard --logdir \(directory.appendingPathComponent(RunMonitor.tensorBoardDirectoryName).path)")
        }
        Terminal.result("meta-gradient clipped \(run.state.clippedCount) times, skipped \(run.state.skippedCount) times; checkpoint: \(run.checkpointURL.path)")
        if let signal = interruption.received { throw ExitCode(128 + signal) }
    }
}

/// Prints a run's events: a status line per outer iteration (a permanent line every 10 on a
/// terminal, every one in a log), and a line per evaluation and early stop.
struct TrainingProgress {
    let run: TrainingRun
    private var recentSeconds: [Double] = []
    private var lastAccuracy: (iteration: Int, value: Double)?

    init(run: TrainingRun) { self.run = run }

    /// "200 outer iterations", "30m00s", or both when both limit the run.
    static func length(of c: TrainingConfiguration) -> String {
        let iterations = c.outerIterations == .max ? nil : "\(c.outerIterations) outer iterations"
        let time = c.timeBudget.map { "a time budget of \(Terminal.duration($0))" }
        let held: String
        switch c.annealingEnd {
        case .outerIterations(let n)?: held = ", the outer learning rate at its final value after \(n) outer iterations"
        case .seconds(let s)?: held = ", the outer learning rate at its final value after \(Terminal.duration(s))"
        case nil: held = ""
        }
        return [iterations, time].compactMap { $0 }.joined(separator: " or ") + held
    }

    /// "evaluations every 50 (K=8, test split), checkpoints every 10, snapshots every 50".
    static func cadences(of p: TrainingRun.Policy) -> String {
        let evaluations = p.evaluateEvery == 0 ? "an evaluation at the end" : "evaluations every \(p.evaluateEvery)"
        let snapshots = p.snapshotEvery == 0 ? "no snapshots" : "snapshots every \(p.snapshotEvery)"
        return "\(evaluations) (K=\(p.evaluationLearners), \(p.evaluationSplit.rawValue) split), checkpoints every \(p.checkpointEvery), \(snapshots)"
    }

    mutating func report(_ event: TrainingRun.Event) {
        switch event {
        case .iterationFinished(let metrics):
            recentSeconds.append(metrics.seconds)
            if recentSeconds.count > 10 { recentSeconds.removeFirst() }
            let perIteration = recentSeconds.reduce(0, +) / Double(recentSeconds.count)
            let c = run.configuration
            var left = c.outerIterations == .max ? Double.infinity : Double(c.outerIterations - metrics.iteration) * perIteration
            if let budget = c.timeBudget { left = min(left, budget - run.state.elapsedSeconds) }
            let of = c.outerIterations == .max ? "" : "/\(c.outerIterations)"
            // With intermediate losses the meta-loss sums T losses; the final one compares across runs.
            let loss = c.intermediateLosses ? String(format: "meta-loss %.2f, final %.4f", metrics.metaLoss, metrics.finalLoss ?? .nan)
                : String(format: "meta-loss %.4f", metrics.metaLoss)
            var status = String(format: "outer %d%@ | %@ | grad-norm %.3g%@ | lr %.2g | %.2f s/iter | ETA %@",
                                metrics.iteration, of, loss, metrics.gradientNorm,
                                metrics.skipped ? " (skipped)" : (metrics.clipped ? " (clipped)" : ""),
                                metrics.outerLearningRate, perIteration, Terminal.duration(left))
            if let lastAccuracy { status += String(format: " | acc %.2f%% @%d", 100 * lastAccuracy.value, lastAccuracy.iteration) }
            if !Terminal.isInteractive || metrics.iteration % 10 == 0 { Terminal.line(status) } else { Terminal.status(status) }
            if let origin = metrics.nonFiniteOrigin { Terminal.line("outer \(metrics.iteration) skipped: non-finite values started where \(origin)") }
        case .evaluationProgress(let finished, let total):
            Terminal.status("evaluating: learner \(finished)/\(total)")
        case .evaluationFinished(let record, let evaluation, let final):
            lastAccuracy = (record.iteration, record.gtnAccuracyMean)
            let print = final ? Terminal.result : Terminal.line
            print(String(format: "%@ after %d outer iterations: GTN-%d %@ accuracy %.2f%% ± %.2f (K=%d, %.1f s)",
                                 final ? "final evaluation" : "evaluation", record.iteration, record.steps, record.scoredOn.rawValue,
                                 100 * record.gtnAccuracyMean, 100 * record.gtnAccuracyStd, evaluation.learners,
                                 evaluation.seconds))
        case .checkpointWritten:
            break
        case .snapshotWritten(let iteration, let directory):
            Terminal.line("snapshot of outer iteration \(iteration): \(directory.path)")
        case .stopped(let reason, let elapsed):
            switch reason {
            case .timeLimit: Terminal.line("time budget spent after \(Terminal.duration(elapsed)) of meta-training")
            case .requested: Terminal.line("stopped on request after \(Terminal.duration(elapsed))")
            }
        }
    }
}

enum LearnerFamily: String, ExpressibleByArgument, CaseIterable {
    case preset
    case searchSpace = "search-space"
}
