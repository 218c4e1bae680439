import Foundation
import GTN

/// What a run directory records, read back for reports: `config.json` and `policy.json`, the
/// rows of `metrics.jsonl` and, when present, a saved `gtn eval --json` result (`eval.json`).
public struct RunHistory {
    public var directory: URL
    /// `config.json` flattened to dotted keys ("preset.steps") and their JSON values, in key
    /// order, then `policy.json` under "policy." (the run's evaluation and checkpoint cadences).
    public var settings: [(key: String, value: String)]
    public var iterations: [IterationMetrics]
    public var evaluations: [EvaluationRecord]
    /// A `gtn eval --json` object: real-data baselines and the per-step accuracy curve.
    public var evaluation: [String: Any]?

    /// The file a report looks in for real-data baselines, unless told another.
    public static let evaluationFileName = "eval.json"

    public init(directory: URL, evaluationFile: URL? = nil) throws {
        self.directory = directory
        settings = []
        for (name, prefix) in [(Checkpoint.configurationFileName, ""), (TrainingRun.Policy.fileName, "policy")] {
            let url = directory.appendingPathComponent(name)
            if let data = try? Data(contentsOf: url), let object = try? JSONSerialization.jsonObject(with: data) {
                settings += Self.flatten(object, prefix: prefix)
            }
        }
        let metricsURL = directory.appendingPathComponent(MetricsLog.fileName)
        guard let text = try? String(contentsOf: metricsURL, encoding: .utf8) else {
            throw RunReportError(description: "\(metricsURL.path) is missing or unreadable: is \(directory.path) a `gtn train` run directory?")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        iterations = []
        evaluations = []
        // A crash can leave a partial last line; rows that do not decode are skipped.
        for line in text.split(separator: "\n") {
            let data = Data(line.utf8)
            if line.contains("\"type\":\"evaluation\"") {
                if let row = try? decoder.decode(EvaluationRecord.self, from: data) { evaluations.append(row) }
            } else if let row = try? decoder.decode(IterationMetrics.self, from: data) {
                iterations.append(row)
            }
        }
        let evalURL = evaluationFile ?? directory.appendingPathComponent(Self.evaluationFileName)
        if let data = try? Data(contentsOf: evalURL) {
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw RunReportError(description: "\(evalURL.path) is not a `gtn eval --json` object")
            }
            evaluation = object
        } else if evaluationFile != nil {
            throw RunReportError(description: "cannot read \(evalURL.path)")
        }
    }

    /// The images the saved evaluation scored on (files written before `--split` existed: test).
    public var evaluationSplit: EvaluationSplit {
        (evaluation?["split"] as? String).flatMap(EvaluationSplit.init(rawValue:)) ?? .test
    }

    /// Real-data baselines from the saved evaluation, best first as `gtn eval` names them (with
    /// the split when it is not the test set).
    public var baselines: [(name: String, accuracy: Double)] {
        guard let evaluation else { return [] }
        let steps = (evaluation["steps"] as? Int).map { "-\($0)" } ?? ""
        let split = evaluationSplit == .test ? "" : ", \(evaluationSplit.rawValue)"
        return [("real_grid_accuracy_mean", "real\(steps), best lr of the grid\(split)"),
                ("real_learned_accuracy_mean", "real\(steps), learned lr/momentum\(split)")]
            .compactMap { key, name in (evaluation[key] as? Double).map { (name, $0) } }
    }

    static func flatten(_ value: Any, prefix: String) -> [(key: String, value: String)] {
        if let object = value as? [String: Any] {
            return object.keys.sorted().flatMap { flatten(object[$0]!, prefix: prefix.isEmpty ? $0 : "\(prefix).\($0)") }
        }
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        let text = String(decoding: data, as: UTF8.self)
        // A configuration stores "no limit" (outer iterations of a time-limited run) as Int.max.
        return [(prefix, text == String(Int.max) ? "unlimited" : text)]
    }
}

public struct RunReportError: Error, CustomStringConvertible {
    public let description: String
}
