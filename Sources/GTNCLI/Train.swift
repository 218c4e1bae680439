import ArgumentParser
import FileFormats
import Foundation
import GTN
import TensorEngine

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Meta-train a generative teaching network.",
        discussion: """
        Each outer iteration draws a fresh learner with random widths, trains it for T steps on \
        generated data, scores it on real data and differentiates that score through the whole inner \
        training run. Metrics go to OUT/metrics.jsonl (one JSON object per line), the checkpoint to \
        OUT/checkpoint.safetensors (atomically, every --checkpoint-every iterations and at the end). \
        A killed run continues exactly where its last checkpoint left it with --resume.
        """)

    @Option(help: "Configuration: cpu (default, sized for a laptop), paper or seed.")
    var preset: Preset.Name = .cpu

    @Option(help: "Curriculum: full, shuffled-batch, all-shuffled or none.")
    var curriculum: CurriculumKind = .full

    @Option(help: "Outer iterations (default: the preset's).")
    var outer: Int?

    @Option(help: "Inner steps T (default: the preset's, 32).")
    var steps: Int?

    @Option(help: "Batch size B of generated and real batches (default: 128).")
    var batch: Int?

    @Option(help: "Fix every learner's widths to c1,c2,f instead of drawing them at random.")
    var widths: LearnerWidths?

    @Option(name: .customLong("learner-family"), help: "Learners to meta-train on: preset (the preset's two-block family with random widths) or search-space (2-4 blocks of kernel 3 or 5, widths 8-48, FC 32-256: the architectures `gtn nas` ranks).")
    var learnerFamily: LearnerFamily = .preset

    @Option(name: .customLong("inner-lr"), help: "Initial inner learning rate (default: the preset's).")
    var innerLearningRate: Double?

    @Option(help: "Random seed; the same seed gives the same run.")
    var seed: UInt64 = 0

    @Option(help: "Output directory for checkpoint, metrics and evaluations (default: runs/<preset>-<curriculum>).")
    var out: String?

    @Flag(help: "Continue the run in --out from its checkpoint.")
    var resume = false

    @Option(name: .customLong("eval-every"), help: "Evaluate GTN-T test accuracy every N outer iterations (0: only at the end).")
    var evaluateEvery: Int = 10

    @Option(name: .customLong("eval-learners"), help: "Fresh learners per evaluation (K).")
    var evaluationLearners: Int = 8

    @Option(name: .customLong("checkpoint-every"), help: "Write the checkpoint every N outer iterations.")
    var checkpointEvery: Int = 10

    @OptionGroup var memory: MemoryOptions

    @Flag(name: .customLong("intermediate-losses"), help: "Add the real-data loss after every inner step to the meta-loss.")
    var intermediateLosses = false

    @Option(name: .customLong("time-limit"), help: "Stop after this many seconds of meta-training (checkpointing first).")
    var timeLimit: Double?

    @OptionGroup var data: DataOptions

    func validate() throws {
        if learnerFamily == .searchSpace && (widths != nil || preset == .seed) {
            throw ValidationError("--learner-family search-space draws whole architectures; it cannot be combined with --widths or the seed preset")
        }
        try requirePositive(outer, "--outer")
        try requirePositive(steps, "--steps")
        try requirePositive(batch, "--batch")
        try requirePositive(evaluationLearners, "--eval-learners")
        try requirePositive(checkpointEvery, "--checkpoint-every")
        if evaluateEvery < 0 { throw ValidationError("--eval-every must be ≥ 0, got \(evaluateEvery)") }
        if let innerLearningRate, !(innerLearningRate > 0) { throw ValidationError("--inner-lr must be positive, got \(innerLearningRate)") }
        if let timeLimit, !(timeLimit > 0) { throw ValidationError("--time-limit must be positive, got \(timeLimit)") }
        _ = try makeConfiguration()
    }

    var outputDirectory: URL {
        URL(fileURLWithPath: out ?? "runs/\(preset.rawValue)-\(curriculum.rawValue)")
    }

    func makeConfiguration() throws -> TrainingConfiguration {
        var p = Preset.named(preset)
        if let steps { p.steps = steps }
        if let batch { p.batchSize = batch }
        if let innerLearningRate { p.initialInnerLearningRate = innerLearningRate }
        var c = TrainingConfiguration(preset: p, outerIterations: outer)
        c.curriculum = curriculum
        c.fixedWidths = widths
        if learnerFamily == .searchSpace { c.learnerSpace = LearnerSpace() }
        c.seed = seed
        try memory.apply(to: &c)
        c.intermediateLosses = intermediateLosses
        c.dataset = data.dataset.rawValue
        return c
    }

    func run() throws {
        let directory = outputDirectory
        let metricsURL = directory.appendingPathComponent("metrics.jsonl")
        let trainer: MetaTrainer
        let realData: RealData
        if resume {
            let (saved, state) = try Checkpoint.load(from: directory)
            guard saved.preset.name == preset || !CommandLine.arguments.contains("--preset") else {
                throw ValidationError("--resume: the checkpoint in \(directory.path) was trained with preset \(saved.preset.name.rawValue), not \(preset.rawValue)")
            }
            var configuration = saved
            if let outer { configuration.outerIterations = outer }
            realData = try data.load()
            trainer = MetaTrainer(configuration: configuration, data: realData, state: state)
            try MetricsLog.truncate(metricsURL, afterIteration: state.iteration)
            Terminal.line("resuming \(directory.path) at outer iteration \(state.iteration) of \(configuration.outerIterations)")
        } else {
            if Checkpoint.exists(in: directory) {
                throw ValidationError("\(directory.path) already holds a checkpoint; pass --resume to continue it or choose another --out")
            }
            realData = try data.load()
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(at: metricsURL)
            trainer = MetaTrainer(configuration: try makeConfiguration(), data: realData)
        }
        let configuration = trainer.configuration
        Terminal.line("meta-training preset \(configuration.preset.name.rawValue), curriculum \(configuration.curriculum.rawValue), T=\(configuration.preset.steps), B=\(configuration.preset.batchSize), \(configuration.outerIterations) outer iterations, \(configuration.memoryDescription) meta-gradients → \(directory.path)")

        let start = Date()
        var recentSeconds: [Double] = []
        var lastAccuracy: (iteration: Int, value: Double)?
        var lastSaved = trainer.state.iteration
        func evaluate(final: Bool) throws {
            let evaluator = Evaluator(teacher: trainer.state.teacher, data: realData, configuration: configuration)
            let result = try evaluator.gtnAccuracy(learners: evaluationLearners) { k in
                Terminal.status("evaluating: learner \(k)/\(evaluationLearners)")
            }
            lastAccuracy = (trainer.state.iteration, result.mean)
            try MetricsLog.append(EvaluationRecord(iteration: trainer.state.iteration, elapsedSeconds: Date().timeIntervalSince(start),
                                                   evaluation: result), to: metricsURL)
            Terminal.line(String(format: "%@ after %d outer iterations: GTN-%d test accuracy %.2f%% ± %.2f (K=%d, %.1f s)",
                                 final ? "final evaluation" : "evaluation", trainer.state.iteration, result.steps,
                                 100 * result.mean, 100 * result.standardDeviation, result.learners, result.seconds))
        }
        func save() throws {
            try Checkpoint.save(trainer.state, configuration: configuration, to: directory)
            lastSaved = trainer.state.iteration
        }

        while !trainer.isFinished {
            let metrics = try trainer.step()
            try MetricsLog.append(metrics, to: metricsURL)
            recentSeconds.append(metrics.seconds)
            if recentSeconds.count > 10 { recentSeconds.removeFirst() }
            let perIteration = recentSeconds.reduce(0, +) / Double(recentSeconds.count)
            let left = Double(configuration.outerIterations - trainer.state.iteration) * perIteration
            var status = String(format: "outer %d/%d | meta-loss %.4f | grad-norm %.3g%@ | %.2f s/iter | ETA %@",
                                trainer.state.iteration, configuration.outerIterations, metrics.metaLoss, metrics.gradientNorm,
                                metrics.skipped ? " (skipped)" : (metrics.clipped ? " (clipped)" : ""), perIteration,
                                Terminal.duration(left))
            if let lastAccuracy { status += String(format: " | acc %.2f%% @%d", 100 * lastAccuracy.value, lastAccuracy.iteration) }
            if !Terminal.isInteractive || trainer.state.iteration % 10 == 0 { Terminal.line(status) } else { Terminal.status(status) }
            let outOfTime = timeLimit.map { Date().timeIntervalSince(start) >= $0 } ?? false
            if trainer.state.iteration % checkpointEvery == 0 || trainer.isFinished || outOfTime { try save() }
            if evaluateEvery > 0, trainer.state.iteration % evaluateEvery == 0, !trainer.isFinished { try evaluate(final: false) }
            if outOfTime {
                Terminal.line("time limit reached after \(Terminal.duration(Date().timeIntervalSince(start)))")
                break
            }
        }
        if lastSaved != trainer.state.iteration { try save() }
        if lastAccuracy?.iteration != trainer.state.iteration { try evaluate(final: true) }
        Terminal.line("meta-gradient clipped \(trainer.state.clippedCount) times, skipped \(trainer.state.skippedCount) times; checkpoint: \(Checkpoint.url(in: directory).path)")
    }
}

/// An evaluation row of metrics.jsonl.
struct EvaluationRecord: Codable {
    var type = "evaluation"
    var iteration: Int
    var elapsedSeconds: Double
    var gtnAccuracyMean: Double
    var gtnAccuracyStd: Double
    var accuracies: [Double]
    var steps: Int

    init(iteration: Int, elapsedSeconds: Double, evaluation: GTNEvaluation) {
        self.iteration = iteration
        self.elapsedSeconds = elapsedSeconds
        gtnAccuracyMean = evaluation.mean
        gtnAccuracyStd = evaluation.standardDeviation
        accuracies = evaluation.accuracies
        self.steps = evaluation.steps
    }
}

/// metrics.jsonl: one JSON object per line, snake_case keys.
enum MetricsLog {
    static func append(_ value: some Encodable, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try AtomicFile.append(line: String(decoding: try encoder.encode(value), as: UTF8.self), to: url)
    }

    /// Drops rows written after the checkpoint a resumed run restarts from.
    static func truncate(_ url: URL, afterIteration iteration: Int) throws {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return }
        let kept = text.split(separator: "\n").filter { line in
            guard let data = line.data(using: .utf8),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let i = object["iteration"] as? Int else { return true }
            return i <= iteration
        }
        try AtomicFile.write(Data((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8), to: url)
    }
}

enum LearnerFamily: String, ExpressibleByArgument, CaseIterable {
    case preset
    case searchSpace = "search-space"
}
