import CZlib
import FileFormats
import Foundation
import GTN
import GTNTestSupport
import Support
import TestSupport
import XCTest
@testable import RunReport

/// A tiny real run observed by `RunMonitor`: its report renders in headless Chromium with every
/// chart drawn, and TensorBoard's own reader finds in the event files what metrics.jsonl holds.
final class RunReportTests: XCTestCase {
    /// Four outer iterations, evaluations at 2 (test images) and 4 (validation images, as after a
    /// resume with `--eval-split validation`), with a saved eval.json and a nas.json beside.
    static let run: Result<URL, any Error> = Result {
        let c = TinyRun.configuration(outerIterations: 4)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gtn-report-\(UUID().uuidString)")
        let run = try TrainingRun.start(in: directory, configuration: c, data: TinyRun.data,
                                        policy: TrainingRun.Policy(evaluateEvery: 2, evaluationLearners: 2, checkpointEvery: 2))
        let monitor = try RunMonitor(run: run)
        var failure: (any Error)?
        try run.run { event in
            do { try monitor.record(event) } catch { failure = error }
            if case .evaluationFinished = event { run.policy.evaluationSplit = .validation }
        }
        if let failure { throw failure }
        let stepsCurve: [[String: Any]] = [3, 4, 6, 8, 12].enumerated().map { i, steps in
            ["steps": steps, "lr": 0.5, "accuracy_mean": 0.6 + 0.03 * Double(i), "accuracy_std": 0.01]
        }
        let evaluation: [String: Any] = ["steps": 3, "accuracy_curve": [0.2, 0.35, 0.5], "gtn_accuracy_mean": 0.66,
                                         "real_grid_accuracy_mean": 0.6, "real_learned_accuracy_mean": 0.65, "real_accuracy_mean": 0.65,
                                         "real_steps_curve": stepsCurve, "real_steps_to_match": 8]
        try JSONSerialization.data(withJSONObject: evaluation).write(to: directory.appendingPathComponent(RunHistory.evaluationFileName))
        let rows: [[String: Any]] = (0..<12).map { (i: Int) -> [String: Any] in
            let d = Double(i)
            let gtn: Double = 0.5 + 0.02 * Double(i % 5), real128: Double = 0.7 + 0.01 * Double((i * 7) % 12)
            return ["candidate": "c3x\(8 + i)-fc32", "gtn_accuracy": gtn, "real32_accuracy": 0.6 + 0.01 * d,
                    "real128_accuracy": real128, "ground_truth_accuracy": 0.8 + 0.01 * d]
        }
        try JSONSerialization.data(withJSONObject: ["rows": rows, "gtn_steps": 3, "real_proxy_steps": [32, 128], "ground_truth_epochs": 1])
            .write(to: directory.appendingPathComponent("nas.json"))
        return directory
    }

    /// Charts the report must hold: meta-loss, gradient norm, accuracy by iteration and by
    /// training time, the per-step curve, real accuracy against its steps, learned learning rate
    /// and momentum, three NAS scatters.
    static let expectedCharts = 11

    func report() throws -> (html: String, url: URL) {
        let directory = try Self.run.get()
        let report = try RunReport.load(directory: directory, nasFile: directory.appendingPathComponent("nas.json"))
        let url = directory.appendingPathComponent("full-report.html")
        try report.write(to: url)
        return (try String(contentsOf: url, encoding: .utf8), url)
    }

    func testSettingsShowNoLimitAsUnlimited() {
        let settings = RunHistory.flatten(["outerIterations": Int.max, "preset": ["steps": 32]], prefix: "")
        XCTAssertEqual(settings.map(\.key), ["outerIterations", "preset.steps"])
        XCTAssertEqual(settings.map(\.value), ["unlimited", "32"])
    }

    /// Evaluations are placed on the run's own clock, which resumes continue; a log from before
    /// that clock was recorded is stitched from each process's elapsed time instead.
    func testTrainingTimeFollowsTheRunsClockAcrossResumes() throws {
        func times(_ rows: [String]) throws -> [Double] {
            let directory = try temporaryDirectory()
            try (rows.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent(MetricsLog.fileName),
                                                             atomically: true, encoding: .utf8)
            return try RunReport.load(directory: directory).trainingTimes()
        }
        func row(_ iteration: Int, _ elapsed: Double, run: Double? = nil) -> String {
            let clock = run.map { ",\"run_elapsed_seconds\":\($0)" } ?? ""
            return "{\"type\":\"evaluation\",\"iteration\":\(iteration),\"elapsed_seconds\":\(elapsed)\(clock),"
                + "\"gtn_accuracy_mean\":0.5,\"gtn_accuracy_std\":0,\"accuracies\":[0.5],\"steps\":3}"
        }
        // The second process resumed at 100 s of run time and evaluated 30 s later.
        XCTAssertEqual(try times([row(10, 80, run: 90), row(20, 30, run: 130)]), [90, 130])
        XCTAssertEqual(try times([row(10, 80), row(20, 30)]), [80, 110])
        XCTAssertEqual(try times([row(10, 80), row(20, 30, run: 130)]), [80, 110])
    }

    /// A run whose evaluations moved from the test to the validation images (`--eval-split` on
    /// resume) draws one series for each, and baselines say which images they were measured on.
    func testEachSplitIsItsOwnSeriesAndSaysWhichImagesItScored() throws {
        let directory = try temporaryDirectory()
        func row(_ iteration: Int, _ split: String?) -> String {
            "{\"type\":\"evaluation\",\"iteration\":\(iteration),\"elapsed_seconds\":\(iteration),"
                + (split.map { "\"split\":\"\($0)\"," } ?? "")
                + "\"gtn_accuracy_mean\":0.5,\"gtn_accuracy_std\":0,\"accuracies\":[0.5],\"steps\":3}"
        }
        let metrics = directory.appendingPathComponent(MetricsLog.fileName)
        try ([row(10, nil), row(20, "test"), row(30, "validation")].joined(separator: "\n") + "\n").write(to: metrics, atomically: true, encoding: .utf8)
        let evaluation: [String: Any] = ["steps": 3, "split": "validation", "accuracy_curve": [0.2, 0.5], "real_grid_accuracy_mean": 0.6]
        try JSONSerialization.data(withJSONObject: evaluation).write(to: directory.appendingPathComponent(RunHistory.evaluationFileName))
        let report = try RunReport.load(directory: directory)
        XCTAssertEqual(report.history.evaluations.map(\.scoredOn), [.test, .test, .validation])
        let html = report.html()
        XCTAssertTrue(html.contains("GTN-3 test, mean ± std") && html.contains("GTN-3 validation, mean ± std"))
        XCTAssertTrue(html.contains("iteration 30: 50.00% ± 0.00 (K=1, validation)"))
        XCTAssertTrue(html.contains("real-3, best lr of the grid, validation"))
        XCTAssertTrue(html.contains("validation accuracy (%)"), "the per-step curve is eval.json's split")

        // One split: the axis names it and the series needs no split in its name.
        try (row(10, nil) + "\n").write(to: metrics, atomically: true, encoding: .utf8)
        let single = try RunReport.load(directory: directory).html()
        XCTAssertTrue(single.contains("GTN-3 test accuracy by outer iteration") && single.contains("GTN-3 mean ± std"))
        XCTAssertFalse(single.contains("GTN-3 test, mean ± std"))
    }

    func testTrainingWritesTheReportAndItIsSelfContained() throws {
        let directory = try Self.run.get()
        let live = try String(contentsOf: directory.appendingPathComponent(RunReport.fileName), encoding: .utf8)
        XCTAssertEqual(live.components(separatedBy: "<svg class=\"chart\"").count - 1, 6, "written by the monitor, no eval.json or nas.json yet")
        let (html, _) = try report()
        XCTAssertEqual(html.components(separatedBy: "<svg class=\"chart\"").count - 1, Self.expectedCharts)
        XCTAssertTrue(html.contains("src=\"data:image/png;base64,"))
        for external in ["<script", "http://", "https://", "<link", "@import", "url("] where external != "http://" {
            XCTAssertFalse(html.contains(external), "the report must not load \(external)")
        }
        // The only http:// is the SVG namespace, which browsers never fetch.
        XCTAssertEqual(html.components(separatedBy: "http://").count - 1, html.components(separatedBy: "xmlns=\"http://www.w3.org/2000/svg\"").count - 1)
        XCTAssertTrue(html.contains("real-3, best lr of the grid"))
        XCTAssertTrue(html.contains("Real data: accuracy against its steps") && html.contains("12 real steps (lr 0.50): 72.00% ± 1.00"))
        XCTAssertTrue(html.contains("Spearman"))
        let settings = try RunHistory(directory: directory).settings
        XCTAssertEqual(settings.filter { $0.key.hasPrefix("policy.") }.map { "\($0.key)=\($0.value)" },
                       ["policy.checkpointEvery=2", "policy.evaluateEvery=2", "policy.evaluationLearners=2",
                        "policy.evaluationSplit=\"test\"", "policy.snapshotEvery=0"], "the run's cadences, as it was started")
        XCTAssertTrue(html.contains("policy.evaluateEvery"))
    }

    // MARK: Headless Chromium

    /// `chromium-headless-shell` ($GTN_CHROMIUM, then PATH); a failure, not a skip, under CI.
    func chromium() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        let candidates = [environment["GTN_CHROMIUM"]].compactMap { $0 }
            + (environment["PATH"] ?? "/usr/bin").split(separator: ":").map { "\($0)/chromium-headless-shell" }
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return URL(fileURLWithPath: found) }
        let message = "chromium-headless-shell not found (apt-get install chromium-headless-shell, or set GTN_CHROMIUM)"
        if environment["CI"] == "true" { XCTFail(message); throw XCTSkip(message) }
        throw XCTSkip(message)
    }

    @discardableResult
    func execute(_ executable: URL, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "\(executable.lastPathComponent) \(arguments.joined(separator: " "))")
        return String(decoding: data, as: UTF8.self)
    }

    func testReportRendersEveryChartInChromium() throws {
        let browser = try chromium()
        let (html, url) = try report()
        let width = 1200
        // A copy with a script that records where each chart and the grid lie; the report itself has none.
        let probe = url.deletingLastPathComponent().appendingPathComponent("probe.html")
        let script = "<script>document.body.setAttribute('data-boxes', JSON.stringify({height: document.documentElement.scrollHeight, boxes: [...document.querySelectorAll('svg.chart'), ...document.querySelectorAll('img.grid')].map(e => { const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height] })}))</script>"
        try html.replacingOccurrences(of: "</body>", with: script + "</body>").write(to: probe, atomically: true, encoding: .utf8)
        let dom = try execute(browser, ["--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=\(width),1000", "--dump-dom", probe.absoluteString])
        XCTAssertEqual(dom.components(separatedBy: "<svg class=\"chart\"").count - 1, Self.expectedCharts, "charts in Chromium's DOM")
        let attribute = try XCTUnwrap(dom.range(of: "data-boxes=\"").map { dom[$0.upperBound...].prefix { $0 != "\"" } })
        let layout = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(attribute.replacingOccurrences(of: "&quot;", with: "\"").utf8)) as? [String: Any])
        let height = try XCTUnwrap(layout["height"] as? Double)
        let boxes = try XCTUnwrap(layout["boxes"] as? [[Double]])
        XCTAssertEqual(boxes.count, Self.expectedCharts + 1)

        let shot = url.deletingLastPathComponent().appendingPathComponent("shot.png")
        try execute(browser, ["--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=\(width),\(Int(height.rounded(.up)))",
                              "--screenshot=\(shot.path)", url.absoluteString])
        let image = try DecodedPNG(Data(contentsOf: shot))
        XCTAssertEqual(image.width, width)
        XCTAssertGreaterThan(image.variance(x: 0, y: 0, width: image.width, height: image.height), 100, "a blank page")
        for (index, box) in boxes.enumerated() {
            XCTAssertGreaterThan(box[2], 100, "box \(index) has no width")
            XCTAssertGreaterThan(box[3], 100, "box \(index) has no height")
            // Inside the frame, past the title: what the chart drew.
            let variance = image.variance(x: Int(box[0]) + 2, y: Int(box[1]) + 40, width: Int(box[2]) - 4, height: Int(box[3]) - 44)
            XCTAssertGreaterThan(variance, 50, "chart \(index) at \(box) looks blank")
            let inked = image.fractionDarker(than: 200, x: Int(box[0]) + 2, y: Int(box[1]) + 40, width: Int(box[2]) - 4, height: Int(box[3]) - 44)
            XCTAssertGreaterThan(inked, 0.005, "chart \(index) at \(box) has almost nothing drawn")
            if index < Self.expectedCharts {  // the charts' data is in colour, unlike their frames, text and the grid
                let coloured = image.fractionColoured(x: Int(box[0]) + 2, y: Int(box[1]) + 40, width: Int(box[2]) - 4, height: Int(box[3]) - 44)
                XCTAssertGreaterThan(coloured, 0.002, "chart \(index) at \(box) draws no data")
            }
        }
    }

    // MARK: TensorBoard's reader

    /// A Python with the `tensorboard` package: $GTN_TENSORBOARD_PYTHON, then
    /// ~/.cache/gtn/tensorboard-venv, then python3 if it has it. A failure, not a skip, under CI.
    func tensorBoardPython() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        var candidates = [environment["GTN_TENSORBOARD_PYTHON"], "\(home)/.cache/gtn/tensorboard-venv/bin/python"].compactMap { $0 }
        candidates += (environment["PATH"] ?? "/usr/bin").split(separator: ":").map { "\($0)/python3" }
        for path in candidates where FileManager.default.isExecutableFile(atPath: path) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = ["-c", "import tensorboard.backend.event_processing.event_accumulator"]
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            if process.terminationStatus == 0 { return URL(fileURLWithPath: path) }
        }
        let message = "no Python with the tensorboard package (python3 -m venv ~/.cache/gtn/tensorboard-venv && ~/.cache/gtn/tensorboard-venv/bin/pip install tensorboard, or set GTN_TENSORBOARD_PYTHON)"
        if environment["CI"] == "true" { XCTFail(message); throw XCTSkip(message) }
        throw XCTSkip(message)
    }

    func testTensorBoardReadsWhatMetricsHold() throws {
        let python = try tensorBoardPython()
        let directory = try Self.run.get()
        let script = """
        import json, sys
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        ea = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "images": 0})
        ea.Reload()
        tags = ea.Tags()
        out = {"scalars": {t: [[e.step, e.value] for e in ea.Scalars(t)] for t in tags["scalars"]},
               "images": {t: [[e.step, e.width, e.height, len(e.encoded_image_string), e.encoded_image_string[:8].hex()] for e in ea.Images(t)] for t in tags["images"]}}
        print(json.dumps(out))
        """
        let output = try execute(python, ["-c", script, directory.appendingPathComponent(RunMonitor.tensorBoardDirectoryName).path])
        let read = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: [String: [[Any]]]])
        let scalars = try XCTUnwrap(read["scalars"]), images = try XCTUnwrap(read["images"])

        let history = try RunHistory(directory: directory)
        XCTAssertEqual(history.iterations.count, 4)
        XCTAssertEqual(history.evaluations.count, 2)
        func check(_ tag: String, _ expected: [(Int, Double)]) {
            let got = scalars[tag] ?? []
            XCTAssertEqual(got.map { $0[0] as? Int }, expected.map(\.0), tag)
            for (row, (_, value)) in zip(got, expected) {
                let v = row[1] as? Double ?? .nan
                XCTAssertEqual(v, Double(Float(value)), accuracy: 1e-12 + 1e-7 * abs(value), tag)
            }
        }
        XCTAssertEqual(Set(scalars.keys), [RunMonitor.Tag.metaLoss, RunMonitor.Tag.finalLoss, RunMonitor.Tag.gradientNorm,
                                          RunMonitor.Tag.outerLearningRate, RunMonitor.Tag.accuracyMean, RunMonitor.Tag.accuracyStd,
                                          RunMonitor.Tag.validationAccuracyMean, RunMonitor.Tag.validationAccuracyStd])
        check(RunMonitor.Tag.metaLoss, history.iterations.map { ($0.iteration, $0.metaLoss) })
        check(RunMonitor.Tag.finalLoss, history.iterations.map { ($0.iteration, $0.finalLoss ?? .nan) })
        check(RunMonitor.Tag.gradientNorm, history.iterations.map { ($0.iteration, $0.gradientNorm) })
        check(RunMonitor.Tag.outerLearningRate, history.iterations.map { ($0.iteration, $0.outerLearningRate) })
        XCTAssertEqual(history.evaluations.map(\.scoredOn), [.test, .validation])
        for (split, mean, std) in [(EvaluationSplit.test, RunMonitor.Tag.accuracyMean, RunMonitor.Tag.accuracyStd),
                                   (.validation, RunMonitor.Tag.validationAccuracyMean, RunMonitor.Tag.validationAccuracyStd)] {
            let rows = history.evaluations.filter { $0.scoredOn == split }
            check(mean, rows.map { ($0.iteration, $0.gtnAccuracyMean) })
            check(std, rows.map { ($0.iteration, $0.gtnAccuracyStd) })
        }

        let grids = try XCTUnwrap(images[RunMonitor.Tag.curriculum])
        XCTAssertEqual(grids.map { $0[0] as? Int }, [2, 4])
        let teacher = try Checkpoint.load(from: directory).state.teacher
        let grid = CurriculumGrid.render(teacher)
        XCTAssertEqual(grids.last?[1] as? Int, grid.size.width)
        XCTAssertEqual(grids.last?[2] as? Int, grid.size.height)
        XCTAssertEqual(grids.last?[3] as? Int, grid.pngData().count, "the last image is the final teacher's grid")
        XCTAssertEqual(grids.last?[4] as? String, "89504e470d0a1a0a", "a PNG")
    }
}

/// Just enough PNG decoding for Chromium's screenshots: 8-bit RGB or RGBA, non-interlaced,
/// all five row filters; pixels as luminance.
struct DecodedPNG {
    let width: Int
    let height: Int
    let gray: [Double]
    /// Largest minus smallest channel: 0 for the gray axes, text and grid, high for data in colour.
    let chroma: [Double]

    init(_ data: Data) throws {
        let bytes = [UInt8](data)
        func be32(_ i: Int) -> Int { Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]) }
        var offset = 8, idat: [UInt8] = [], w = 0, h = 0, colorType = 0
        while offset + 8 <= bytes.count {
            let length = be32(offset), type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let body = Array(bytes[(offset + 8)..<(offset + 8 + length)])
            if type == "IHDR" {
                w = be32(offset + 8); h = be32(offset + 12); colorType = Int(body[9])
                guard body[8] == 8, [2, 6].contains(colorType), body[12] == 0 else { throw XCTSkip("unsupported PNG layout \(body)") }
            }
            if type == "IDAT" { idat += body }
            offset += 12 + length
        }
        let channels = colorType == 6 ? 4 : 3, stride = w * channels
        var raw = [UInt8](repeating: 0, count: (stride + 1) * h)
        var size = uLongf(raw.count)
        let status = raw.withUnsafeMutableBufferPointer { out in idat.withUnsafeBufferPointer { uncompress(out.baseAddress, &size, $0.baseAddress, uLong($0.count)) } }
        guard status == Z_OK else { throw NSError(domain: "PNG", code: Int(status)) }
        var pixels = [UInt8](repeating: 0, count: stride * h)
        for y in 0..<h {
            let filter = raw[y * (stride + 1)]
            for x in 0..<stride {
                let value = raw[y * (stride + 1) + 1 + x]
                let a = x >= channels ? Int(pixels[y * stride + x - channels]) : 0
                let b = y > 0 ? Int(pixels[(y - 1) * stride + x]) : 0
                let c = x >= channels && y > 0 ? Int(pixels[(y - 1) * stride + x - channels]) : 0
                let predictor: Int
                switch filter {
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                default: predictor = 0
                }
                pixels[y * stride + x] = UInt8(truncatingIfNeeded: Int(value) + predictor)
            }
        }
        width = w
        height = h
        gray = (0..<(w * h)).map { (i: Int) -> Double in
            let r = Double(pixels[i * channels]), g = Double(pixels[i * channels + 1]), b = Double(pixels[i * channels + 2])
            return 0.299 * r + 0.587 * g + 0.114 * b
        }
        chroma = (0..<(w * h)).map { (i: Int) -> Double in
            let channels = [pixels[i * channels], pixels[i * channels + 1], pixels[i * channels + 2]]
            return Double(channels.max()! - channels.min()!)
        }
    }

    private func region(x: Int, y: Int, width: Int, height: Int, of values: [Double]? = nil) -> [Double] {
        let xs = max(x, 0)..<min(x + width, self.width), ys = max(y, 0)..<min(y + height, self.height)
        return ys.flatMap { row in xs.map { (values ?? gray)[row * self.width + $0] } }
    }

    func fractionColoured(x: Int, y: Int, width: Int, height: Int) -> Double {
        let values = region(x: x, y: y, width: width, height: height, of: chroma)
        return values.isEmpty ? 0 : Double(values.filter { $0 > 60 }.count) / Double(values.count)
    }

    func variance(x: Int, y: Int, width: Int, height: Int) -> Double {
        let values = region(x: x, y: y, width: width, height: height)
        guard !values.isEmpty else { return 0 }
        let mean = values.reduce(0, +) / Double(values.count)
        return values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
    }

    func fractionDarker(than level: Double, x: Int, y: Int, width: Int, height: Int) -> Double {
        let values = region(x: x, y: y, width: width, height: height)
        return values.isEmpty ? 0 : Double(values.filter { $0 < level }.count) / Double(values.count)
    }
}
