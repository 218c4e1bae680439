import Datasets
import FileFormats
import Foundation
import GTN
import Support
import TensorEngine

/// Everything that decides a search's results. Part of every shard file's fingerprint.
public struct NASConfiguration: Codable, Sendable, Equatable {
    public var strategy: SearchStrategy = .random
    public var candidates = 30
    public var seed: UInt64 = 0
    public var space: ArchitectureSpace = .standard
    /// `nil`: `EvolutionSettings.automatic(candidates:)`.
    public var evolution: EvolutionSettings?
    public var training = RealTrainingSettings()

    public init() {}

    public var evolutionSettings: EvolutionSettings { evolution ?? .automatic(candidates: candidates) }
    public var measuresGroundTruth: Bool { training.groundTruthEpochs > 0 }
}

/// What identifies a run: shards merge only when these agree exactly.
public struct RunFingerprint: Codable, Sendable, Equatable {
    public var format = NASRunner.format
    /// The teacher's identity: the checkpoint file's SHA-256 for a checkpoint.
    public var teacher: String
    public var teacherIteration: Int
    /// T: the GTN proxy's steps.
    public var teacherSteps: Int
    public var dataset: String
    public var configuration: NASConfiguration
    /// SHA-256 of the candidate list: shards of one run propose exactly the same candidates.
    public var candidatesDigest: String

    /// Dotted paths of the fields that differ, as the shard files spell them, e.g. `configuration.seed`.
    public func differences(from other: RunFingerprint) -> [String] {
        func flatten(_ value: Any, _ prefix: String, into out: inout [String: String]) {
            if let dictionary = value as? [String: Any] {
                for (key, child) in dictionary { flatten(child, prefix.isEmpty ? key : "\(prefix).\(key)", into: &out) }
            } else {
                out[prefix] = "\(value)"
            }
        }
        func fields(_ f: RunFingerprint) -> [String: String] {
            var out: [String: String] = [:]
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            if let data = try? encoder.encode(f), let object = try? JSONSerialization.jsonObject(with: data) {
                flatten(object, "", into: &out)
            }
            return out
        }
        let a = fields(self), b = fields(other)
        return Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
    }
}

/// One candidate's scores. Accuracies are on the validation set; seconds are the wall time of
/// that proxy for this candidate (one core each: candidates run in parallel, kernels serially).
public struct CandidateResult: Codable, Sendable, Equatable {
    public var index: Int
    public var candidate: String
    public var parameters: Int
    public var gtnAccuracy: Double
    public var gtnSeconds: Double
    public var real32Accuracy: Double?
    public var real32Seconds: Double?
    public var real128Accuracy: Double?
    public var real128Seconds: Double?
    public var groundTruthAccuracy: Double?
    public var groundTruthSeconds: Double?
}

/// What one process writes: its share of the rows and the run's fingerprint.
public struct ShardResult: Codable, Sendable {
    public var format = NASRunner.format
    public var fingerprint: RunFingerprint
    public var shard: ShardSpec
    /// The whole run's candidates, in order (the same in every shard).
    public var candidates: [String]
    /// This shard's candidates (see `ShardAssignment`), in index order.
    public var rows: [CandidateResult]
    /// Generating the teacher's curriculum once (per process).
    public var generationSeconds: Double
    public var wallSeconds: Double
}

/// Progress of a run, reported as candidates finish.
public struct NASProgress: Sendable {
    public enum Phase: String, Sendable {
        /// Proposing candidates and scoring them with the GTN proxy.
        case search
        /// The real-data proxies and ground truth (and, for random search, the GTN proxy).
        case evaluation
    }
    public let phase: Phase
    public let done: Int
    public let total: Int
    public let candidate: String
    /// The finished candidate's score (ground truth when measured, else the GTN proxy).
    public let accuracy: Double
    /// What `accuracy` and `bestAccuracy` measure: "GTN proxy" or "ground truth".
    public let measure: String
    /// The best so far in this phase: by ground truth when it is measured, else by the GTN proxy.
    public let best: String
    public let bestAccuracy: Double
    public let elapsed: Double
    /// Of `done`, the candidates an earlier process finished (a continued run): not in `elapsed`.
    public var doneBefore = 0

    public var eta: Double { done > doneBefore ? elapsed / Double(done - doneBefore) * Double(total - done) : .nan }
}

/// Runs (a shard of) an architecture search and merges shards into the report.
public struct NASRunner: Sendable {
    public static let format = "gtn-nas/2"

    public let configuration: NASConfiguration
    public let proxy: GTNProxy
    public let teacherIdentity: String
    public let teacherIteration: Int
    public let dataset: String
    /// Candidates evaluated at once (the kernels run on one thread each meanwhile).
    public var workers: Int

    public init(configuration: NASConfiguration, teacher: Teacher, teacherIdentity: String, teacherIteration: Int,
                data: RealData, dataset: String, workers: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.configuration = configuration
        self.teacherIdentity = teacherIdentity
        self.teacherIteration = teacherIteration
        self.dataset = dataset
        self.workers = max(1, workers)
        // Kernels run serially on this thread (thread-locally): candidates are evaluated side by
        // side instead (`Parallel.map` with `workers`), which uses small models' cores far better.
        proxy = Parallel.serially {
            GTNProxy(teacher: teacher, trainer: RealTrainer(data: data, settings: configuration.training, seed: configuration.seed))
        }
    }

    public var trainer: RealTrainer { proxy.trainer }

    /// Evaluates this shard's candidates. Random search draws the candidate list from the seed;
    /// evolution runs the whole (GTN-proxy) search in every shard, identically, and shards only
    /// the real-data work, which is where nearly all the time goes.
    ///
    /// With `partial`, every finished candidate is saved there at once (atomically: the shard
    /// result so far), and a run that finds the file continues from it, evaluating only the
    /// candidates it lacks: a killed search loses at most the candidates in flight. A candidate's
    /// results depend only on the fingerprint, so the ones skipped would have come out the same;
    /// a file of another run is refused. The caller deletes the file once the results are safe.
    public func run(shard: ShardSpec = .whole, savingProgressTo partial: URL? = nil,
                    progress: (@Sendable (NASProgress) -> Void)? = nil) throws -> ShardResult {
        let start = Date()
        return try Parallel.serially {
            let c = configuration
            var gtn: [String: Measurement] = [:]
            let specs: [LearnerSpec]
            switch c.strategy {
            case .random:
                specs = Search.randomCandidates(c.space, count: c.candidates, seed: c.seed)
            case .evolution:
                let tracker = BestTracker(phase: .search, measure: "GTN proxy", total: c.candidates, progress: progress)
                let measured = Locked<[String: Measurement]>([:])
                let proxy = self.proxy
                let history = try Search.agingEvolution(c.space, count: c.candidates, settings: c.evolutionSettings, seed: c.seed,
                                                        workers: workers, fitness: { spec in
                                                            let m = try proxy.score(spec)
                                                            measured.withLock { $0[spec.description] = m }
                                                            return m.accuracy
                                                        }, progress: { done, record in
                                                            tracker.report(done: done, candidate: record.spec.description, accuracy: record.fitness)
                                                        })
                specs = history.map(\.spec)
                gtn = measured.withLock { $0 }
            }
            let names = specs.map(\.description)
            let fingerprint = RunFingerprint(teacher: teacherIdentity, teacherIteration: teacherIteration, teacherSteps: proxy.steps, dataset: dataset,
                                             configuration: c, candidatesDigest: Self.digest(names))
            let costs = specs.map(\.estimatedCost)
            let owned = ShardAssignment(costs: costs, count: shard.count).candidates(of: shard, costs: costs)
            var sofar = ShardResult(fingerprint: fingerprint, shard: shard, candidates: names, rows: [],
                                    generationSeconds: proxy.generationSeconds, wallSeconds: 0)
            var earlierSeconds = 0.0
            if let partial, FileManager.default.fileExists(atPath: partial.path) {
                let saved = try ShardResult.read(from: partial)
                try saved.checkContinues(sofar, ownedBy: owned, file: partial.path)
                sofar.rows = saved.rows
                earlierSeconds = saved.wallSeconds
            }
            let finished = Set(sofar.rows.map(\.index))
            let remaining = owned.filter { !finished.contains($0) }
            let tracker = BestTracker(phase: .evaluation, measure: c.measuresGroundTruth ? "ground truth" : "GTN proxy", total: owned.count,
                                      finished: sofar.rows.map { ($0.candidate, $0.groundTruthAccuracy ?? $0.gtnAccuracy) }, progress: progress)
            let knownGTN = gtn
            let saved = Locked(sofar)
            _ = try Parallel.map(remaining.count, workers: workers) { k in
                let row = try evaluate(index: remaining[k], spec: specs[remaining[k]], gtn: knownGTN[specs[remaining[k]].description])
                try saved.withLock { result in
                    result.rows.append(row)
                    if let partial {
                        result.wallSeconds = earlierSeconds + Date().timeIntervalSince(start)
                        try result.write(to: partial)
                    }
                }
                return row
            } onResult: { done, _, row in
                tracker.report(done: finished.count + done, candidate: row.candidate, accuracy: row.groundTruthAccuracy ?? row.gtnAccuracy)
            }
            var result = saved.withLock { $0 }
            result.rows.sort { $0.index < $1.index }
            result.wallSeconds = earlierSeconds + Date().timeIntervalSince(start)
            return result
        }
    }

    private func evaluate(index: Int, spec: LearnerSpec, gtn known: Measurement?) throws -> CandidateResult {
        let gtn = try known ?? proxy.score(spec)
        let (_, initial) = trainer.learner(for: spec)
        var row = CandidateResult(index: index, candidate: spec.description, parameters: initial.scalarCount,
                                  gtnAccuracy: gtn.accuracy, gtnSeconds: gtn.seconds)
        guard configuration.measuresGroundTruth else { return row }
        let short = try trainer.proxy(spec, steps: configuration.training.shortProxySteps)
        let long = try trainer.proxy(spec, steps: configuration.training.longProxySteps)
        let truth = try trainer.groundTruth(spec)
        row.real32Accuracy = short.accuracy
        row.real32Seconds = short.seconds
        row.real128Accuracy = long.accuracy
        row.real128Seconds = long.seconds
        row.groundTruthAccuracy = truth.accuracy
        row.groundTruthSeconds = truth.seconds
        return row
    }

    static func digest(_ names: [String]) -> String {
        Digest.hex(Digest.sha256(Array(names.joined(separator: "\n").utf8)))
    }

    /// Combines the shards of one run (any order) into its report, refusing shards of different
    /// runs, duplicates and gaps. `shards` pairs each result with a name for messages (its file).
    public static func merge(_ shards: [(name: String, result: ShardResult)]) throws -> NASReport {
        guard let (firstName, first) = shards.first else { throw NASError("nothing to merge: no shard results given") }
        for (name, shard) in shards where shard.format != format {
            throw NASError("\(name): format '\(shard.format)' is not '\(format)' (written by another version of gtn?)")
        }
        for (name, shard) in shards.dropFirst() where shard.fingerprint != first.fingerprint {
            let fields = shard.fingerprint.differences(from: first.fingerprint)
            throw NASError("\(name) and \(firstName) are shards of different runs (they differ in \(fields.joined(separator: ", ")))")
        }
        let count = first.shard.count
        var byIndex: [Int: String] = [:]
        for (name, shard) in shards {
            guard shard.shard.count == count, shard.shard.index >= 0, shard.shard.index < count else {
                throw NASError("\(name) is shard \(shard.shard) but \(firstName) is one of \(count) shards")
            }
            if let other = byIndex[shard.shard.index] {
                throw NASError("shard \(shard.shard) is given twice: \(other) and \(name)")
            }
            byIndex[shard.shard.index] = name
            guard shard.candidates == first.candidates else {
                throw NASError("\(name) and \(firstName) list different candidates")
            }
        }
        let missing = (0..<count).filter { byIndex[$0] == nil }
        guard missing.isEmpty else {
            throw NASError("missing shard\(missing.count == 1 ? "" : "s") \(missing.map { "\($0)/\(count)" }.joined(separator: ", ")) of \(count): merge needs every shard's result file")
        }
        var specs: [LearnerSpec] = []
        for name in first.candidates {
            guard let spec = LearnerSpec(parsing: name) else { throw NASError("\(firstName): candidate '\(name)' is not an architecture") }
            specs.append(spec)
        }
        let assignment = ShardAssignment(candidates: specs, count: count)
        var rows: [CandidateResult?] = Array(repeating: nil, count: first.candidates.count)
        for (name, shard) in shards {
            for row in shard.rows {
                guard row.index >= 0, row.index < rows.count, assignment.owners[row.index] == shard.shard.index,
                      row.candidate == first.candidates[row.index] else {
                    throw NASError("\(name): row \(row.index) (\(row.candidate)) does not belong to shard \(shard.shard)")
                }
                guard rows[row.index] == nil else { throw NASError("\(name): candidate \(row.index) appears twice") }
                rows[row.index] = row
            }
        }
        let complete = rows.compactMap { $0 }
        guard complete.count == rows.count else {
            let absent = rows.indices.filter { rows[$0] == nil }
            throw NASError("the shards lack candidates \(absent.map(String.init).joined(separator: ", ")) (an interrupted shard?)")
        }
        return NASReport(fingerprint: first.fingerprint, rows: complete, shards: count,
                         generationSeconds: shards.map(\.result.generationSeconds).max() ?? 0,
                         wallSeconds: shards.map(\.result.wallSeconds).max() ?? 0)
    }
}

/// Tracks the best candidate of a phase and forwards progress.
final class BestTracker: @unchecked Sendable {
    private let lock = NSLock()
    private let phase: NASProgress.Phase
    private let measure: String
    private let total: Int
    private let progress: (@Sendable (NASProgress) -> Void)?
    private let start = Date()
    private var best: (String, Double)?
    private let doneBefore: Int

    /// `finished`: candidates and scores of this phase done before (by an earlier process).
    init(phase: NASProgress.Phase, measure: String, total: Int, finished: [(String, Double)] = [],
         progress: (@Sendable (NASProgress) -> Void)?) {
        self.phase = phase
        self.measure = measure
        self.total = total
        self.progress = progress
        doneBefore = finished.count
        best = finished.reduce(nil) { best, row in best.map { row.1 > $0.1 ? row : $0 } ?? row }
    }

    func report(done: Int, candidate: String, accuracy: Double) {
        lock.lock()
        defer { lock.unlock() }
        if best.map({ accuracy > $0.1 }) ?? true { best = (candidate, accuracy) }
        guard let progress, let best else { return }
        progress(NASProgress(phase: phase, done: done, total: total, candidate: candidate, accuracy: accuracy, measure: measure, best: best.0, bestAccuracy: best.1,
                             elapsed: Date().timeIntervalSince(start), doneBefore: doneBefore))
    }
}
