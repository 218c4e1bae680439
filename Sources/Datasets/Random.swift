/// xoshiro256** seeded through SplitMix64: small, fast and identical on every platform,
/// so a seed gives the same split and batches everywhere (unlike SystemRandomNumberGenerator).
public struct DataRNG: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        // SplitMix64 expands the seed so that nearby seeds give unrelated states (and never all zeros).
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }

    /// Uniform in `0..<bound` by rejection (no modulo bias). Written out here rather than
    /// using the standard library's so the sequence cannot change with the toolchain.
    mutating func nextIndex(below bound: Int) -> Int {
        let b = UInt64(bound)
        let limit = UInt64.max - UInt64.max % b  // multiples of b fit below this
        while true {
            let r = next()
            if r < limit { return Int(r % b) }
        }
    }

    /// Fisher–Yates shuffle with a toolchain-independent sequence.
    mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            a.swapAt(i, nextIndex(below: i + 1))
        }
    }
}

/// Seeded mini-batch indices: each epoch is a fresh permutation of `0..<count`, consumed
/// `batchSize` at a time without replacement. Every batch has exactly `batchSize` indices; the
/// `count % batchSize` left over at the end of an epoch are dropped (they are different
/// images each epoch), which keeps batch buffers a fixed size.
public struct BatchSampler: Sendable {
    public let count: Int
    public let batchSize: Int
    /// Completed epochs: 0 while the first permutation is being consumed.
    public private(set) var epoch: Int = 0
    private var rng: DataRNG
    private var order: [Int]
    private var position = 0

    public var batchesPerEpoch: Int { count / batchSize }

    public init(count: Int, batchSize: Int, seed: UInt64) {
        precondition(count > 0, "BatchSampler: count must be positive, got \(count)")
        precondition(batchSize > 0 && batchSize <= count, "BatchSampler: batch size \(batchSize) must be in 1...\(count)")
        self.count = count
        self.batchSize = batchSize
        rng = DataRNG(seed: seed)
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
