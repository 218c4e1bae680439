import Datasets
import Foundation
import GTN
import GTNTestSupport
import Support
import TensorEngine
import TestSupport
import XCTest
@testable import NAS

/// Shards, merging and the proxies, on a tiny teacher and random images (no MNIST needed).
final class RunTests: XCTestCase {
    static let teacher: Teacher = {
        var rng = SeededGenerator(seed: 11)
        return Teacher(preset: TinyRun.preset, curriculum: .full, using: &rng)
    }()

    static let data = RealData(splits: syntheticSplits(train: 20, validation: 10, test: 10, seed: 3))

    static func configuration(strategy: SearchStrategy = .random, seed: UInt64 = 1) -> NASConfiguration {
        var c = NASConfiguration()
        c.strategy = strategy
        c.candidates = 6
        c.seed = seed
        c.space = ArchitectureSpace(depths: 2...3, kernels: [3, 5], convWidths: [2, 4], fcWidths: [4, 8])
        c.evolution = EvolutionSettings(population: 3, sampleSize: 2, childrenPerRound: 2)
        c.training.shortProxySteps = 1
        c.training.longProxySteps = 3
        c.training.batchSize = 10
        c.training.groundTruthEpochs = 1
        c.training.finalEpochs = 1
        return c
    }

    static func runner(_ configuration: NASConfiguration, workers: Int = 2, teacherIdentity: String = "tiny") -> NASRunner {
        NASRunner(configuration: configuration, teacher: teacher, teacherIdentity: teacherIdentity, teacherIteration: 0,
                  data: data, dataset: "synthetic", workers: workers)
    }

    /// Single-process results, computed once per strategy (with 3 workers; the shards below use 1).
    nonisolated(unsafe) private static var singleRuns: [SearchStrategy: ShardResult] = [:]
    static func single(_ strategy: SearchStrategy = .random) throws -> ShardResult {
        if let done = singleRuns[strategy] { return done }
        let result = try runner(configuration(strategy: strategy), workers: 3).run()
        singleRuns[strategy] = result
        return result
    }

    /// Splits a single-process result into the shard files `count` processes would write.
    static func split(_ result: ShardResult, into count: Int) throws -> [ShardResult] {
        let assignment = ShardAssignment(candidates: result.candidates.compactMap { LearnerSpec(parsing: $0) }, count: count)
        return try (0..<count).map { i in
            var shard = result
            shard.shard = try ShardSpec(index: i, count: count)
            shard.rows = result.rows.filter { assignment.owners[$0.index] == i }
            return shard
        }
    }

    /// A report with every measured time zeroed: what must agree between a single process and merged shards.
    func timeless(_ report: NASReport) -> NASReport {
        var r = report
        r.proxySecondsGtn = 0
        r.proxySecondsReal32 = r.proxySecondsReal32.map { _ in 0 }
        r.proxySecondsReal128 = r.proxySecondsReal128.map { _ in 0 }
        r.groundTruthSeconds = r.groundTruthSeconds.map { _ in 0 }
        r.generationSeconds = 0
        r.wallSeconds = 0
        r.shards = 0
        r.rows = timeless(r.rows)
        r.finalTraining?.seconds = 0
        return r
    }

    func testMergedShardsGiveTheSingleProcessReport() throws {
        for strategy in SearchStrategy.allCases {
            let runner = Self.runner(Self.configuration(strategy: strategy))
            var single = try NASRunner.merge([(name: "single", result: Self.single(strategy))])
            single.record(try runner.trainer.trainFully(try XCTUnwrap(LearnerSpec(parsing: single.bestCandidate))))

            // Three shards, each in its own "process" (fresh runner, one worker where the single run
            // had three), through files, merged out of order.
            let directory = try temporaryDirectory()
            var files: [URL] = []
            for i in [2, 0, 1] {
                let shard = try ShardSpec(index: i, count: 3)
                let result = try Self.runner(Self.configuration(strategy: strategy), workers: 1).run(shard: shard)
                let assignment = ShardAssignment(candidates: result.candidates.compactMap { LearnerSpec(parsing: $0) }, count: 3)
                XCTAssertEqual(result.rows.map(\.index), (0..<6).filter { assignment.owners[$0] == i }, "\(strategy)")
                XCTAssertFalse(result.rows.isEmpty, "every shard gets work")
                let url = directory.appendingPathComponent(ShardResult.fileName(for: shard))
                try result.write(to: url)
                files.append(url)
            }
            var merged = try NASRunner.merge(files.map { (name: $0.lastPathComponent, result: try ShardResult.read(from: $0)) })
            XCTAssertEqual(merged.shards, 3)
            let trainer = RealTrainer(data: Self.data, settings: merged.fingerprint.configuration.training,
                                      seed: merged.fingerprint.configuration.seed)
            merged.record(try trainer.trainFully(try XCTUnwrap(LearnerSpec(parsing: merged.bestCandidate))))

            XCTAssertEqual(single.rows.count, 6)
            XCTAssertNotNil(single.spearmanGtn, "\(strategy)")
            XCTAssertNotNil(single.bestTestAccuracy)
            XCTAssertEqual(String(decoding: try timeless(merged).json(), as: UTF8.self),
                           String(decoding: try timeless(single).json(), as: UTF8.self), "\(strategy)")
        }
    }

    func testMergingShardsOfDifferentRunsFails() throws {
        let shards = try Self.split(Self.single(), into: 2)
        var otherSeed = shards[1]
        otherSeed.fingerprint.configuration.seed = 2
        XCTAssertThrowsError(try NASRunner.merge([(name: "a.json", result: shards[0]), (name: "b.json", result: otherSeed)])) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("different runs"), message)
            XCTAssertTrue(message.contains("configuration.seed"), message)
            XCTAssertTrue(message.contains("a.json") && message.contains("b.json"), message)
        }
        var otherTeacher = shards[1]
        otherTeacher.fingerprint.teacher = "another checkpoint"
        XCTAssertThrowsError(try NASRunner.merge([(name: "a.json", result: shards[0]), (name: "c.json", result: otherTeacher)])) { error in
            XCTAssertTrue("\(error)".contains("differ in teacher"), "\(error)")
        }
        var otherEpochs = shards[1]
        otherEpochs.fingerprint.configuration.training.groundTruthEpochs = 2
        XCTAssertThrowsError(try NASRunner.merge([(name: "a.json", result: shards[0]), (name: "e.json", result: otherEpochs)])) { error in
            XCTAssertTrue("\(error)".contains("configuration.training.ground_truth_epochs"), "\(error)")
        }
        // Shards of different counts.
        let third = try Self.split(Self.single(), into: 3)[1]
        XCTAssertThrowsError(try NASRunner.merge([(name: "a.json", result: shards[0]), (name: "d.json", result: third)])) { error in
            XCTAssertTrue("\(error)".contains("d.json is shard 1/3"), "\(error)")
        }
        // A really different run (another seed draws other candidates) is refused too.
        let other = try Self.runner(Self.configuration(seed: 2)).run(shard: try ShardSpec(index: 1, count: 2))
        XCTAssertThrowsError(try NASRunner.merge([(name: "a.json", result: shards[0]), (name: "f.json", result: other)])) { error in
            XCTAssertTrue("\(error)".contains("candidates_digest"), "\(error)")
        }
        // The untouched halves merge.
        XCTAssertNoThrow(try NASRunner.merge([(name: "a.json", result: shards[0]), (name: "b.json", result: shards[1])]))
    }

    func testMissingOrRepeatedShardsFail() throws {
        let shards = try Self.split(Self.single(), into: 3)
        XCTAssertThrowsError(try NASRunner.merge([(name: "s0", result: shards[0]), (name: "s2", result: shards[2])])) { error in
            XCTAssertTrue("\(error)".contains("missing shard 1/3"), "\(error)")
        }
        XCTAssertThrowsError(try NASRunner.merge([(name: "s0", result: shards[0]), (name: "s1", result: shards[1]),
                                                  (name: "s1 again", result: shards[1]), (name: "s2", result: shards[2])])) { error in
            XCTAssertTrue("\(error)".contains("given twice"), "\(error)")
        }
        XCTAssertThrowsError(try NASRunner.merge([])) { XCTAssertTrue("\($0)".contains("nothing to merge"), "\($0)") }
        // A shard file whose rows were cut short.
        var truncated = shards[1]
        truncated.rows.removeLast()
        XCTAssertThrowsError(try NASRunner.merge([(name: "s0", result: shards[0]), (name: "s1", result: truncated),
                                                  (name: "s2", result: shards[2])])) { error in
            XCTAssertTrue("\(error)".contains("lack candidates"), "\(error)")
        }
        // A row in the wrong shard's file.
        var stray = shards[0]
        stray.rows.append(contentsOf: shards[1].rows)
        XCTAssertThrowsError(try NASRunner.merge([(name: "s0", result: stray), (name: "s1", result: shards[1]),
                                                  (name: "s2", result: shards[2])])) { error in
            XCTAssertTrue("\(error)".contains("does not belong to shard 0/3"), "\(error)")
        }
        XCTAssertNoThrow(try NASRunner.merge([(name: "s2", result: shards[2]), (name: "s0", result: shards[0]), (name: "s1", result: shards[1])]))
    }

    /// Rows with their measured seconds zeroed.
    func timeless(_ rows: [CandidateResult]) -> [CandidateResult] {
        rows.map { row in
            var row = row
            row.gtnSeconds = 0
            row.real32Seconds = row.real32Seconds.map { _ in 0 }
            row.real128Seconds = row.real128Seconds.map { _ in 0 }
            row.groundTruthSeconds = row.groundTruthSeconds.map { _ in 0 }
            return row
        }
    }

    func testEveryFinishedCandidateIsSavedAtOnce() throws {
        let partial = try temporaryDirectory().appendingPathComponent(ShardResult.partialFileName(for: .whole))
        let savedWhenReported = Locked<[(done: Int, saved: Int)]>([])
        let result = try Self.runner(Self.configuration()).run(savingProgressTo: partial) { p in
            let saved = (try? ShardResult.read(from: partial))?.rows.count ?? -1
            savedWhenReported.withLock { $0.append((p.done, saved)) }
        }
        let reports = savedWhenReported.withLock { $0 }
        XCTAssertEqual(reports.map(\.done), Array(1...6))
        for (done, saved) in reports { XCTAssertGreaterThanOrEqual(saved, done, "candidate \(done) was reported before it was saved") }
        XCTAssertEqual(timeless(result.rows), timeless(try Self.single().rows))
        let file = try ShardResult.read(from: partial)
        XCTAssertEqual(timeless(file.rows.sorted { $0.index < $1.index }), timeless(result.rows))
    }

    func testAKilledSearchContinuesFromItsFinishedCandidates() throws {
        let single = try Self.single()
        let partial = try temporaryDirectory().appendingPathComponent(ShardResult.partialFileName(for: .whole))
        // What a search killed after two candidates leaves, with one score marked: a continued
        // run must keep that row as it is and evaluate only the other four.
        var killed = single
        killed.rows = [single.rows[4], single.rows[1]]
        killed.rows[0].gtnAccuracy = 0.123456
        killed.wallSeconds = 1000
        try killed.write(to: partial)
        let reported = Locked<[Int]>([])
        let result = try Self.runner(Self.configuration(), workers: 1).run(savingProgressTo: partial) { p in
            reported.withLock { $0.append(p.done) }
        }
        XCTAssertEqual(reported.withLock { $0 }, [3, 4, 5, 6], "progress counts on from the two saved candidates")
        XCTAssertEqual(result.rows.map(\.index), Array(0..<6))
        XCTAssertEqual(result.rows[4].gtnAccuracy, 0.123456, "a saved candidate is not evaluated again")
        var expected = timeless(single.rows)
        expected[4].gtnAccuracy = 0.123456
        XCTAssertEqual(timeless(result.rows), expected)
        XCTAssertGreaterThan(result.wallSeconds, 1000, "wall time counts the earlier process too")
        XCTAssertEqual(result.fingerprint, single.fingerprint)
    }

    func testASavedFileOfAnotherSearchIsRefused() throws {
        let single = try Self.single()
        let directory = try temporaryDirectory()
        func refuses(_ saved: ShardResult, shard: ShardSpec = .whole, _ expected: String, line: UInt = #line) throws {
            let partial = directory.appendingPathComponent("saved.json")
            try saved.write(to: partial)
            XCTAssertThrowsError(try Self.runner(Self.configuration()).run(shard: shard, savingProgressTo: partial), line: line) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(partial.path) && message.contains(expected) && message.contains("delete it"), message, line: line)
            }
        }
        var otherSeed = single
        otherSeed.fingerprint.configuration.seed = 2
        try refuses(otherSeed, "differs in configuration.seed")
        var otherTeacher = single
        otherTeacher.fingerprint.teacher = "another checkpoint"
        try refuses(otherTeacher, "differs in teacher")
        let shards = try Self.split(single, into: 3)
        try refuses(shards[1], shard: try ShardSpec(index: 0, count: 3), "holds shard 1/3, not 0/3")
        var stray = shards[0]
        stray.rows.append(contentsOf: shards[1].rows)
        try refuses(stray, shard: try ShardSpec(index: 0, count: 3), "is not a candidate of shard 0/3")
        var twice = single
        twice.rows.append(single.rows[2])
        try refuses(twice, "candidate 2 appears twice")
    }

    func testUnreadableShardFilesAreClearErrors() throws {
        let directory = try temporaryDirectory()
        let missing = directory.appendingPathComponent("nope.json")
        XCTAssertThrowsError(try ShardResult.read(from: missing)) { XCTAssertTrue("\($0)".contains(missing.path), "\($0)") }
        let garbage = directory.appendingPathComponent("garbage.json")
        try Data("{\"hello\": 1}".utf8).write(to: garbage)
        XCTAssertThrowsError(try ShardResult.read(from: garbage)) {
            XCTAssertTrue("\($0)".contains("not a `gtn nas` shard result"), "\($0)")
        }
    }

    func testGTNProxyMatchesTrainingOnTheTeachersCurriculum() throws {
        let configuration = Self.configuration()
        let runner = Self.runner(configuration)
        let spec = try XCTUnwrap(LearnerSpec(parsing: "c5x4-c3x2-fc8"))
        let (learner, initial) = runner.trainer.learner(for: spec)
        var rng = SeededGenerator(seed: configuration.seed ^ 0x6E7)
        let plan = Self.teacher.plan(using: &rng)
        let direct = accuracy(of: learner, try Self.teacher.train(learner, from: initial, plan: plan), on: Self.data.validation)
        XCTAssertEqual(try runner.proxy.score(spec).accuracy, direct)
    }

    func testReportJSONHasTheDocumentedKeys() throws {
        var report = try NASRunner.merge([(name: "single", result: Self.single())])
        report.record(FinalTraining(candidate: report.bestCandidate, epochs: 1, validationAccuracy: 0.5, testAccuracy: 0.25, seconds: 1))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: report.json()) as? [String: Any])
        for key in ["spearman_gtn", "spearman_real32", "spearman_real128", "kendall_gtn", "proxy_seconds_gtn", "proxy_seconds_real32",
                    "best_candidate", "best_test_accuracy", "rows", "top5_ground_truth_ranks_gtn"] {
            XCTAssertNotNil(object[key], key)
        }
        XCTAssertEqual(object["best_test_accuracy"] as? Double, 0.25)
        let row = try XCTUnwrap((object["rows"] as? [[String: Any]])?.first)
        for key in ["candidate", "gtn_accuracy", "real32_accuracy", "real128_accuracy", "ground_truth_accuracy", "gtn_seconds"] {
            XCTAssertNotNil(row[key], key)
        }
        XCTAssertEqual(report.rows.map(\.candidate), Search.randomCandidates(Self.configuration().space, count: 6, seed: 1).map(\.description))
    }

    func testWithoutGroundTruthTheGTNProxyChooses() throws {
        var configuration = Self.configuration()
        configuration.training.groundTruthEpochs = 0
        let report = try NASRunner.merge([(name: "single", result: Self.runner(configuration).run())])
        XCTAssertNil(report.spearmanGtn)
        XCTAssertTrue(report.rows.allSatisfy { $0.groundTruthAccuracy == nil && $0.real32Accuracy == nil })
        XCTAssertEqual(report.bestSelectedBy, "gtn_proxy")
        XCTAssertEqual(report.bestCandidate, report.rows.max { $0.gtnAccuracy < $1.gtnAccuracy }?.candidate)
    }
}
