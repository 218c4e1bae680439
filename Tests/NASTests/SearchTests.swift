import GTN
import Support
import TensorEngine
import XCTest
@testable import NAS

final class SearchTests: XCTestCase {
    /// A smooth synthetic fitness with its optimum at depth 3, kernel 5, width 32 everywhere and
    /// fc 128: higher is better, 0 at the optimum.
    static let target = LearnerSpec(blocks: Array(repeating: .init(kernel: 5, width: 32), count: 3), fc: 128)
    static let fitness: @Sendable (LearnerSpec) -> Double = { spec in
        let space = ArchitectureSpace.standard
        func position(_ w: Int, _ grid: [Int]) -> Double { Double(grid.firstIndex(of: w) ?? 0) }
        var distance = 2 * Double(abs(spec.blocks.count - 3))
        distance += abs(position(spec.fc, space.fcWidths) - position(128, space.fcWidths))
        for block in spec.blocks {
            distance += abs(position(block.width, space.convWidths) - position(32, space.convWidths))
            distance += block.kernel == 5 ? 0 : 1
        }
        return -distance
    }

    func testRandomSearchIsDeterministicForASeed() throws {
        let a = try Search.random(.standard, count: 40, seed: 9, workers: 2, fitness: Self.fitness)
        let b = try Search.random(.standard, count: 40, seed: 9, workers: 1, fitness: Self.fitness)
        let c = try Search.random(.standard, count: 40, seed: 10, workers: 2, fitness: Self.fitness)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a.map(\.spec), c.map(\.spec))
        XCTAssertEqual(Set(a.map(\.spec)).count, 40, "candidates are distinct")
        XCTAssertEqual(a.map(\.spec), Search.randomCandidates(.standard, count: 40, seed: 9))
    }

    func testAgingEvolutionIsDeterministicWhateverTheWorkerCount() throws {
        let settings = EvolutionSettings(population: 8, sampleSize: 3, childrenPerRound: 4)
        let a = try Search.agingEvolution(.standard, count: 40, settings: settings, seed: 5, workers: 1, fitness: Self.fitness)
        let b = try Search.agingEvolution(.standard, count: 40, settings: settings, seed: 5, workers: 3, fitness: Self.fitness)
        let c = try Search.agingEvolution(.standard, count: 40, settings: settings, seed: 6, workers: 3, fitness: Self.fitness)
        XCTAssertEqual(a.count, 40)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a.map(\.spec), c.map(\.spec))
        XCTAssertEqual(Set(a.map(\.spec)).count, 40, "no architecture is evaluated twice")
    }

    func testEvolutionBeatsRandomSearchOnASmoothFitness() throws {
        var evolutionBest: [Double] = [], randomBest: [Double] = []
        for seed in UInt64(0)..<8 {
            let evolved = try Search.agingEvolution(.standard, count: 80, settings: .automatic(candidates: 80), seed: seed, workers: 1,
                                                    fitness: Self.fitness)
            let random = try Search.random(.standard, count: 80, seed: seed, workers: 1, fitness: Self.fitness)
            evolutionBest.append(evolved.map(\.fitness).max() ?? -.infinity)
            randomBest.append(random.map(\.fitness).max() ?? -.infinity)
        }
        let evolutionMean = evolutionBest.reduce(0, +) / 8, randomMean = randomBest.reduce(0, +) / 8
        XCTAssertGreaterThan(evolutionMean, randomMean + 1, "evolution \(evolutionBest) vs random \(randomBest)")
    }

    func testProgressCountsEveryCandidateOnce() throws {
        let seen = Locked<[Int]>([])
        _ = try Search.agingEvolution(.standard, count: 13, settings: EvolutionSettings(population: 5, sampleSize: 2, childrenPerRound: 3),
                                      seed: 1, workers: 2, fitness: Self.fitness) { done, _ in seen.withLock { $0.append(done) } }
        XCTAssertEqual(seen.withLock { $0 }, Array(1...13))
    }

    func testAnErrorInOneEvaluationStopsTheSearch() {
        struct Boom: Error {}
        XCTAssertThrowsError(try Search.random(.standard, count: 10, seed: 1, workers: 2) { spec in
            if spec.blocks.count == 3 { throw Boom() }
            return 0
        }) { XCTAssertTrue($0 is Boom) }
    }
}
