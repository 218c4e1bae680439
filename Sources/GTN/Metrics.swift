import FileFormats
import Foundation

/// One outer iteration's record, as written to `metrics.jsonl`.
public struct IterationMetrics: Codable, Sendable {
    public var iteration: Int
    /// What the teacher minimises: the real-data loss after the last inner step, plus the one
    /// after every earlier step with intermediate losses.
    public var metaLoss: Double
    /// The real-data loss after the last inner step (absent in metrics written before it was logged).
    public var finalLoss: Double?
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
    /// With `FiniteCheck` on, where a skipped iteration's non-finite values started.
    public var nonFiniteOrigin: String?
}

/// An evaluation's record, as written to `metrics.jsonl`.
public struct EvaluationRecord: Codable, Sendable {
    public var type = "evaluation"
    public var iteration: Int
    /// Seconds since the training process started (or resumed).
    public var elapsedSeconds: Double
    /// The run's meta-training time at this evaluation, over all its processes and with this
    /// evaluation: the clock `--time-limit` counts, which a resume continues. Absent in logs
    /// written before it was recorded.
    public var runElapsedSeconds: Double?
    public var gtnAccuracyMean: Double
    public var gtnAccuracyStd: Double
    public var accuracies: [Double]
    public var steps: Int
    /// The images the learners were scored on; absent (the test set) in logs written before
    /// in-run evaluations could score on validation.
    public var split: EvaluationSplit?

    /// The images the learners were scored on.
    public var scoredOn: EvaluationSplit { split ?? .test }

    public init(iteration: Int, elapsedSeconds: Double, runElapsedSeconds: Double? = nil, split: EvaluationSplit = .test,
                evaluation: GTNEvaluation) {
        self.iteration = iteration
        self.elapsedSeconds = elapsedSeconds
        self.runElapsedSeconds = runElapsedSeconds
        self.split = split
        gtnAccuracyMean = evaluation.mean
        gtnAccuracyStd = evaluation.standardDeviation
        accuracies = evaluation.accuracies
        steps = evaluation.steps
    }
}

/// `metrics.jsonl`: one JSON object per line with snake_case keys, so that pandas, jq and
/// TensorBoard importers read it as it is.
public enum MetricsLog {
    public static let fileName = "metrics.jsonl"

    public static func append(_ value: some Encodable, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try AtomicFile.append(line: String(decoding: try encoder.encode(value), as: UTF8.self), to: url)
    }

    /// Drops rows written after the checkpoint a resumed run restarts from.
    public static func truncate(_ url: URL, afterIteration iteration: Int) throws {
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
