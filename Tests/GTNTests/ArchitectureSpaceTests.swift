import Foundation
import Support
import TensorEngine
import XCTest
@testable import GTN

final class ArchitectureSpaceTests: XCTestCase {
    func testSpecsPrintAndParseRoundTrip() throws {
        var rng = SeededGenerator(seed: 1)
        for _ in 0..<200 {
            let spec = ArchitectureSpace.standard.sample(using: &rng)
            XCTAssertEqual(LearnerSpec(parsing: spec.description), spec, spec.description)
        }
        let spec = try XCTUnwrap(LearnerSpec(parsing: "c3x48-c5x96-fc128"))
        XCTAssertEqual(spec.blocks, [.init(kernel: 3, width: 48), .init(kernel: 5, width: 96)])
        XCTAssertEqual(spec.fc, 128)
        XCTAssertEqual(spec.description, "c3x48-c5x96-fc128")
    }

    func testBadSpecStringsAreRejected() {
        for text in ["", "fc128", "c3x48", "c3x48-fc", "c3x48-fc0", "c4x48-fc128", "c3x0-fc128", "c3-fc128", "x3x48-fc128",
                     "c3x48x2-fc128", "c3x48-c3x48-c3x48-c3x48-c3x48-fc64", "c3xa-fc128", "c3x48-fc-5"] {
            XCTAssertNil(LearnerSpec(parsing: text), "'\(text)' should not parse")
        }
    }

    func testSamplingCoversTheSpaceAndRespectsItsBounds() {
        let space = ArchitectureSpace.standard
        var rng = SeededGenerator(seed: 2)
        var depths = Set<Int>(), kernels = Set<Int>(), widths = Set<Int>(), fcs = Set<Int>()
        for _ in 0..<500 {
            let spec = space.sample(using: &rng)
            XCTAssertTrue(space.contains(spec), spec.description)
            XCTAssertTrue((2...4).contains(spec.blocks.count))
            depths.insert(spec.blocks.count)
            spec.blocks.forEach { kernels.insert($0.kernel); widths.insert($0.width) }
            fcs.insert(spec.fc)
            // Every sample builds a learner whose parameters initialize (depth 4 still fits 28×28).
            XCTAssertGreaterThanOrEqual(spec.finalSide, 1)
        }
        XCTAssertEqual(depths, [2, 3, 4])
        XCTAssertEqual(kernels, [3, 5])
        XCTAssertEqual(widths, Set(space.convWidths))
        XCTAssertEqual(fcs, Set(space.fcWidths))
        XCTAssertFalse(space.contains(LearnerSpec(blocks: [.init(kernel: 3, width: 16)], fc: 64)), "depth 1 is outside")
        XCTAssertFalse(space.contains(LearnerSpec(blocks: [.init(kernel: 7, width: 16), .init(kernel: 3, width: 16)], fc: 64)))
        XCTAssertFalse(space.contains(LearnerSpec(blocks: [.init(kernel: 3, width: 17), .init(kernel: 3, width: 16)], fc: 64)))
    }

    func testSampleDistinctGivesDistinctSpecs() {
        var rng = SeededGenerator(seed: 3)
        let specs = ArchitectureSpace.standard.sampleDistinct(300, using: &rng)
        XCTAssertEqual(specs.count, 300)
        XCTAssertEqual(Set(specs).count, 300)
        // A space of 2 architectures cannot give 3.
        let tiny = ArchitectureSpace(depths: 2...2, kernels: [3], convWidths: [8], fcWidths: [16, 32])
        XCTAssertEqual(tiny.sampleDistinct(3, using: &rng).count, 2)
    }

    /// What changed between a parent and its child; exactly one entry for a valid mutation.
    private func changes(_ a: LearnerSpec, _ b: LearnerSpec) -> [String] {
        var result: [String] = []
        if a.fc != b.fc { result.append("fc") }
        if a.blocks.count == b.blocks.count {
            for (x, y) in zip(a.blocks, b.blocks) {
                if x.kernel != y.kernel { result.append("kernel") }
                if x.width != y.width { result.append("width") }
            }
        } else {
            let (long, short) = a.blocks.count > b.blocks.count ? (a.blocks, b.blocks) : (b.blocks, a.blocks)
            let removable = long.count == short.count + 1 && long.indices.contains { i in
                var copy = long
                copy.remove(at: i)
                return copy == short
            }
            result.append(removable ? "depth" : "blocks rewritten")
        }
        return result
    }

    func testMutationChangesExactlyOneThing() {
        let space = ArchitectureSpace.standard
        var rng = SeededGenerator(seed: 4)
        var kinds = Set<String>()
        for _ in 0..<1000 {
            let parent = space.sample(using: &rng)
            let child = space.mutate(parent, using: &rng)
            let changed = changes(parent, child)
            XCTAssertEqual(changed.count, 1, "\(parent) → \(child): \(changed)")
            XCTAssertTrue(space.contains(child), "\(parent) → \(child) left the space")
            if let kind = changed.first {
                kinds.insert(kind == "depth" ? (child.blocks.count > parent.blocks.count ? "add" : "remove") : kind)
            }
            // Width changes move to a neighbouring grid value.
            if changed == ["width"] || changed == ["fc"] {
                let pairs = zip(parent.blocks.map(\.width) + [parent.fc], child.blocks.map(\.width) + [child.fc]).filter { $0 != $1 }
                for (x, y) in pairs {
                    let grid = changed == ["fc"] ? space.fcWidths : space.convWidths
                    let i = grid.firstIndex(of: x) ?? -10, j = grid.firstIndex(of: y) ?? 10
                    XCTAssertEqual(abs(i - j), 1, "\(x) → \(y) is not a neighbouring grid value")
                }
            }
        }
        XCTAssertEqual(kinds, ["fc", "kernel", "width", "add", "remove"])
    }

    func testMutationRespectsDepthBounds() {
        let space = ArchitectureSpace.standard
        var rng = SeededGenerator(seed: 5)
        let shallow = LearnerSpec(blocks: [.init(kernel: 3, width: 16), .init(kernel: 3, width: 32)], fc: 64)
        let deep = LearnerSpec(blocks: Array(repeating: .init(kernel: 3, width: 16), count: 4), fc: 64)
        for _ in 0..<300 {
            XCTAssertGreaterThanOrEqual(space.mutate(shallow, using: &rng).blocks.count, 2)
            XCTAssertLessThanOrEqual(space.mutate(deep, using: &rng).blocks.count, 4)
        }
    }

    /// Checkpoints of `--learner-family search-space` runs made before the two space types were
    /// one stored width ranges; they still load, as the space of every width in those ranges.
    func testLegacyRangeEncodingDecodesAndTheCurrentOneRoundTrips() throws {
        let legacy = #"{"depths":[2,4],"kernels":[3,5],"widths":[8,48],"fcWidths":[32,256]}"#
        let decoded = try JSONDecoder().decode(ArchitectureSpace.self, from: Data(legacy.utf8))
        XCTAssertEqual(decoded, ArchitectureSpace.standard.everyWidthInRange)
        XCTAssertEqual(decoded.convWidths.count, 41)
        let space = ArchitectureSpace.standard
        XCTAssertEqual(try JSONDecoder().decode(ArchitectureSpace.self, from: JSONEncoder().encode(space)), space)
        for bad in [#"{"depths":[0,4],"kernels":[3],"convWidths":[8],"fcWidths":[32]}"#,
                    #"{"depths":[2,4],"kernels":[4],"convWidths":[8],"fcWidths":[32]}"#,
                    #"{"depths":[2,4],"kernels":[3],"convWidths":[],"fcWidths":[32]}"#] {
            XCTAssertThrowsError(try JSONDecoder().decode(ArchitectureSpace.self, from: Data(bad.utf8)), bad)
        }
    }
}
