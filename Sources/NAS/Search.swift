import Foundation
import GTN
import Support
import TensorEngine

/// How candidates are proposed.
public enum SearchStrategy: String, Codable, Sendable, CaseIterable {
    /// N distinct architectures drawn uniformly from the space, all up front.
    case random
    /// Regularized (aging) evolution, Real et al. 2019: tournament selection from a population
    /// whose oldest member dies when a child is born.
    case evolution
}

/// Aging-evolution settings. Children are proposed `childrenPerRound` at a time from the same
/// population and evaluated in parallel; a fixed round size (not the core count) keeps the search
/// the same on every machine.
public struct EvolutionSettings: Codable, Sendable, Equatable {
    public var population: Int
    public var sampleSize: Int
    public var childrenPerRound: Int

    public init(population: Int, sampleSize: Int, childrenPerRound: Int = 4) {
        self.population = population
        self.sampleSize = sampleSize
        self.childrenPerRound = childrenPerRound
    }

    /// A third of the budget for the initial random population (at most 20, at least 2), a
    /// tournament of a third of the population: room for ⅔ of the candidates to be children.
    public static func automatic(candidates: Int) -> EvolutionSettings {
        let population = min(20, max(2, candidates / 3))
        return EvolutionSettings(population: population, sampleSize: max(2, population / 3))
    }
}

/// One evaluated architecture of a search, in the order the search produced it.
public struct SearchRecord: Sendable, Equatable {
    public let spec: LearnerSpec
    public let fitness: Double
}

public enum Search {
    /// `count` distinct random candidates for `seed`: the same list in every process.
    public static func randomCandidates(_ space: ArchitectureSpace, count: Int, seed: UInt64) -> [LearnerSpec] {
        var rng = SeededGenerator(seed: seed ^ 0x5EA2_C4)
        return space.sampleDistinct(count, using: &rng)
    }

    /// Random search: the random candidates, each scored by `fitness`.
    public static func random(_ space: ArchitectureSpace, count: Int, seed: UInt64, workers: Int,
                              fitness: @escaping @Sendable (LearnerSpec) throws -> Double,
                              progress: (@Sendable (Int, SearchRecord) -> Void)? = nil) throws -> [SearchRecord] {
        let specs = randomCandidates(space, count: count, seed: seed)
        let scores = try Parallel.map(specs.count, workers: workers) { i in try fitness(specs[i]) } onResult: { done, i, value in
            progress?(done, SearchRecord(spec: specs[i], fitness: value))
        }
        return zip(specs, scores).map { SearchRecord(spec: $0, fitness: $1) }
    }

    /// Aging evolution until `count` distinct candidates have been evaluated (higher fitness is
    /// better). Deterministic for a seed whatever `workers` is: all random choices are made on this
    /// thread, and only the fitness evaluations run in parallel.
    public static func agingEvolution(_ space: ArchitectureSpace, count: Int, settings: EvolutionSettings, seed: UInt64, workers: Int,
                                      fitness: @escaping @Sendable (LearnerSpec) throws -> Double,
                                      progress: (@Sendable (Int, SearchRecord) -> Void)? = nil) throws -> [SearchRecord] {
        precondition(settings.population >= 1 && settings.sampleSize >= 1 && settings.childrenPerRound >= 1,
                     "agingEvolution: population, sample size and round size must be positive")
        var rng = SeededGenerator(seed: seed ^ 0xE70_1F7)
        var history: [SearchRecord] = []
        var seen = Set<LearnerSpec>()
        func evaluate(_ specs: [LearnerSpec]) throws {
            let offset = history.count
            let scores = try Parallel.map(specs.count, workers: workers) { i in try fitness(specs[i]) } onResult: { done, i, value in
                progress?(offset + done, SearchRecord(spec: specs[i], fitness: value))
            }
            history += zip(specs, scores).map { SearchRecord(spec: $0, fitness: $1) }
        }

        let initial = space.sampleDistinct(min(settings.population, count), using: &rng)
        seen.formUnion(initial)
        try evaluate(initial)
        // Indices into `history`, oldest first.
        var population = Array(history.indices)
        while history.count < count {
            var children: [LearnerSpec] = []
            for _ in 0..<min(settings.childrenPerRound, count - history.count) {
                let contestants = sampleWithoutReplacement(population, min(settings.sampleSize, population.count), using: &rng)
                // Best fitness wins; an exact tie goes to the older candidate.
                let parent = contestants.min { a, b in
                    history[a].fitness != history[b].fitness ? history[a].fitness > history[b].fitness : a < b
                } ?? population[0]
                guard let child = novelChild(of: history[parent].spec, in: space, avoiding: seen, using: &rng) else { break }
                seen.insert(child)
                children.append(child)
            }
            if children.isEmpty { break }  // the space is exhausted
            let first = history.count
            try evaluate(children)
            for index in first..<history.count {
                population.append(index)
                if population.count > settings.population { population.removeFirst() }
            }
        }
        return history
    }

    /// A mutation of `parent` not evaluated before: mutate again (a short random walk) while the
    /// result is known, falling back to a fresh random sample.
    private static func novelChild(of parent: LearnerSpec, in space: ArchitectureSpace, avoiding seen: Set<LearnerSpec>,
                                   using rng: inout SeededGenerator) -> LearnerSpec? {
        var child = space.mutate(parent, using: &rng)
        for _ in 0..<20 where seen.contains(child) { child = space.mutate(child, using: &rng) }
        if !seen.contains(child) { return child }
        for _ in 0..<1000 {
            let fresh = space.sample(using: &rng)
            if !seen.contains(fresh) { return fresh }
        }
        return nil
    }

    private static func sampleWithoutReplacement(_ items: [Int], _ k: Int, using rng: inout SeededGenerator) -> [Int] {
        var pool = items
        for i in 0..<k { pool.swapAt(i, i + rng.nextIndex(below: pool.count - i)) }
        return Array(pool[..<k])
    }
}
