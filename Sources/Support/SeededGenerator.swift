import Foundation

/// A small, fast, seedable generator (xoshiro256**), so that the same seed gives the same run on
/// every platform.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Codable, Equatable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var z = seed
        func splitMix() -> UInt64 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var x = z
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            return x ^ (x >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = (s.3 << 45) | (s.3 >> 19)
        return result
    }

    /// A generator for an independent stream, derived from this one's next value.
    public mutating func split() -> SeededGenerator { SeededGenerator(seed: next()) }

    /// Uniform in [0, 1).
    public mutating func nextUniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in `0..<bound` by rejection (no modulo bias), written out rather than taken from
    /// the standard library so that the sequence cannot change with the toolchain.
    public mutating func nextIndex(below bound: Int) -> Int {
        precondition(bound > 0, "nextIndex(below:): bound must be positive, got \(bound)")
        let b = UInt64(bound)
        let limit = UInt64.max - UInt64.max % b
        while true {
            let r = next()
            if r < limit { return Int(r % b) }
        }
    }

    /// Fisher–Yates shuffle with a toolchain-independent sequence.
    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            a.swapAt(i, nextIndex(below: i + 1))
        }
    }

    /// Standard normal (Box–Muller).
    public mutating func nextNormal() -> Double {
        let u1 = Swift.max(nextUniform(), .leastNonzeroMagnitude), u2 = nextUniform()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * .pi * u2)
    }

    public static func == (a: SeededGenerator, b: SeededGenerator) -> Bool {
        a.s.0 == b.s.0 && a.s.1 == b.s.1 && a.s.2 == b.s.2 && a.s.3 == b.s.3
    }

    enum CodingKeys: CodingKey { case state }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let v = try c.decode([UInt64].self, forKey: .state)
        guard v.count == 4 else { throw DecodingError.dataCorruptedError(forKey: .state, in: c, debugDescription: "expected 4 words") }
        s = (v[0], v[1], v[2], v[3])
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode([s.0, s.1, s.2, s.3], forKey: .state)
    }
}
