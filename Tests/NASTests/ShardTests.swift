import GTN
import XCTest
@testable import NAS

final class ShardTests: XCTestCase {
    func testGoodShardSpecs() throws {
        XCTAssertEqual(try ShardSpec(parsing: "0/1"), .whole)
        let s = try ShardSpec(parsing: "2/3")
        XCTAssertEqual(s.index, 2)
        XCTAssertEqual(s.count, 3)
        XCTAssertEqual(s.description, "2/3")
    }

    func testBadShardSpecsAreClearErrors() {
        let cases = ["3/2": "out of range", "2/2": "0-based", "-1/2": "out of range", "a/b": "not of the form i/n",
                     "1": "not of the form", "1/2/3": "not of the form", "0/0": "at least 1", "": "not of the form", "1/": "not of the form"]
        for (text, expected) in cases {
            XCTAssertThrowsError(try ShardSpec(parsing: text), text) { error in
                XCTAssertTrue("\(error)".contains(expected), "'\(text)': \(error)")
                XCTAssertTrue("\(error)".contains("'\(text)'"), "the message names the input: \(error)")
            }
        }
    }

    func testAssignmentBalancesEstimatedCost() throws {
        // Costliest first to the least-loaded shard: 9 → 0, 8 → 1, 7 → 1 (load 8 < 9), 5 → 0 (9 < 15),
        // 1 → 0 (14 < 15).
        let assignment = ShardAssignment(costs: [1, 9, 7, 8, 5], count: 2)
        XCTAssertEqual(assignment.owners, [0, 0, 1, 1, 0])
        XCTAssertEqual(assignment.candidates(of: try ShardSpec(index: 1, count: 2), costs: [1, 9, 7, 8, 5]), [3, 2])
        XCTAssertEqual(assignment.candidates(of: try ShardSpec(index: 0, count: 2), costs: [1, 9, 7, 8, 5]), [1, 4, 0])
        // On real architectures every candidate has exactly one shard, and the loads are close.
        let specs = Search.randomCandidates(.standard, count: 60, seed: 4)
        let costs = specs.map(\.estimatedCost)
        let four = ShardAssignment(candidates: specs, count: 4)
        var load = [Double](repeating: 0, count: 4)
        for (i, owner) in four.owners.enumerated() {
            XCTAssertTrue((0..<4).contains(owner))
            load[owner] += costs[i]
        }
        let all = try (0..<4).flatMap { four.candidates(of: try ShardSpec(index: $0, count: 4), costs: costs) }
        XCTAssertEqual(all.sorted(), Array(0..<60))
        XCTAssertLessThan((load.max() ?? 0) / (load.min() ?? 1), 1.1, "\(load)")
    }

    func testEstimatedCostGrowsWithKernelAndWidth() throws {
        let small = try XCTUnwrap(LearnerSpec(parsing: "c3x16-c3x32-fc64"))
        let wider = try XCTUnwrap(LearnerSpec(parsing: "c3x32-c3x64-fc64"))
        let bigger = try XCTUnwrap(LearnerSpec(parsing: "c5x32-c5x64-fc64"))
        // conv1 9·1·16·784, conv2 9·16·32·196, fc 32·49·64 + 640.
        XCTAssertEqual(small.estimatedCost, Double(9 * 16 * 784 + 9 * 16 * 32 * 196 + 32 * 49 * 64 + 640))
        XCTAssertLessThan(small.estimatedCost, wider.estimatedCost)
        XCTAssertLessThan(wider.estimatedCost, bigger.estimatedCost)
    }

    func testSlurmEnvironment() throws {
        // 0-based array (--array=0-3).
        XCTAssertEqual(try ShardSpec.fromEnvironment(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4",
                                                      "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3"]),
                       try ShardSpec(index: 2, count: 4))
        // 1-based array (--array=1-4): task 4 is the last shard, 3/4.
        XCTAssertEqual(try ShardSpec.fromEnvironment(["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4",
                                                      "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"]),
                       try ShardSpec(index: 3, count: 4))
        // Without MIN the ID is taken as 0-based.
        XCTAssertEqual(try ShardSpec.fromEnvironment(["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2"]), try ShardSpec(index: 0, count: 2))
        XCTAssertThrowsError(try ShardSpec.fromEnvironment(["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4"])) {
            XCTAssertTrue("\($0)".contains("SLURM_ARRAY_TASK_ID=4"), "\($0)")
        }
        XCTAssertThrowsError(try ShardSpec.fromEnvironment(["SLURM_ARRAY_TASK_ID": "1"])) {
            XCTAssertTrue("\($0)".contains("SLURM_ARRAY_TASK_COUNT"), "\($0)")
        }
        XCTAssertThrowsError(try ShardSpec.fromEnvironment(["SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"])) {
            XCTAssertTrue("\($0)".contains("not an integer"), "\($0)")
        }
        XCTAssertThrowsError(try ShardSpec.fromEnvironment(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3",
                                                            "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "4", "SLURM_ARRAY_TASK_STEP": "2"])) {
            XCTAssertTrue("\($0)".contains("step 2"), "\($0)")
        }
        XCTAssertThrowsError(try ShardSpec.fromEnvironment(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3",
                                                            "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "7"])) {
            XCTAssertTrue("\($0)".contains("gaps"), "\($0)")
        }
    }

    func testKubernetesIndexedJobEnvironment() throws {
        XCTAssertEqual(try ShardSpec.fromEnvironment(["JOB_COMPLETION_INDEX": "3"], explicitCount: 5), try ShardSpec(index: 3, count: 5))
        XCTAssertEqual(try ShardSpec.fromEnvironment(["JOB_COMPLETION_INDEX": "0", "GTN_SHARD_COUNT": "2"]), try ShardSpec(index: 0, count: 2))
        XCTAssertThrowsError(try ShardSpec.fromEnvironment(["JOB_COMPLETION_INDEX": "3"])) {
            XCTAssertTrue("\($0)".contains("--shard-count"), "\($0)")
        }
        XCTAssertThrowsError(try ShardSpec.fromEnvironment(["JOB_COMPLETION_INDEX": "5", "GTN_SHARD_COUNT": "5"])) {
            XCTAssertTrue("\($0)".contains("JOB_COMPLETION_INDEX=5"), "\($0)")
        }
        XCTAssertNil(try ShardSpec.fromEnvironment(["HOME": "/root"]))
    }
}
