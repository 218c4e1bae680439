import ArgumentParser
import Foundation
import GTN

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure a checkpoint's GTN-T test accuracy (and the real-data baseline).",
        discussion: """
        Trains K fresh learners (widths drawn from the preset's ranges with a fixed evaluation seed) for T \
        steps on the teacher's curriculum with its learned learning rates and momenta, then scores them on \
        the 10,000 test images. --real-baseline also trains the same learners for T steps on real batches \
        with SGD (momentum 0.5) for each learning rate in {0.01, 0.02, 0.05, 0.1, 0.2, 0.5}.
        """)

    @Option(help: "Run directory holding checkpoint.safetensors.")
    var checkpoint: String

    @Option(help: "Fresh learners (K).")
    var learners: Int = 8

    @Flag(name: .customLong("real-baseline"), help: "Also train the learners on real data for the same number of steps.")
    var realBaseline = false

    @Flag(help: "Also report the mean accuracy after every inner step.")
    var curve = false

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @Option(help: "Evaluation seed (which learners are drawn).")
    var seed: UInt64 = 1_000_003

    @OptionGroup var data: DataOptions

    func validate() throws { try requirePositive(learners, "--learners") }

    struct Report: Encodable {
        var gtnAccuracyMean: Double
        var gtnAccuracyStd: Double
        var gtnAccuracies: [Double]
        var steps: Int
        var learners: Int
        var outerIterations: Int
        var preset: String
        var curriculum: String
        var accuracyCurve: [Double]?
        var realAccuracyMean: Double?
        var realBestLr: Double?
        var realBaseline: [RealRow]?
        var seconds: Double
    }

    struct RealRow: Encodable { var lr: Double; var accuracyMean: Double; var accuracies: [Double] }

    func run() throws {
        let (configuration, state) = try Checkpoint.load(from: URL(fileURLWithPath: checkpoint))
        let realData = try data.load(quiet: json)
        let evaluator = Evaluator(teacher: state.teacher, data: realData, configuration: configuration)
        let result = try evaluator.gtnAccuracy(learners: learners, seed: seed, curve: curve) { k in
            if !json { Terminal.status("GTN learners: \(k)/\(learners)") }
        }
        var report = Report(gtnAccuracyMean: result.mean, gtnAccuracyStd: result.standardDeviation, gtnAccuracies: result.accuracies,
                            steps: result.steps, learners: learners, outerIterations: state.iteration,
                            preset: configuration.preset.name.rawValue, curriculum: configuration.curriculum.rawValue,
                            accuracyCurve: result.curve, seconds: result.seconds)
        if !json {
            Terminal.line(String(format: "GTN-%d test accuracy after %d outer iterations: %.2f%% ± %.2f over %d learners",
                                 result.steps, state.iteration, 100 * result.mean, 100 * result.standardDeviation, learners))
            if let c = result.curve {
                Terminal.line("accuracy after each step: " + c.map { String(format: "%.1f", 100 * $0) }.joined(separator: " "))
            }
        }
        if realBaseline {
            let runs = Evaluator.baselineLearningRates.count * learners
            let baseline = try evaluator.realBaseline(learners: learners, seed: seed) { n in
                if !json { Terminal.status("real baseline: learner \(n)/\(runs) (\(Evaluator.baselineLearningRates.count) learning rates)") }
            }
            report.realBaseline = baseline.rows.map { RealRow(lr: $0.learningRate, accuracyMean: $0.mean, accuracies: $0.accuracies) }
            report.realAccuracyMean = baseline.best?.mean
            report.realBestLr = baseline.best?.learningRate
            if !json {
                for row in baseline.rows {
                    Terminal.line(String(format: "real-%d accuracy at lr %.2f: %.2f%%", baseline.steps, row.learningRate, 100 * row.mean))
                }
                if let best = baseline.best {
                    Terminal.line(String(format: "best real-%d accuracy: %.2f%% (lr %.2f) vs GTN-%d %.2f%%",
                                         baseline.steps, 100 * best.mean, best.learningRate, result.steps, 100 * result.mean))
                }
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        }
    }
}
