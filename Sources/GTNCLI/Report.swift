import ArgumentParser
import Foundation
import RunReport

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a run's report: one self-contained HTML page with its settings, curves, learned optimizer and curriculum.",
        discussion: """
        Reads RUN/config.json, RUN/metrics.jsonl and RUN/checkpoint.safetensors. Real-data baselines and the \
        per-step accuracy curve come from a saved `gtn eval --json` result: RUN/eval.json unless --eval names \
        another file (make it with `gtn eval --checkpoint RUN --real-baseline --curve --json > RUN/eval.json`). \
        With --nas, each proxy of a `gtn nas --json` result is plotted against the ground truth. The page needs \
        no network, scripts or fonts; hover a point for its value. `gtn train` refreshes RUN/report.html after \
        every evaluation.
        """)

    @Argument(help: ArgumentHelp("Run directory (the --out of `gtn train`).", valueName: "run"))
    var directory: String

    @Option(help: "A `gtn nas --json` result to plot.")
    var nas: String?

    @Option(name: .customLong("eval"), help: "A `gtn eval --json` result with real-data baselines (default: RUN/eval.json when present).")
    var evaluation: String?

    @Option(help: "HTML file to write (default: RUN/report.html).")
    var out: String?

    func run() throws {
        let directory = URL(fileURLWithPath: self.directory)
        let report = try RunReport.load(directory: directory, evaluationFile: evaluation.map(URL.init(fileURLWithPath:)),
                                        nasFile: nas.map(URL.init(fileURLWithPath:)))
        let url = out.map(URL.init(fileURLWithPath:)) ?? directory.appendingPathComponent(RunReport.fileName)
        try report.write(to: url)
        Terminal.result("wrote \(url.path)")
    }
}
