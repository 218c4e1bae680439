import Datasets
import FileFormats
import Foundation
import GTN
import GTNTestSupport
import NeuralNet
import Support
import TensorEngine
import TestSupport
import XCTest

/// The `gtn` binary, run as a user would: bad input gives a one-line error naming the problem and
/// a non-zero exit, and nothing is overwritten.
final class CLITests: XCTestCase {
    struct Result {
        let status: Int32
        let output: String
        let error: String
    }

    static let binary: URL = {
        // The test bundle sits next to the products of the same build.
        var dir = Bundle(for: CLITests.self).bundleURL.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("gtn").path) {
            dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        }
        return dir.appendingPathComponent("gtn")
    }()

    func gtn(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            throw XCTSkip("gtn binary not built at \(Self.binary.path)")
        }
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: outData, as: UTF8.self),
                      error: String(decoding: errData, as: UTF8.self))
    }

    /// A real checkpoint of a tiny configuration, written through the library.
    func tinyCheckpoint(seed: UInt64 = 1) throws -> URL {
        var configuration = TinyRun.configuration(outerIterations: 1)
        configuration.preset.steps = 2
        var rng = SeededGenerator(seed: seed)
        let teacher = Teacher(preset: configuration.preset, curriculum: .full, using: &rng)
        let state = TrainingState(teacher: teacher, adam: Adam(like: teacher.parameters.tensors))
        let dir = try temporaryDirectory()
        try Checkpoint.save(state, configuration: configuration, to: dir)
        return dir
    }

    func assertFails(_ result: Result, mentioning fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(result.status, 0, file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(result.error.contains(fragment), "stderr lacks '\(fragment)': \(result.error)", file: file, line: line)
        }
        XCTAssertFalse(result.error.contains("Fatal error"), "crashed instead of reporting: \(result.error)", file: file, line: line)
    }

    func testHelpExplainsTheCommands() throws {
        let result = try gtn(["--help"])
        XCTAssertEqual(result.status, 0)
        for command in ["train", "eval", "sample", "average", "bench"] { XCTAssertTrue(result.output.contains(command)) }
        let train = try gtn(["train", "--help"])
        XCTAssertTrue(train.output.contains("--resume") && train.output.contains("--curriculum"))
    }

    func testBadFlagsAreOneLineErrors() throws {
        assertFails(try gtn(["train", "--preset", "huge"]), mentioning: ["huge", "preset"])
        assertFails(try gtn(["train", "--outer=-3"]), mentioning: ["--outer", "-3"])
        assertFails(try gtn(["train", "--batch", "0"]), mentioning: ["--batch", "0"])
        assertFails(try gtn(["train", "--curriculum", "sideways"]), mentioning: ["sideways"])
        assertFails(try gtn(["train", "--eval-split", "train"]), mentioning: ["--eval-split", "train"])
        assertFails(try gtn(["train", "--outer", "3", "--hold-final-lr"]), mentioning: ["--hold-final-lr", "--resume"])
        assertFails(try gtn(["train", "--widths", "16,x,3"]), mentioning: ["widths"])
        assertFails(try gtn(["train", "--learner-family", "search-space", "--widths", "8,8,8"]), mentioning: ["--learner-family", "--widths"])
        assertFails(try gtn(["train", "--learner-family", "everything"]), mentioning: ["everything"])
        assertFails(try gtn(["train", "--preset", "paper", "--recorded-steps", "40"]), mentioning: ["--recorded-steps", "40", "32"])
        assertFails(try gtn(["bench", "--preset", "cpu", "--recorded-steps", "4"]), mentioning: ["--recorded-steps", "stepwise", "full-unroll"])
        assertFails(try gtn(["eval", "--checkpoint", "/nonexistent/run"]), mentioning: ["/nonexistent/run"])
        assertFails(try gtn(["eval", "--checkpoint", "/nonexistent/run", "--real-lrs", "0.5"]), mentioning: ["--real-lrs", "--real-baseline"])
        assertFails(try gtn(["eval", "--checkpoint", "/nonexistent/run", "--real-steps-to-match", "0"]), mentioning: ["--real-steps-to-match", "0"])
        assertFails(try gtn(["train", "--data-dir", "/nonexistent/data", "--outer", "1", "--out", try temporaryDirectory().path + "/r"]),
                    mentioning: ["/nonexistent/data"])
    }

    func testCheckpointOfAnotherPresetIsRefusedAndKept() throws {
        let dir = try tinyCheckpoint()
        let file = Checkpoint.url(in: dir)
        let before = try Data(contentsOf: file)
        assertFails(try gtn(["train", "--resume", "--out", dir.path, "--preset", "paper"]), mentioning: ["--preset paper", "preset cpu"])
        assertFails(try gtn(["train", "--out", dir.path]), mentioning: ["already holds a checkpoint", "--resume"])
        XCTAssertEqual(try Data(contentsOf: file), before)
    }

    func testAverageWritesTheMeanOfTheTeachersAndNeverOverwrites() throws {
        let sources = try [1, 2].map { try tinyCheckpoint(seed: $0) }
        let out = try temporaryDirectory().appendingPathComponent("average")
        let result = try gtn(["average", "--out", out.path] + sources.map(\.path))
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertTrue(result.output.contains(Checkpoint.url(in: out).path), result.output)
        let teachers = try sources.map { try Checkpoint.load(from: $0).state.teacher }
        let averaged = try Checkpoint.load(from: out).state.teacher
        let name = Teacher.curriculumName
        let expected = zip(teachers[0].parameters[name].doubles, teachers[1].parameters[name].doubles).map { ($0 + $1) / 2 }
        for (x, y) in zip(averaged.parameters[name].doubles, expected) { XCTAssertEqual(x, y, accuracy: 1e-6) }
        let before = try Data(contentsOf: Checkpoint.url(in: out))
        assertFails(try gtn(["average", "--out", out.path] + sources.map(\.path)), mentioning: [out.path, "already holds a checkpoint"])
        assertFails(try gtn(["average", "--out", sources[0].path] + sources.map(\.path)), mentioning: ["already holds a checkpoint"])
        assertFails(try gtn(["average", "--out", out.path, sources[0].path]), mentioning: ["at least two"])
        assertFails(try gtn(["average", "--out", out.path + "2", sources[0].path, "/nonexistent/run"]), mentioning: ["/nonexistent/run"])
        XCTAssertEqual(try Data(contentsOf: Checkpoint.url(in: out)), before)
    }

    func testCorruptedCheckpointIsAClearError() throws {
        let dir = try tinyCheckpoint()
        let file = Checkpoint.url(in: dir)
        var bytes = try Data(contentsOf: file)
        bytes = bytes.prefix(bytes.count / 2)
        try bytes.write(to: file)
        assertFails(try gtn(["eval", "--checkpoint", dir.path]), mentioning: [file.path])
        assertFails(try gtn(["sample", "--checkpoint", dir.path, "--out", dir.appendingPathComponent("g.png").path]), mentioning: [file.path])
        XCTAssertEqual(try Data(contentsOf: file), bytes)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("g.png").path))
    }

    func testSampleWritesAGridAndAnExport() throws {
        let dir = try tinyCheckpoint()
        let png = dir.appendingPathComponent("grid.png"), export = dir.appendingPathComponent("curriculum.safetensors")
        let result = try gtn(["sample", "--checkpoint", dir.path, "--out", png.path, "--export", export.path])
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertEqual(try Data(contentsOf: png).prefix(8), Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let file = try SafeTensors.read(from: export)
        XCTAssertEqual(file.tensor(named: "images")?.shape, [2, 10, 1, 28, 28])
        XCTAssertEqual(file.integerTensor(named: "labels")?.shape, [2, 10])
        XCTAssertEqual(file.integerTensor(named: "labels")?.values.prefix(3), [0, 1, 2])
        XCTAssertEqual(file.tensor(named: "lr")?.shape, [2])
        XCTAssertEqual(file.tensor(named: "momentum")?.doubles.first ?? 0, 0.5, accuracy: 1e-6)
        assertFails(try gtn(["sample", "--checkpoint", dir.path]), mentioning: ["--out", "--export"])
    }

    func testVersionAndEnvironmentAreDocumented() throws {
        let version = try gtn(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertTrue(version.output.hasPrefix("gtn "), version.output)
        let help = try gtn(["--help"]).output
        for name in ["GTN_DATA_DIR", "GTN_THREADS", "GTN_GEMM", "GTN_CHECK_FINITE", "report"] {
            XCTAssertTrue(help.contains(name), "gtn --help lacks \(name)")
        }
        XCTAssertTrue(try gtn(["train", "--help"]).output.contains("--config"))
    }

    /// Results on stdout, nothing else there; one intensity range changes the grid.
    func testSampleGlobalRangeAndResultsOnStdout() throws {
        let dir = try tinyCheckpoint()
        let own = dir.appendingPathComponent("own.png"), global = dir.appendingPathComponent("global.png")
        let first = try gtn(["sample", "--checkpoint", dir.path, "--out", own.path])
        XCTAssertEqual(first.status, 0, first.error)
        XCTAssertEqual(first.output, "wrote 2×10 grid to \(own.path)\n")
        XCTAssertEqual(try gtn(["sample", "--checkpoint", dir.path, "--out", global.path, "--global-range"]).status, 0)
        XCTAssertNotEqual(try Data(contentsOf: own), try Data(contentsOf: global))
    }

    func testReportOfARunDirectory() throws {
        let dir = try tinyCheckpoint()
        assertFails(try gtn(["report", dir.path]), mentioning: ["metrics.jsonl"])
        let row = #"{"clipped":false,"gradient_norm":1.5,"inner_loss_first":2.3,"inner_loss_last":2.2,"iteration":1,"learner":"c3-c4-f8","meta_loss":2.25,"outer_learning_rate":0.02,"peak_memory_bytes":0,"seconds":0.5,"skipped":false}"#
        try Data((row + "\n").utf8).write(to: dir.appendingPathComponent("metrics.jsonl"))
        let out = dir.appendingPathComponent("r.html")
        let result = try gtn(["report", dir.path, "--out", out.path])
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertEqual(result.output, "wrote \(out.path)\n")
        let html = try String(contentsOf: out, encoding: .utf8)
        XCTAssertTrue(html.contains("Real-data loss after T inner steps") && html.contains("<svg class=\"chart\"") && html.contains("data:image/png;base64,"))
        assertFails(try gtn(["report", dir.path, "--nas", "/nonexistent/nas.json"]), mentioning: ["/nonexistent/nas.json"])
    }

    /// The `cpu` preset's soft labels label curriculum slots, so `--curriculum none` (no slots)
    /// trains with hard labels, and asking for soft labels there is refused.
    func testCurriculumWithoutSlotsTrainsWithHardLabels() throws {
        let data = try RealMNIST.requireDirectory()
        let source = try tinyCheckpoint()
        XCTAssertTrue(try Checkpoint.load(from: source).configuration.preset.learnedSoftLabels)
        let config = source.appendingPathComponent("config.json").path
        let out = try temporaryDirectory().appendingPathComponent("none")
        let result = try gtn(["train", "--config", config, "--curriculum", "none", "--out", out.path,
                              "--eval-learners", "1", "--data-dir", data.path, "--quiet"])
        XCTAssertEqual(result.status, 0, result.error)
        let saved = try Checkpoint.load(from: out).configuration
        XCTAssertEqual(saved.curriculum, .none)
        XCTAssertFalse(saved.preset.learnedSoftLabels)
        assertFails(try gtn(["train", "--config", config, "--curriculum", "none", "--soft-labels",
                             "--out", try temporaryDirectory().appendingPathComponent("refused").path]),
                    mentioning: ["--soft-labels", "none curriculum"])
    }

    /// `gtn eval --widths` evaluates learners of exactly those widths, and says so in its JSON;
    /// with --json, stdout holds only the JSON and status lines stay on stderr.
    func testEvalOnFixedWidths() throws {
        let data = try RealMNIST.requireDirectory()
        let dir = try tinyCheckpoint()
        func evaluate(_ extra: [String]) throws -> [String: Any] {
            let result = try gtn(["eval", "--checkpoint", dir.path, "--learners", "3", "--json", "--data-dir", data.path] + extra)
            XCTAssertEqual(result.status, 0, result.error)
            XCTAssertTrue(result.error.contains("loaded mnist"), result.error)
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], result.output)
        }
        let fixed = try evaluate(["--widths", "3,5,7"])
        XCTAssertEqual(fixed["widths"] as? [Int], [3, 5, 7])
        let architectures = try XCTUnwrap(fixed["architectures"] as? [String])
        XCTAssertEqual(architectures, Array(repeating: "c3x3-c3x5-fc7", count: 3))
        let drawn = try evaluate([])
        XCTAssertNil(drawn["widths"])
        XCTAssertEqual((drawn["architectures"] as? [String])?.count, 3)
        XCTAssertNotEqual(drawn["architectures"] as? [String], architectures)
        XCTAssertEqual(drawn["split"] as? String, "test")
        assertFails(try gtn(["eval", "--checkpoint", dir.path, "--real-steps-to-match", "1", "--data-dir", data.path]),
                    mentioning: ["--real-steps-to-match", "2 steps", "got 1"])
        let longer = try evaluate(["--real-steps-to-match", "3", "--real-lrs", "0.05,0.5", "--real-baseline",
                                   "--learned-baseline-iterations", "0"])
        let rows = try XCTUnwrap(longer["real_steps_curve"] as? [[String: Any]])
        XCTAssertEqual(rows.compactMap { $0["steps"] as? Int }, [2, 3])
        XCTAssertEqual(rows.first?["accuracy_mean"] as? Double, longer["real_grid_accuracy_mean"] as? Double)
        XCTAssertEqual(rows.first?["lr"] as? Double, longer["real_best_lr"] as? Double)
        XCTAssertTrue(rows.allSatisfy { [0.05, 0.5].contains($0["lr"] as? Double ?? -1) })
        XCTAssertEqual(longer["gtn_accuracies"] as? [Double], drawn["gtn_accuracies"] as? [Double])
        if let match = longer["real_steps_to_match"] as? Int {
            let reached = try XCTUnwrap(rows.first { $0["steps"] as? Int == match }?["accuracy_mean"] as? Double)
            XCTAssertGreaterThanOrEqual(reached, try XCTUnwrap(longer["gtn_accuracy_mean"] as? Double))
        } else {
            XCTAssertTrue(rows.allSatisfy { ($0["accuracy_mean"] as? Double ?? 1) < (longer["gtn_accuracy_mean"] as? Double ?? 0) })
        }
        let validation = try evaluate(["--split", "validation"])
        XCTAssertEqual(validation["split"] as? String, "validation")
        XCTAssertEqual(validation["architectures"] as? [String], drawn["architectures"] as? [String])
        XCTAssertNotEqual(validation["gtn_accuracies"] as? [Double], drawn["gtn_accuracies"] as? [Double])
    }

    /// A run's config.json replays it: the new run trains the same configuration, and writes
    /// its report and TensorBoard events; --quiet leaves only results. The replay is then
    /// lengthened with --hold-final-lr.
    func testTrainReplaysASavedConfiguration() throws {
        let data = try RealMNIST.requireDirectory()
        let source = try tinyCheckpoint()
        let out = try temporaryDirectory().appendingPathComponent("replay")
        let result = try gtn(["train", "--config", source.appendingPathComponent("config.json").path, "--out", out.path,
                              "--eval-learners", "1", "--data-dir", data.path, "--quiet"])
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertEqual(result.error, "", "--quiet prints no progress")
        XCTAssertTrue(result.output.contains("final evaluation") && result.output.contains("meta-gradient clipped"), result.output)
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("config.json")),
                       try Data(contentsOf: source.appendingPathComponent("config.json")))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("report.html").path))
        let events = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("tensorboard").path)
        XCTAssertEqual(events.filter { $0.hasPrefix("events.out.tfevents.") }.count, 1)
        // Flags override the file.
        let longer = try temporaryDirectory().appendingPathComponent("longer")
        let validated = try gtn(["train", "--config", source.appendingPathComponent("config.json").path, "--out", longer.path, "--outer", "2",
                                 "--eval-learners", "1", "--eval-split", "validation", "--data-dir", data.path, "--quiet"])
        XCTAssertEqual(validated.status, 0, validated.error)
        XCTAssertEqual(try Checkpoint.load(from: longer).configuration.outerIterations, 2)
        // --eval-split: the final evaluation scored the validation images, and says so.
        XCTAssertTrue(validated.output.contains("validation accuracy"), validated.output)
        let metrics = try String(contentsOf: longer.appendingPathComponent(MetricsLog.fileName), encoding: .utf8)
        XCTAssertTrue(metrics.contains("\"split\":\"validation\""), metrics)
        XCTAssertFalse(metrics.contains("\"split\":\"test\""), metrics)

        // --hold-final-lr lengthens the run without a warm restart: the added iteration trains at
        // the final rate, and config.json records where the cosine ended. Without a new length it is refused.
        let resumed = ["train", "--resume", "--out", longer.path, "--eval-learners", "1", "--data-dir", data.path]
        assertFails(try gtn(resumed + ["--hold-final-lr"]), mentioning: ["--hold-final-lr", "--outer or --time-limit"])
        let held = try gtn(resumed + ["--outer", "3", "--hold-final-lr"])
        XCTAssertEqual(held.status, 0, held.error)
        XCTAssertTrue(held.error.contains("the outer learning rate at its final value after 2 outer iterations"), held.error)
        let saved = try Checkpoint.load(from: longer).configuration
        XCTAssertEqual(saved.annealingEnd, .outerIterations(2))
        XCTAssertTrue(try String(contentsOf: longer.appendingPathComponent("config.json"), encoding: .utf8).contains("\"annealingEnd\""))
        let rates = try String(contentsOf: longer.appendingPathComponent(MetricsLog.fileName), encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .compactMap { $0["outer_learning_rate"] as? Double }
        let peak = saved.preset.outerLearningRate
        XCTAssertEqual(rates.count, 3)
        for (logged, expected) in zip(rates, [peak, peak * 0.1, peak * 0.1]) { XCTAssertEqual(logged, expected, accuracy: 1e-15) }
    }
}
