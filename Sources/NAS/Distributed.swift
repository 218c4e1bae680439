import Foundation
import GTN

extension NASRunner {
    /// The search over every rank of `communicator` (every rank calls this): rank r evaluates
    /// shard r/size, and rank 0 gathers the shards in rank order and merges them into the report
    /// one process gives (`merge`); the other ranks return nil. With `directory`, each rank saves
    /// its finished candidates there as `run(shard:savingProgressTo:)` does, and a rerun on as many
    /// ranks continues from them.
    public func run(communicator: any Communicator, savingProgressIn directory: URL? = nil,
                    progress: (@Sendable (NASProgress) -> Void)? = nil) throws -> NASReport? {
        let shard = try ShardSpec(index: communicator.rank, count: communicator.size)
        let result = try run(shard: shard, savingProgressTo: directory?.appendingPathComponent(ShardResult.partialFileName(for: shard)),
                             progress: progress)
        let parts = try communicator.gatherToRoot([UInt8](try JSONEncoder().encode(result)))
        guard communicator.rank == 0 else { return nil }
        return try NASRunner.merge(parts.enumerated().map { rank, bytes in
            (name: "rank \(rank)'s shard", result: try JSONDecoder().decode(ShardResult.self, from: Data(bytes)))
        })
    }
}
