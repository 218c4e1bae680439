import Foundation
import GTN

extension NASRunner {
    /// The search over every rank of `communicator` (every rank calls this): rank r evaluates
    /// shard r/size, and rank 0 gathers the shards in rank order and merges them into the report
    /// one process gives (`merge`); the other ranks return nil.
    public func run(communicator: any Communicator, progress: (@Sendable (NASProgress) -> Void)? = nil) throws -> NASReport? {
        let shard = try ShardSpec(index: communicator.rank, count: communicator.size)
        let result = try run(shard: shard, progress: progress)
        let parts = try communicator.gatherToRoot([UInt8](try JSONEncoder().encode(result)))
        guard communicator.rank == 0 else { return nil }
        return try NASRunner.merge(parts.enumerated().map { rank, bytes in
            (name: "rank \(rank)'s shard", result: try JSONDecoder().decode(ShardResult.self, from: Data(bytes)))
        })
    }
}
