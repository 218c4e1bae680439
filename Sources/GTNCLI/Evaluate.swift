import ArgumentParser
import Datasets
import Foundation
import GTN

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure a checkpoint's GTN-T test (or validation) accuracy, and the real-data baseline.",
        discussion: """
        --curve reports the accuracy after every inner step (and, with --real-baseline, the same for real \
        data at the grid's best learning rate). Trains K fresh learners (widths drawn from the run's ranges with a fixed evaluation seed, or all \
        of the widths --widths gives, as the official MNIST configuration's one architecture 64,128,256) for T \
        steps on the teacher's curriculum with its learned learning rates and momenta, then scores them on \
        the 10,000 test images (--split validation: the 10,000 validation images held out of training, to \
        choose between teachers, such as `gtn average` windows, without looking at the test set). --real-baseline also trains the same learners for T steps on real batches \
        in two ways: with SGD (momentum 0.5) for each learning rate in {0.01, 0.02, 0.05, 0.1, 0.2, 0.5} \
        (the grid; --real-lrs replaces it), and with per-step learning rates and momenta meta-learned on real batches exactly as \
        the GTN learns its own (--learned-baseline-iterations outer iterations). The real accuracy reported \
        is the better of the two. --real-steps-to-match N trains the same learners on the same real batches for \
        longer, with the grid's SGD, and says after how many steps real data first reaches the teacher's T-step \
        accuracy (the learned baseline has no schedule beyond T steps, so it is not part of this).
        """)

    @Option(help: "Run directory holding checkpoint.safetensors.")
    var checkpoint: String

    @Option(parsing: .unconditional, help: "Fresh learners (K, at most 10000).")
    var learners: Int = 8

    @Flag(name: .customLong("real-baseline"), help: "Also train the learners on real data for the same number of steps.")
    var realBaseline = false

    @Option(name: .customLong("real-lrs"), help: "Comma-separated learning rates of the real-data grid, e.g. 0.5,1,2 to check that the best one is not at the grid's edge (default: 0.01,0.02,0.05,0.1,0.2,0.5).")
    var realLearningRates: LearningRateList?

    @Option(name: .customLong("real-steps-to-match"), parsing: .unconditional, help: "Also train the learners on real batches for up to N steps (SGD at each grid learning rate) and report the real accuracy after T, 1.5T, 2T, 3T, … N steps and the fewest of them that reaches GTN-T's: how many real steps the teacher's T are worth (N at least T, at most \(Limits.realSteps)).")
    var realStepsToMatch: Int?

    @Option(name: .customLong("learned-baseline-iterations"), help: "Outer iterations that meta-learn the real baseline's per-step learning rates and momenta (0: grid only).")
    var learnedBaselineIterations: Int = 30

    @Flag(help: "Also report the mean accuracy after every inner step.")
    var curve = false

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @Option(help: "Evaluate learners of these widths c1,c2,f (three positive integers) only (default: drawn as the run drew them).")
    var widths: LearnerWidths?

    @Option(help: "Evaluation seed (which learners are drawn).")
    var seed: UInt64 = 1_000_003

    @Option(help: "Images every accuracy is measured on: test or validation.")
    var split: EvaluationSplit = .test

    @OptionGroup var data: DataOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requirePositive(learners, "--learners")
        try requireAtMost(learners, Limits.learners, "--learners")
        if realLearningRates != nil && !realBaseline && realStepsToMatch == nil {
            throw ValidationError("--real-lrs sets the grid of --real-baseline and --real-steps-to-match; add one of them")
        }
        try requirePositive(realStepsToMatch, "--real-steps-to-match")
        try requireAtMost(realStepsToMatch, Limits.realSteps, "--real-steps-to-match")
        if learnedBaselineIterations < 0 {
            throw ValidationError("--learned-baseline-iterations must be ≥ 0, got \(learnedBaselineIterations)")
        }
    }

    struct Report: Encodable {
        var gtnAccuracyMean: Double
        var gtnAccuracyStd: Double
        var gtnAccuracies: [Double]
        var steps: Int
        var learners: Int
        /// The images the accuracies are measured on.
        var split: EvaluationSplit
        var outerIterations: Int
        var preset: String
        var curriculum: String
        /// --widths: every learner's c1, c2, f.
        var widths: [Int]?
        /// The evaluated learners' architectures (`LearnerSpec` strings).
        var architectures: [String]
        var accuracyCurve: [Double]?
        /// With --curve: real data at the grid's best learning rate, after every step.
        var realAccuracyCurve: [Double]?
        /// The better of the two real baselines.
        var realAccuracyMean: Double?
        var realGridAccuracyMean: Double?
        var realGridAccuracyStd: Double?
        var realBestLr: Double?
        var realLearnedAccuracyMean: Double?
        var realLearnedAccuracyStd: Double?
        var realLearnedAccuracies: [Double]?
        var realLearnedLr: [Double]?
        var realLearnedMomentum: [Double]?
        var realBaseline: [RealRow]?
        /// With --real-steps-to-match: real accuracy after T, 1.5T, 2T, … steps at the grid's best rate for each.
        var realStepsCurve: [RealStepsRow]?
        /// The fewest steps of `realStepsCurve` whose mean reaches GTN-T's; absent when none does.
        var realStepsToMatch: Int?
        var seconds: Double
    }

    struct RealRow: Encodable { var lr: Double; var accuracyMean: Double; var accuracies: [Double] }
    struct RealStepsRow: Encodable { var steps: Int; var lr: Double; var accuracyMean: Double; var accuracyStd: Double }

    func run() throws {
        output.apply()
        var (configuration, state) = try Checkpoint.load(from: URL(fileURLWithPath: checkpoint))
        if let widths {
            // Learners of the preset's family with these widths, whatever the run drew; the learned
            // real baseline is meta-learned on them too.
            configuration.learnerSpace = nil
            configuration.fixedWidths = widths
            // The meta-training estimate bounds evaluation too (which records no meta-gradient).
            try requireFitsInMemory(configuration) { needed, available in
                String(format: "--widths %@: learners this wide need up to an estimated %.1f GiB, more than this machine's %.1f GiB", widths.description, needed, available)
            }
        }
        if let realStepsToMatch, realStepsToMatch < configuration.preset.steps {
            throw ValidationError("--real-steps-to-match must be at least the teacher's \(configuration.preset.steps) steps, got \(realStepsToMatch)")
        }
        let realData = try data.load(defaultKind: DatasetKind(rawValue: configuration.dataset))
        var evaluator = Evaluator(teacher: state.teacher, data: realData, configuration: configuration)
        evaluator.score(on: split)
        let result = try evaluator.gtnAccuracy(learners: learners, seed: seed, curve: curve) { k in
            Terminal.status("GTN learners: \(k)/\(learners)")
        }
        var report = Report(gtnAccuracyMean: result.mean, gtnAccuracyStd: result.standardDeviation, gtnAccuracies: result.accuracies,
                            steps: result.steps, learners: learners, split: split, outerIterations: state.iteration,
                            preset: configuration.preset.name.rawValue, curriculum: configuration.curriculum.rawValue,
                            widths: widths.map { [$0.conv1, $0.conv2, $0.fc] }, architectures: result.architectures,
                            accuracyCurve: result.curve, seconds: result.seconds)
        if !json {
            Terminal.result(String(format: "GTN-%d %@ accuracy after %d outer iterations: %.2f%% ± %.2f over %d learners",
                                 result.steps, split.rawValue, state.iteration, 100 * result.mean, 100 * result.standardDeviation, learners)
                            + (widths.map { " of widths \($0)" } ?? ""))
            if let c = result.curve {
                Terminal.result("accuracy after each step: " + c.map { String(format: "%.1f", 100 * $0) }.joined(separator: " "))
            }
        }
        let grid = realLearningRates?.values ?? Evaluator.baselineLearningRates
        let runs = grid.count * learners
        // Trained first: its first point is the real baseline itself (the same learners and
        // batches after T steps), so --real-baseline reuses it instead of training T steps again.
        let stepsCurve = try realStepsToMatch.map { maxSteps in
            let start = Date()
            return try evaluator.realStepsCurve(learners: learners, seed: seed, maxSteps: maxSteps, learningRates: grid) { done, total in
                let elapsed = Date().timeIntervalSince(start)
                Terminal.status("real data for up to \(maxSteps) steps, \(runs) run\(runs == 1 ? "" : "s") (learning rates × learners): "
                                + "\(done)/\(total) steps, ETA \(Terminal.duration(elapsed / Double(done) * Double(total - done)))")
            }
        }
        if realBaseline {
            let baseline = try stepsCurve?.baselines[0] ?? evaluator.realBaseline(learners: learners, seed: seed, learningRates: grid) { n in
                Terminal.status("real baseline: learner \(n)/\(runs) (\(grid.count) learning rates)")
            }
            report.realBaseline = baseline.rows.map { RealRow(lr: $0.learningRate, accuracyMean: $0.mean, accuracies: $0.accuracies) }
            report.realGridAccuracyMean = baseline.best?.mean
            report.realGridAccuracyStd = baseline.best.map { standardDeviation($0.accuracies) }
            report.realAccuracyMean = baseline.best?.mean
            report.realBestLr = baseline.best?.learningRate
            if curve, let best = baseline.best {
                report.realAccuracyCurve = try evaluator.realAccuracyCurve(learners: learners, seed: seed, learningRate: best.learningRate)
                if !json {
                    Terminal.result(String(format: "real accuracy after each step (lr %.2f): ", best.learningRate)
                                    + report.realAccuracyCurve!.map { String(format: "%.1f", 100 * $0) }.joined(separator: " "))
                }
            }
            if learnedBaselineIterations > 0 {
                let learned = try LearnedRealBaseline.learn(configuration: configuration, data: realData,
                                                            outerIterations: learnedBaselineIterations) { n in
                    Terminal.status("learning the real baseline's optimizer: outer \(n)/\(learnedBaselineIterations)")
                }
                let accuracies = try evaluator.realAccuracy(learnedBy: learned, learners: learners, seed: seed)
                let mean = accuracies.reduce(0, +) / Double(accuracies.count)
                report.realLearnedAccuracyMean = mean
                report.realLearnedAccuracyStd = standardDeviation(accuracies)
                report.realLearnedAccuracies = accuracies
                report.realLearnedLr = learned.optimizer.innerLearningRates
                report.realLearnedMomentum = learned.optimizer.innerMomenta
                report.realAccuracyMean = max(report.realAccuracyMean ?? 0, mean)
                if !json {
                    Terminal.result(String(format: "real-%d accuracy with a learned optimizer (%d outer iterations): %.2f%% ± %.2f",
                                         baseline.steps, learnedBaselineIterations, 100 * mean, 100 * standardDeviation(accuracies)))
                }
            }
            if !json {
                for row in baseline.rows {
                    Terminal.result(String(format: "real-%d accuracy at lr %.2f: %.2f%%", baseline.steps, row.learningRate, 100 * row.mean))
                }
                if let best = report.realAccuracyMean {
                    Terminal.result(String(format: "best real-%d accuracy: %.2f%% vs GTN-%d %.2f%%",
                                         baseline.steps, 100 * best, result.steps, 100 * result.mean))
                }
            }
        }
        if let realStepsToMatch, let stepsCurve {
            let points = stepsCurve.baselines.compactMap { baseline in baseline.best.map { (steps: baseline.steps, best: $0) } }
            report.realStepsCurve = points.map {
                RealStepsRow(steps: $0.steps, lr: $0.best.learningRate, accuracyMean: $0.best.mean, accuracyStd: standardDeviation($0.best.accuracies))
            }
            report.realStepsToMatch = stepsCurve.steps(toReach: result.mean)
            if !json {
                for point in points {
                    Terminal.result(String(format: "real-%d accuracy (best lr %.2f): %.2f%% ± %.2f",
                                         point.steps, point.best.learningRate, 100 * point.best.mean, 100 * standardDeviation(point.best.accuracies)))
                }
                Terminal.result(report.realStepsToMatch.map {
                    String(format: "real data reaches GTN-%d's %.2f%% after %d steps (%.1f× the teacher's)",
                           result.steps, 100 * result.mean, $0, Double($0) / Double(result.steps))
                } ?? String(format: "real data does not reach GTN-%d's %.2f%% within %d steps", result.steps, 100 * result.mean, realStepsToMatch))
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            Terminal.result(String(decoding: try encoder.encode(report), as: UTF8.self))
        }
    }
}

/// The population standard deviation, as `GTNEvaluation` reports it.
func standardDeviation(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let mean = values.reduce(0, +) / Double(values.count)
    return (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)).squareRoot()
}
