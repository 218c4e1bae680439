import FileFormats
import Foundation
import GTN
import NeuralNet
import Support
import TensorEngine
import TestSupport
import XCTest

/// The binary protects a user's data: outputs never replace inputs, one process at a time uses a
/// run, a resume trains what its checkpoint says, broken checkpoints and impossible requests are
/// errors (never traps or hangs), and an interrupted run checkpoints and continues exactly.
extension CLITests {
    /// A tiny real run's training flags (MNIST, 2 inner steps of 10 images, tiny learners).
    static let tinyRun = ["--steps", "2", "--batch", "10", "--widths", "3,4,8", "--eval-every", "0", "--eval-learners", "1",
                          "--checkpoint-every", "1"]

    func dataFlags() throws -> [String] { ["--data-dir", try RealMNIST.requireDirectory().path] }

    /// `tinyCheckpoint()` with its metadata or tensors edited as a corrupted file could have them.
    func editedCheckpoint(_ edit: (inout [String: String], inout [(name: String, tensor: Tensor)]) throws -> Void) throws -> URL {
        let dir = try tinyCheckpoint()
        let file = Checkpoint.url(in: dir)
        let contents = try SafeTensors.read(from: file)
        var metadata = contents.metadata, tensors = contents.tensors
        try edit(&metadata, &tensors)
        try SafeTensors.write(tensors, metadata: metadata, to: file)
        return dir
    }

    func jsonEdit(_ text: String, _ change: (inout [String: Any]) -> Void) throws -> String {
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        change(&object)
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    // 1. Outputs never replace inputs or each other.
    func testOutputsThatWouldReplaceAnInputAreRefusedBeforeAnyWork() throws {
        let dir = try tinyCheckpoint()
        let file = Checkpoint.url(in: dir)
        let before = try Data(contentsOf: file)
        assertFails(try gtn(["sample", "--checkpoint", dir.path, "--export", file.path]), mentioning: ["--export", "checkpoint.safetensors"])
        assertFails(try gtn(["sample", "--checkpoint", dir.path, "--export", dir.appendingPathComponent("config.json").path]),
                    mentioning: ["--export", "config.json"])
        let png = dir.appendingPathComponent("grid.png").path
        assertFails(try gtn(["sample", "--checkpoint", dir.path, "--out", png, "--export", png]), mentioning: ["--export", "--out"])
        assertFails(try gtn(["nas", "--checkpoint", dir.path, "--json", file.path]), mentioning: ["--json", "checkpoint.safetensors"])
        assertFails(try gtn(["nas", "--checkpoint", dir.path, "--json", "/nonexistent-dir/nas.json"]), mentioning: ["--json", "/nonexistent-dir"])
        XCTAssertEqual(try Data(contentsOf: file), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: png))
    }

    // 2. One process at a time.
    func testARunDirectoryInUseIsRefusedNamingTheHolder() throws {
        let dir = try tinyCheckpoint()
        let before = try Data(contentsOf: Checkpoint.url(in: dir))
        let lock = try DirectoryLock(dir, purpose: "gtn train")
        let result = try gtn(["train", "--resume", "--out", dir.path, "--outer", "3"])
        assertFails(result, mentioning: [dir.path, "in use", "pid \(getpid())"])
        withExtendedLifetime(lock) {}
        XCTAssertEqual(try Data(contentsOf: Checkpoint.url(in: dir)), before)
    }

    // 3. A resume trains what the checkpoint says.
    func testResumeRefusesFlagsThatConflictWithTheCheckpoint() throws {
        let dir = try tinyCheckpoint()
        let before = try Data(contentsOf: Checkpoint.url(in: dir))
        for (flags, named) in [(["--steps", "5"], "--steps"), (["--batch", "64"], "--batch"), (["--widths", "8,8,8"], "--widths"),
                               (["--curriculum", "none"], "--curriculum"), (["--inner-lr", "0.5"], "--inner-lr"),
                               (["--seed", "9"], "--seed"), (["--memory", "stepwise"], "--memory"), (["--dataset", "kmnist"], "--dataset"),
                               (["--preset=seed"], "--preset"), (["--learner-family", "search-space"], "--learner-family"),
                               (["--no-intermediate-losses"], "--no-intermediate-losses"), (["--no-soft-labels"], "--no-soft-labels")] {
            assertFails(try gtn(["train", "--resume", "--out", dir.path] + flags), mentioning: [named, "conflicts with the checkpoint"])
        }
        XCTAssertEqual(try Data(contentsOf: Checkpoint.url(in: dir)), before)
        let help = try gtn(["train", "--help"]).output
        XCTAssertTrue(help.contains("on resume") && help.contains("--time-limit"), help)
    }

    /// A resume without cadence flags keeps the run's own (`OUT/policy.json`), so a run started
    /// with snapshots goes on keeping them; a flag given on resume replaces the run's own.
    func testResumeKeepsTheRunsCadencesUnlessGivenOthers() throws {
        let data = try dataFlags()
        let dir = try temporaryDirectory().appendingPathComponent("run")
        let snapshot = { (iteration: Int) in dir.appendingPathComponent(String(format: "snapshots/iteration-%06d", iteration)).path }
        let first = try gtn(["train", "--out", dir.path, "--outer", "2", "--snapshot-every", "2"] + Self.tinyRun + data)
        XCTAssertEqual(first.status, 0, first.error)
        let second = try gtn(["train", "--resume", "--out", dir.path, "--outer", "4"] + data)
        XCTAssertEqual(second.status, 0, second.error)
        XCTAssertTrue(FileManager.default.fileExists(atPath: snapshot(4)), "the resumed run kept no snapshot at 4")
        XCTAssertTrue(second.error.contains("an evaluation at the end (K=1, test split), checkpoints every 1, snapshots every 2"), second.error)
        let third = try gtn(["train", "--resume", "--out", dir.path, "--outer", "6", "--snapshot-every", "0"] + data)
        XCTAssertEqual(third.status, 0, third.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: snapshot(6)))
        let policy = try TrainingRun.Policy.saved(in: dir)
        XCTAssertEqual(policy, TrainingRun.Policy(evaluateEvery: 0, evaluationLearners: 1, checkpointEvery: 1, snapshotEvery: 0))
    }

    func testResumeWithFewerIterationsThanDoneIsAnError() throws {
        let dir = try editedCheckpoint { metadata, _ in
            metadata["state"] = try jsonEdit(metadata["state"] ?? "") { $0["iteration"] = 3 }
        }
        assertFails(try gtn(["train", "--resume", "--out", dir.path, "--outer", "2"]), mentioning: ["3 outer iterations", "2"])
    }

    // 4. Checkpoints are validated on load.
    func testInvalidCheckpointContentsAreErrorsAndTheFileIsKept() throws {
        let cases: [(String, (inout [String: String], inout [(name: String, tensor: Tensor)]) throws -> Void)] = [
            ("non-finite", { _, tensors in
                let k = tensors.firstIndex { $0.name.hasPrefix("adam.m/") }!
                tensors[k].tensor = Tensor(shape: tensors[k].tensor.shape, doubles: [Double](repeating: .nan, count: tensors[k].tensor.scalarCount)).converted(to: .float32)
            }),
            ("widths", { metadata, _ in
                metadata["configuration"] = try self.jsonEdit(metadata["configuration"] ?? "") { c in
                    var preset = c["preset"] as! [String: Any]
                    preset["widthRanges"] = ["conv1": [0, 0], "conv2": [4, 5], "fc": [8, 9]]
                    c["preset"] = preset
                }
            }),
            ("all-zero row", { _, tensors in
                let k = tensors.firstIndex { $0.name == "gen.fc1.v" }!
                tensors[k].tensor = Tensor.zeros(tensors[k].tensor.shape)
            }),
            ("iteration -5", { metadata, _ in
                metadata["state"] = try self.jsonEdit(metadata["state"] ?? "") { $0["iteration"] = -5 }
            }),
        ]
        for (expected, edit) in cases {
            let dir = try editedCheckpoint(edit)
            let bytes = try Data(contentsOf: Checkpoint.url(in: dir))
            assertFails(try gtn(["eval", "--checkpoint", dir.path]), mentioning: [Checkpoint.url(in: dir).path, expected])
            assertFails(try gtn(["train", "--resume", "--out", dir.path, "--outer", "2"]), mentioning: [expected])
            XCTAssertEqual(try Data(contentsOf: Checkpoint.url(in: dir)), bytes)
        }
    }

    // 5. Impossible requests are errors, never aborts or hangs.
    func testRequestsBeyondWhatCanRunAreRefusedNamingTheFlag() throws {
        let dir = try tinyCheckpoint()
        assertFails(try gtn(["train", "--widths", "100000,100000,100000", "--out", try temporaryDirectory().path + "/r"]),
                    mentioning: ["GiB", "--widths"])
        assertFails(try gtn(["eval", "--checkpoint", dir.path, "--learners", "1000000000000"]), mentioning: ["--learners"])
        assertFails(try gtn(["eval", "--checkpoint", dir.path, "--widths", "100000,100000,100000"]), mentioning: ["GiB", "--widths"])
        assertFails(try gtn(["eval", "--checkpoint", dir.path, "--widths", "0,8,8"]), mentioning: ["'0,8,8' is invalid for '--widths"])
        for grid in ["0,1", "0.1,x", "0.5,inf", ""] {
            assertFails(try gtn(["eval", "--checkpoint", dir.path, "--real-baseline", "--real-lrs", grid]), mentioning: ["--real-lrs"])
        }
        assertFails(try gtn(["eval", "--checkpoint", dir.path, "--real-lrs", "0.5,1"]), mentioning: ["--real-lrs", "--real-baseline"])
        assertFails(try gtn(["nas", "--checkpoint", dir.path, "--shard", "0/1000000000"]), mentioning: ["--shard"])
        assertFails(try gtn(["nas", "--checkpoint", dir.path, "--candidates", "1000000000000"]), mentioning: ["--candidates"])
        assertFails(try gtn(["nas", "merge", "shards/nas-shard-0-of-2.json", "shards/nas-shard-1-of-2.partial.json"]),
                    mentioning: ["nas-shard-1-of-2.partial.json", "not completed"])
        assertFails(try gtn(["bench", "kernels", "--batch", "0"]), mentioning: ["--batch"])
        assertFails(try gtn(["bench", "kernels", "--batch=-1"]), mentioning: ["--batch"])
        assertFails(try gtn(["bench", "kernels", "--seconds", "-1"]), mentioning: ["--seconds"])
    }

    // 7. Bad values fail at once, before any work, in words.
    func testBadValuesFailBeforeAnyWork() throws {
        assertFails(try gtn(["train", "--inner-lr", "inf"]), mentioning: ["--inner-lr", "inf"])
        assertFails(try gtn(["train", "--outer", "-1"]), mentioning: ["--outer", "-1"])
        assertFails(try gtn(["train", "--time-limit", "nan"]), mentioning: ["--time-limit"])
    }

    // 8. System errors in a sentence.
    func testAnOutputPathThatIsAFileIsSaidPlainly() throws {
        let file = try temporaryDirectory().appendingPathComponent("not-a-directory")
        try Data("x".utf8).write(to: file)
        let result = try gtn(["train", "--out", file.path] + Self.tinyRun + (try dataFlags()))
        assertFails(result, mentioning: ["--out", file.path, "is a file"])
        XCTAssertFalse(result.error.contains("NSCocoaErrorDomain"), result.error)
    }

    // 6 and 7. Stale temporary files go; a run where nothing was learned is a failure.
    func testResumeRemovesStaleTemporaryFilesAndAllSkippedRunsFail() throws {
        let data = try dataFlags()
        let dir = try temporaryDirectory().appendingPathComponent("run")
        let first = try gtn(["train", "--out", dir.path, "--outer", "1"] + Self.tinyRun + data)
        XCTAssertEqual(first.status, 0, first.error)
        let stale = dir.appendingPathComponent(".checkpoint.safetensors.\(UUID().uuidString).tmp")
        try Data(count: 1000).write(to: stale)
        let second = try gtn(["train", "--resume", "--out", dir.path, "--outer", "2"] + data)
        XCTAssertEqual(second.status, 0, second.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale.path))

        let diverging = try gtn(["train", "--out", try temporaryDirectory().appendingPathComponent("nan").path, "--outer", "2",
                                 "--inner-lr", "1e30"] + Self.tinyRun + data)
        assertFails(diverging, mentioning: ["skipped", "nothing was learned"])
    }

    // 9. SIGINT finishes the iteration, checkpoints, exits 130; the resume continues exactly.
    func testInterruptCheckpointsAndResumeContinuesExactly() throws {
        let data = try dataFlags()
        let root = try temporaryDirectory()
        let interrupted = root.appendingPathComponent("interrupted")
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else { throw XCTSkip("gtn binary not built") }
        let process = Process()
        process.executableURL = Self.binary
        // The schedule spans --outer, so both runs get the same: the signal comes after the first
        // iteration, and the run stops at the end of the one in progress, well before 6.
        let outer = 6
        process.arguments = ["train", "--out", interrupted.path, "--outer", "\(outer)"] + Self.tinyRun + data
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let metrics = interrupted.appendingPathComponent("metrics.jsonl")
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, ((try? String(contentsOf: metrics, encoding: .utf8)) ?? "").contains("meta_loss") == false {
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.interrupt()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130)
        let stoppedAt = try Checkpoint.load(from: interrupted).state.iteration
        XCTAssertGreaterThanOrEqual(stoppedAt, 1)
        XCTAssertLessThan(stoppedAt, outer)

        let resumed = try gtn(["train", "--resume", "--out", interrupted.path] + data)
        XCTAssertEqual(resumed.status, 0, resumed.error)
        let whole = root.appendingPathComponent("whole")
        let uninterrupted = try gtn(["train", "--out", whole.path, "--outer", "\(outer)"] + Self.tinyRun + data)
        XCTAssertEqual(uninterrupted.status, 0, uninterrupted.error)
        let a = try SafeTensors.read(from: Checkpoint.url(in: interrupted)), b = try SafeTensors.read(from: Checkpoint.url(in: whole))
        XCTAssertEqual(a.tensors.map(\.name), b.tensors.map(\.name))
        for (x, y) in zip(a.tensors, b.tensors) { XCTAssertEqual(x.tensor.scalars, y.tensor.scalars, x.name) }
        XCTAssertEqual(try Checkpoint.load(from: interrupted).state.iteration, outer)
    }
}
