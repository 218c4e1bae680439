import Support

/// Seeded mini-batch indices: each epoch is a fresh permutation of `0..<count`, consumed
/// `batchSize` at a time without replacement. Every batch has exactly `batchSize` indices; the
/// `count % batchSize` left over at the end of an epoch are dropped (they are different
/// images each epoch), which keeps batch buffers a fixed size.
public struct BatchSampler: Sendable {
    public let count: Int
    public let batchSize: Int
    /// Completed epochs: 0 while the first permutation is being consumed.
    public private(set) var epoch: Int = 0
    private var rng: SeededGenerator
    private var order: [Int]
    private var position = 0

    public var batchesPerEpoch: Int { count / batchSize }

    public init(count: Int, batchSize: Int, seed: UInt64) {
        precondition(count > 0, "BatchSampler: count must be positive, got \(count)")
        precondition(batchSize > 0 && batchSize <= count, "BatchSampler: batch size \(batchSize) must be in 1...\(count)")
        self.count = count
        self.batchSize = batchSize
        rng = SeededGenerator(seed: seed)
        order = Array(0..<count)
        rng.shuffle(&order)
    }

    public mutating func next() -> [Int] {
        if position + batchSize > count {
            rng.shuffle(&order)
            position = 0
            epoch += 1
        }
        defer { position += batchSize }
        return Array(order[position..<position + batchSize])
    }
}
