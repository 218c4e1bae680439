import Foundation
import Support
import TensorEngine

/// A space of learner architectures: 1-4 same-padded conv blocks (a kernel and a width from a
/// grid each), then a hidden FC layer of a width from a grid. Meta-training draws its learners
/// from one (`--learner-family search-space`), so the teacher learns to teach what architecture
/// search will ask it to rank; the search samples and mutates candidates in one. Members are
/// `LearnerSpec`s, which print and parse as `c3x48-c5x96-fc128`.
public struct ArchitectureSpace: Sendable, Equatable, CustomStringConvertible {
    public var depths: ClosedRange<Int>
    public var kernels: [Int]
    /// Conv widths (sorted ascending; mutations move to a neighbouring value).
    public var convWidths: [Int]
    /// Hidden FC widths (sorted ascending).
    public var fcWidths: [Int]

    public init(depths: ClosedRange<Int>, kernels: [Int], convWidths: [Int], fcWidths: [Int]) {
        precondition(depths.lowerBound >= 1 && depths.upperBound <= 4, "ArchitectureSpace: depths must lie in 1...4 (28 halved per block)")
        precondition(!kernels.isEmpty && kernels.allSatisfy { $0 > 0 && $0 % 2 == 1 }, "ArchitectureSpace: kernels must be odd and positive")
        precondition(!convWidths.isEmpty && !fcWidths.isEmpty, "ArchitectureSpace: empty width grid")
        self.depths = depths
        self.kernels = kernels
        self.convWidths = convWidths.sorted()
        self.fcWidths = fcWidths.sorted()
    }

    /// The default space. Widths are multiples of 8 around the `cpu` preset's ranges (c1 16-32,
    /// c2 32-64, f 64-128), so the teacher is asked about learners like those it was trained on.
    /// Conv widths stop at 48: a 5×5 block of 64 after another of 64 costs 0.6 s per step on one
    /// core here (4× a 3×3 one), which would make one epoch of ground truth cost minutes.
    public static let standard = ArchitectureSpace(depths: 2...4, kernels: [3, 5], convWidths: [8, 16, 24, 32, 48],
                                                   fcWidths: [32, 64, 96, 128, 192, 256])

    /// The same depths and kernels with every width between the grid's smallest and largest:
    /// what meta-training draws from, so the teacher also sees the widths between grid values.
    public var everyWidthInRange: ArchitectureSpace {
        ArchitectureSpace(depths: depths, kernels: kernels, convWidths: Array(convWidths[0]...convWidths[convWidths.count - 1]),
                          fcWidths: Array(fcWidths[0]...fcWidths[fcWidths.count - 1]))
    }

    public var description: String {
        func list(_ values: [Int]) -> String {
            values.count > 2 && values == Array(values[0]...values[values.count - 1])
                ? "\(values[0])-\(values[values.count - 1])" : values.map(String.init).joined(separator: "/")
        }
        return "depth \(depths.lowerBound)-\(depths.upperBound), kernels \(kernels.map(String.init).joined(separator: "/")), conv widths \(list(convWidths)), fc widths \(list(fcWidths))"
    }

    /// Number of distinct architectures.
    public var size: Double {
        depths.reduce(0.0) { total, d in
            total + Double(fcWidths.count) * pow(Double(kernels.count * convWidths.count), Double(d))
        }
    }

    public func contains(_ spec: LearnerSpec) -> Bool {
        depths.contains(spec.blocks.count) && fcWidths.contains(spec.fc)
            && spec.blocks.allSatisfy { kernels.contains($0.kernel) && convWidths.contains($0.width) }
    }

    /// A uniformly random architecture: depth first, then each block's kernel and width, then the FC width.
    public func sample(using rng: inout SeededGenerator) -> LearnerSpec {
        let depth = depths.lowerBound + rng.nextIndex(below: depths.count)
        let blocks = (0..<depth).map { _ in randomBlock(using: &rng) }
        return LearnerSpec(blocks: blocks, fc: fcWidths[rng.nextIndex(below: fcWidths.count)])
    }

    /// `count` distinct random architectures (fewer only if the space is smaller than `count`).
    public func sampleDistinct(_ count: Int, using rng: inout SeededGenerator) -> [LearnerSpec] {
        var seen = Set<LearnerSpec>()
        var specs: [LearnerSpec] = []
        var attempts = 0
        while specs.count < count && attempts < 100 * count + 1000 {
            attempts += 1
            let spec = sample(using: &rng)
            if seen.insert(spec).inserted { specs.append(spec) }
        }
        return specs
    }

    /// One kind of change, as in aging evolution: a block's kernel, a block's width (to a
    /// neighbouring grid value), the FC width (likewise), or the depth (a block inserted or removed
    /// at a random position). The result differs from `spec` in exactly that one thing.
    public enum Mutation: CaseIterable, Sendable {
        case kernel, convWidth, fcWidth, addBlock, removeBlock
    }

    public func mutate(_ spec: LearnerSpec, using rng: inout SeededGenerator) -> LearnerSpec {
        let applicable = Mutation.allCases.filter { kind in
            switch kind {
            case .kernel: return kernels.count > 1
            case .convWidth: return convWidths.count > 1
            case .fcWidth: return fcWidths.count > 1
            case .addBlock: return spec.blocks.count < depths.upperBound
            case .removeBlock: return spec.blocks.count > depths.lowerBound
            }
        }
        guard !applicable.isEmpty else { return spec }
        var child = spec
        switch applicable[rng.nextIndex(below: applicable.count)] {
        case .kernel:
            let i = rng.nextIndex(below: spec.blocks.count)
            let others = kernels.filter { $0 != spec.blocks[i].kernel }
            child.blocks[i].kernel = others[rng.nextIndex(below: others.count)]
        case .convWidth:
            let i = rng.nextIndex(below: spec.blocks.count)
            child.blocks[i].width = neighbour(of: spec.blocks[i].width, in: convWidths, using: &rng)
        case .fcWidth:
            child.fc = neighbour(of: spec.fc, in: fcWidths, using: &rng)
        case .addBlock:
            child.blocks.insert(randomBlock(using: &rng), at: rng.nextIndex(below: spec.blocks.count + 1))
        case .removeBlock:
            child.blocks.remove(at: rng.nextIndex(below: spec.blocks.count))
        }
        return child
    }

    private func randomBlock(using rng: inout SeededGenerator) -> LearnerSpec.ConvBlock {
        LearnerSpec.ConvBlock(kernel: kernels[rng.nextIndex(below: kernels.count)], width: convWidths[rng.nextIndex(below: convWidths.count)])
    }

    /// The grid value next to `value` (either side at random; the one side at the ends). A value
    /// off the grid moves to its nearest grid value.
    private func neighbour(of value: Int, in grid: [Int], using rng: inout SeededGenerator) -> Int {
        guard let i = grid.firstIndex(of: value) else {
            return grid.min { abs($0 - value) < abs($1 - value) } ?? value
        }
        if i == 0 { return grid[1] }
        if i == grid.count - 1 { return grid[i - 1] }
        return grid[rng.nextIndex(below: 2) == 0 ? i - 1 : i + 1]
    }
}

/// Where fresh learners come from.
public enum LearnerDistribution: Sendable, Equatable {
    /// Two-block learners of the preset's family, widths drawn from these ranges.
    case widths(WidthRanges)
    /// Whole architectures drawn from a space.
    case space(ArchitectureSpace)

    public func sample(using rng: inout SeededGenerator) -> LearnerSpec {
        switch self {
        case .widths(let ranges): LearnerSpec(widths: ranges.sample(using: &rng))
        case .space(let space): space.sample(using: &rng)
        }
    }
}

extension ArchitectureSpace: Codable {
    private enum CodingKeys: String, CodingKey {
        case depths, kernels, convWidths, fcWidths
        /// Checkpoints written before the two space types were one stored ranges here.
        case widths
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let depths = try c.decode(ClosedRange<Int>.self, forKey: .depths)
        let kernels = try c.decode([Int].self, forKey: .kernels)
        let convWidths: [Int], fcWidths: [Int]
        if let legacy = try c.decodeIfPresent(ClosedRange<Int>.self, forKey: .widths) {
            convWidths = Array(legacy)
            fcWidths = Array(try c.decode(ClosedRange<Int>.self, forKey: .fcWidths))
        } else {
            convWidths = try c.decode([Int].self, forKey: .convWidths)
            fcWidths = try c.decode([Int].self, forKey: .fcWidths)
        }
        guard (1...4).contains(depths.lowerBound), depths.upperBound <= 4, !kernels.isEmpty,
              kernels.allSatisfy({ $0 > 0 && $0 % 2 == 1 }), !convWidths.isEmpty, !fcWidths.isEmpty,
              (convWidths + fcWidths).allSatisfy({ $0 > 0 }) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "not a valid architecture space (depths in 1...4, odd kernels, positive widths)"))
        }
        self.init(depths: depths, kernels: kernels, convWidths: convWidths, fcWidths: fcWidths)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(depths, forKey: .depths)
        try c.encode(kernels, forKey: .kernels)
        try c.encode(convWidths, forKey: .convWidths)
        try c.encode(fcWidths, forKey: .fcWidths)
    }
}

extension LearnerSpec {
    /// A stable 64-bit hash of the compact form (FNV-1a), to seed a candidate's evaluation
    /// from what it is rather than where it happens to sit in a list.
    public var stableHash: UInt64 {
        description.utf8.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}
