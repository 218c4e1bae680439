import Foundation
import GTN

/// Which part of the candidate list a process evaluates (`ShardAssignment` says which
/// candidates that is). Indices are 0-based: `0/4` … `3/4`.
public struct ShardSpec: Codable, Sendable, Hashable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public static let whole = ShardSpec(uncheckedIndex: 0, count: 1)

    private init(uncheckedIndex index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    public init(index: Int, count: Int) throws {
        guard count >= 1 else { throw NASError("shard count must be at least 1, got \(count)") }
        guard index >= 0 && index < count else {
            throw NASError("shard index \(index) is out of range for \(count) shard\(count == 1 ? "" : "s"): indices are 0-based, 0 to \(count - 1)")
        }
        self.init(uncheckedIndex: index, count: count)
    }

    /// Parses `i/n` (0 ≤ i < n).
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0].trimmingCharacters(in: .whitespaces)),
              let n = Int(parts[1].trimmingCharacters(in: .whitespaces)) else {
            throw NASError("shard '\(text)' is not of the form i/n (e.g. 0/4: the first of four shards)")
        }
        do {
            try self.init(index: i, count: n)
        } catch let error as NASError {
            throw NASError("shard '\(text)': \(error.description)")
        }
    }

    public var description: String { "\(index)/\(count)" }


    /// Environment variables the shard is read from when `--shard` is not given.
    public enum Environment {
        public static let slurmTaskID = "SLURM_ARRAY_TASK_ID"
        public static let slurmTaskCount = "SLURM_ARRAY_TASK_COUNT"
        public static let slurmTaskMin = "SLURM_ARRAY_TASK_MIN"
        public static let slurmTaskMax = "SLURM_ARRAY_TASK_MAX"
        public static let slurmTaskStep = "SLURM_ARRAY_TASK_STEP"
        public static let jobCompletionIndex = "JOB_COMPLETION_INDEX"
        public static let shardCount = "GTN_SHARD_COUNT"
    }

    /// The shard a scheduler assigned, or `nil` when none did.
    /// - SLURM job arrays: index = `SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN` (0 when MIN is
    ///   unset), so `--array=0-7` and `--array=1-8` both give shards 0…7 of
    ///   `SLURM_ARRAY_TASK_COUNT`; arrays with a step or gaps are refused.
    /// - Kubernetes indexed jobs: index = `JOB_COMPLETION_INDEX` (0-based); the count comes from
    ///   `explicitCount` (`--shard-count`) or `GTN_SHARD_COUNT` (set it to the job's completions).
    public static func fromEnvironment(_ environment: [String: String], explicitCount: Int? = nil) throws -> ShardSpec? {
        typealias E = Environment
        func integer(_ name: String) throws -> Int? {
            guard let text = environment[name] else { return nil }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw NASError("environment variable \(name)='\(text)' is not an integer")
            }
            return value
        }
        if let id = try integer(E.slurmTaskID) {
            guard let count = try explicitCount ?? integer(E.slurmTaskCount) else {
                throw NASError("\(E.slurmTaskID) is set but \(E.slurmTaskCount) is not; pass --shard i/n or --shard-count")
            }
            if let step = try integer(E.slurmTaskStep), step != 1 {
                throw NASError("SLURM array step \(step) is not supported: use a contiguous array such as --array=0-\(count - 1)")
            }
            let minimum = try integer(E.slurmTaskMin) ?? 0
            if let maximum = try integer(E.slurmTaskMax), maximum - minimum + 1 != count {
                throw NASError("SLURM array \(minimum)-\(maximum) has gaps (\(E.slurmTaskCount)=\(count)): use a contiguous array")
            }
            do {
                return try ShardSpec(index: id - minimum, count: count)
            } catch let error as NASError {
                throw NASError("from \(E.slurmTaskID)=\(id) (array minimum \(minimum)): \(error.description)")
            }
        }
        if let index = try integer(E.jobCompletionIndex) {
            guard let count = try explicitCount ?? integer(E.shardCount) else {
                throw NASError("\(E.jobCompletionIndex) is set but the number of shards is unknown: pass --shard-count N or set \(E.shardCount) to the job's completions")
            }
            do {
                return try ShardSpec(index: index, count: count)
            } catch let error as NASError {
                throw NASError("from \(E.jobCompletionIndex)=\(index): \(error.description)")
            }
        }
        return nil
    }
}

/// Which shard evaluates which candidate: the longest-processing-time-first rule on the
/// candidates' estimated costs (each candidate, costliest first, goes to the shard with the least
/// work so far), so shards finish at about the same time. Architectures differ in cost by 30×
/// here, and a plain interleaving left one of two shards with 2.5× the other's work. A function of
/// the candidate list alone, so every shard and the merge agree on it.
public struct ShardAssignment: Sendable, Equatable {
    /// The shard index of each candidate.
    public let owners: [Int]
    public let count: Int

    public init(costs: [Double], count: Int) {
        precondition(count >= 1, "ShardAssignment: count must be at least 1")
        self.count = count
        var load = [Double](repeating: 0, count: count)
        var owners = [Int](repeating: 0, count: costs.count)
        let order = costs.indices.sorted { costs[$0] != costs[$1] ? costs[$0] > costs[$1] : $0 < $1 }
        for i in order {
            let shard = load.indices.min { load[$0] != load[$1] ? load[$0] < load[$1] : $0 < $1 } ?? 0
            owners[i] = shard
            load[shard] += costs[i]
        }
        self.owners = owners
    }

    public init(candidates: [LearnerSpec], count: Int) {
        self.init(costs: candidates.map(\.estimatedCost), count: count)
    }

    /// The candidates of `shard`, costliest first (the order a worker pool balances best).
    public func candidates(of shard: ShardSpec, costs: [Double]) -> [Int] {
        precondition(shard.count == count && costs.count == owners.count, "ShardAssignment: shard \(shard) or costs do not fit")
        return owners.indices.filter { owners[$0] == shard.index }
            .sorted { costs[$0] != costs[$1] ? costs[$0] > costs[$1] : $0 < $1 }
    }
}

extension LearnerSpec {
    /// Multiply-adds of one image's forward pass: a cost estimate for balancing work.
    public var estimatedCost: Double {
        var side = 28, channels = 1, total = 0
        for block in blocks {
            total += block.kernel * block.kernel * channels * block.width * side * side
            side /= 2
            channels = block.width
        }
        total += channels * side * side * fc + fc * 10
        return Double(total)
    }
}

public struct NASError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
