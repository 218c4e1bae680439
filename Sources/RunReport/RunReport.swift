import FileFormats
import Foundation
import GTN
import NAS

/// One self-contained HTML page about a run: settings and timing, meta-loss and gradient norm,
/// evaluation accuracy against iterations and wall time (with real-data baselines), the
/// per-step accuracy curve, the learned inner learning rates and momenta, the curriculum grid
/// and, given a `gtn nas` result, each proxy against the ground truth. No scripts, fonts or
/// network: charts are inline SVG and the grid a PNG data URI, so the file can be mailed.
public struct RunReport {
    public var history: RunHistory
    /// The teacher whose learned optimizer and curriculum are shown (nil: those sections say why not).
    public var teacher: Teacher?
    /// The teacher's curriculum grid when already rendered (nil: rendered from `teacher`).
    public var curriculumGrid: ImageGrid?
    /// A `gtn nas --json` result.
    public var nas: [String: Any]?
    public var generated = Date()

    public init(history: RunHistory, teacher: Teacher?, nas: [String: Any]? = nil) {
        self.history = history
        self.teacher = teacher
        self.nas = nas
    }

    /// The run in `directory` with its checkpoint's teacher, if it has one.
    public static func load(directory: URL, evaluationFile: URL? = nil, nasFile: URL? = nil) throws -> RunReport {
        let history = try RunHistory(directory: directory, evaluationFile: evaluationFile)
        let teacher = Checkpoint.exists(in: directory) ? try Checkpoint.load(from: directory).state.teacher : nil
        var nas: [String: Any]?
        if let nasFile {
            guard let data = try? Data(contentsOf: nasFile),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], object["rows"] is [[String: Any]] else {
                throw RunReportError(description: "\(nasFile.path) is not a `gtn nas --json` result")
            }
            nas = object
        }
        return RunReport(history: history, teacher: teacher, nas: nas)
    }

    /// The file name `gtn train` refreshes in its run directory.
    public static let fileName = "report.html"

    public func write(to url: URL) throws {
        try AtomicFile.write(Data(html().utf8), to: url)
    }

    static let colors = (blue: "#1f77b4", orange: "#ff7f0e", green: "#2ca02c", red: "#d62728", purple: "#9467bd", gray: "#999999")

    public func html() -> String {
        var body = ""
        let name = history.directory.standardizedFileURL.lastPathComponent
        body += "<h1>GTN run <code>\(escape(name))</code></h1>"
        body += "<p class=\"meta\">\(escape(history.directory.standardizedFileURL.path)) · report written \(escape(ISO8601DateFormatter().string(from: generated)))</p>"
        body += summarySection()
        body += section("Meta-training", [metaLossChart(), gradientNormChart()])
        body += section("Evaluation", accuracyCharts() + [stepCurveChart(), realStepsChart()].compactMap { $0 },
                        note: history.baselines.isEmpty
                            ? "No real-data baseline known: save <code>gtn eval --checkpoint RUN --real-baseline --curve --json &gt; RUN/eval.json</code> (or pass <code>gtn report --eval FILE</code>) to draw one."
                            : nil)
        body += teacherSection()
        if let nas { body += nasSection(nas) }
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>GTN run \(escape(name))</title>
        <style>
        body { font-family: sans-serif; margin: 24px; color: #222; background: #fafafa; }
        h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
        .meta, .note { color: #666; font-size: 13px; }
        .charts { display: flex; flex-wrap: wrap; gap: 16px; }
        .charts > svg, .charts > figure { background: #fff; border: 1px solid #ddd; margin: 0; }
        table { border-collapse: collapse; font-size: 13px; } td, th { padding: 2px 10px; text-align: left; border-bottom: 1px solid #eee; }
        td.value { font-family: monospace; }
        .columns { display: flex; flex-wrap: wrap; gap: 32px; align-items: flex-start; }
        img.grid { image-rendering: pixelated; }
        figcaption { font-size: 13px; color: #444; padding: 4px 8px; }
        </style></head>
        <body>
        \(body)
        </body></html>

        """
    }

    private func section(_ title: String, _ charts: [SVGChart], note: String? = nil) -> String {
        var out = "<h2>\(escape(title))</h2>"
        if let note { out += "<p class=\"note\">\(note)</p>" }
        return out + "<div class=\"charts\">" + charts.map { $0.svg() }.joined() + "</div>"
    }

    // MARK: Settings and timing

    private func summarySection() -> String {
        let its = history.iterations, evals = history.evaluations
        var timing: [(String, String)] = []
        timing.append(("outer iterations", "\(its.last?.iteration ?? 0)"))
        let seconds = its.map(\.seconds).reduce(0, +)
        timing.append(("meta-training time (iterations)", duration(seconds)))
        if !its.isEmpty { timing.append(("mean per iteration", String(format: "%.2f s", seconds / Double(its.count)))) }
        timing.append(("clipped / skipped iterations", "\(its.filter(\.clipped).count) / \(its.filter(\.skipped).count)"))
        if let peak = its.map(\.peakMemoryBytes).max(), peak > 0 {
            timing.append(("peak memory", String(format: "%.2f GiB", Double(peak) / Double(1 << 30))))
        }
        timing.append(("evaluations", "\(evals.count)"))
        if let last = evals.last {
            timing.append(("last evaluation", String(format: "GTN-%d %@ accuracy %.2f%% ± %.2f after %d iterations (K=%d)", last.steps,
                                                     last.scoredOn.rawValue, 100 * last.gtnAccuracyMean, 100 * last.gtnAccuracyStd, last.iteration, last.accuracies.count)))
            timing.append(("training time at last evaluation", duration(trainingTimes().last ?? 0)))
        }
        for (name, accuracy) in history.baselines { timing.append((name, String(format: "%.2f%%", 100 * accuracy))) }
        let table = { (rows: [(String, String)]) in
            "<table>" + rows.map { "<tr><th>\(escape($0.0))</th><td class=\"value\">\(escape($0.1))</td></tr>" }.joined() + "</table>"
        }
        let settings = history.settings.isEmpty ? "<p class=\"note\">no config.json</p>" : table(history.settings.map { ($0.key, $0.value) })
        return "<h2>Settings and timing</h2><div class=\"columns\"><div>\(table(timing))</div><div>\(settings)</div></div>"
    }

    private func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : s >= 60 ? String(format: "%dm%02ds", s / 60, s % 60)
            : String(format: "%.1f s", seconds)
    }

    // MARK: Meta-training

    /// Iteration rows flagged clipped or skipped, as markers on `value`'s chart.
    private func flagged(_ value: (IterationMetrics) -> Double) -> [SVGChart.Series] {
        let its = history.iterations
        func markers(_ name: String, _ color: String, _ rows: [IterationMetrics]) -> SVGChart.Series {
            // A skipped iteration's value may be non-finite; it is marked at the chart's bottom edge instead.
            SVGChart.Series(name, points: rows.map { (Double($0.iteration), value($0).isFinite ? value($0) : 0) }, color: color,
                            style: .markers(radius: 3.5), hoverTexts: rows.map { "\(name) at iteration \($0.iteration): \(value($0))" })
        }
        return [markers("clipped", Self.colors.orange, its.filter { $0.clipped && !$0.skipped }),
                markers("skipped", Self.colors.red, its.filter(\.skipped))].filter { !$0.points.isEmpty }
    }

    private func metaLossChart() -> SVGChart {
        let its = history.iterations
        // The final loss compares across runs; the meta-loss of a run with intermediate losses
        // sums T of them. Metrics from before the final loss was logged have only the meta-loss.
        var chart = SVGChart(title: "Real-data loss after T inner steps", xLabel: "outer iteration", yLabel: "loss")
        let raw = its.map { (Double($0.iteration), $0.finalLoss ?? $0.metaLoss) }
        chart.series = [
            SVGChart.Series("raw", points: raw, color: Self.colors.blue, lineWidth: 1, opacity: 0.35),
            SVGChart.Series("smoothed", points: Self.smoothed(raw), color: Self.colors.blue, lineWidth: 2),
        ] + flagged { $0.finalLoss ?? $0.metaLoss }
        return chart
    }

    private func gradientNormChart() -> SVGChart {
        var chart = SVGChart(title: "Meta-gradient norm (before clipping)", xLabel: "outer iteration", yLabel: "global norm")
        chart.series = [SVGChart.Series("gradient norm", points: history.iterations.map { (Double($0.iteration), $0.gradientNorm) },
                                        color: Self.colors.purple)] + flagged(\.gradientNorm)
        if let clip = history.settings.first(where: { $0.key == "clipNorm" }).flatMap({ Double($0.value) }) {
            chart.referenceLines = [SVGChart.ReferenceLine("clip norm", y: clip, color: Self.colors.gray)]
        }
        chart.yIncludes = [0]
        return chart
    }

    /// Exponential moving average with TensorBoard's debiasing, weight 0.9 (0.6 for short runs).
    static func smoothed(_ points: [(x: Double, y: Double)]) -> [(x: Double, y: Double)] {
        let weight = points.count < 20 ? 0.6 : 0.9
        var average = 0.0, count = 0
        return points.map { point in
            guard point.y.isFinite else { return (point.x, .nan) }
            count += 1
            average = weight * average + (1 - weight) * point.y
            return (point.x, average / (1 - pow(weight, Double(count))))
        }
    }

    // MARK: Evaluation

    /// Seconds since the run began at each evaluation: the run's own clock
    /// (`run_elapsed_seconds`) where every row has it; in older logs, `elapsed_seconds`, which
    /// restarts with each resumed process, stitched so that later processes continue from the
    /// last value seen before.
    func trainingTimes() -> [Double] {
        let recorded = history.evaluations.compactMap(\.runElapsedSeconds)
        if recorded.count == history.evaluations.count { return recorded }
        var offset = 0.0, previous = 0.0
        return history.evaluations.map { row in
            if row.elapsedSeconds < previous { offset += previous }
            previous = row.elapsedSeconds
            return offset + row.elapsedSeconds
        }
    }

    /// One series per split the run's evaluations scored on (`--eval-split` may change on resume).
    private func accuracyCharts() -> [SVGChart] {
        let evals = history.evaluations
        let steps = evals.last.map { "GTN-\($0.steps)" } ?? "GTN"
        let splits = EvaluationSplit.allCases.filter { split in evals.contains { $0.scoredOn == split } }
        let named = splits.count == 1 ? "\(splits[0].rawValue) accuracy" : "accuracy"
        let baselines = zip(history.baselines, [Self.colors.green, Self.colors.orange]).map {
            SVGChart.ReferenceLine($0.name, y: 100 * $0.accuracy, color: $1)
        }
        func chart(_ title: String, _ xLabel: String, _ xs: [Double]) -> SVGChart {
            var c = SVGChart(title: title, xLabel: xLabel, yLabel: "\(named) (%)")
            c.series = (splits.isEmpty ? [.test] : splits).map { split in
                let rows = zip(xs, evals).filter { $0.1.scoredOn == split }
                return SVGChart.Series(splits.count > 1 ? "\(steps) \(split.rawValue), mean ± std" : "\(steps) mean ± std",
                                       points: rows.map { ($0, 100 * $1.gtnAccuracyMean) },
                                       color: split == .test ? Self.colors.blue : Self.colors.purple, style: .lineAndMarkers(radius: 3),
                                       errors: rows.map { 100 * $1.gtnAccuracyStd },
                                       hoverTexts: rows.map { String(format: "iteration %d: %.2f%% ± %.2f (K=%d, %@)", $1.iteration, 100 * $1.gtnAccuracyMean,
                                                                     100 * $1.gtnAccuracyStd, $1.accuracies.count, $1.scoredOn.rawValue) })
            }
            c.referenceLines = baselines
            return c
        }
        return [chart("\(steps) \(named) by outer iteration", "outer iteration", evals.map { Double($0.iteration) }),
                chart("\(steps) \(named) by training time", "seconds of training (incl. evaluations)", trainingTimes())]
    }

    private func stepCurveChart() -> SVGChart? {
        guard let evaluation = history.evaluation, let curve = evaluation["accuracy_curve"] as? [Double], !curve.isEmpty else { return nil }
        let split = history.evaluationSplit.rawValue
        var chart = SVGChart(title: "Accuracy after each inner step (\(split))", xLabel: "inner step", yLabel: "\(split) accuracy (%)")
        chart.series = [SVGChart.Series("GTN", points: curve.enumerated().map { (Double($0.offset + 1), 100 * $0.element) },
                                        color: Self.colors.blue, style: .lineAndMarkers(radius: 2.5))]
        if let real = evaluation["real_accuracy_curve"] as? [Double], !real.isEmpty {
            chart.series.append(SVGChart.Series("real, grid's best lr", points: real.enumerated().map { (Double($0.offset + 1), 100 * $0.element) },
                                                color: Self.colors.green, style: .lineAndMarkers(radius: 2.5)))
        } else if let real = evaluation["real_accuracy_mean"] as? Double {
            chart.referenceLines = [SVGChart.ReferenceLine("real, after the last step", y: 100 * real, color: Self.colors.green)]
        }
        chart.xIncludes = [0]
        return chart
    }

    /// `gtn eval --real-steps-to-match`: real data against its number of steps, with the
    /// teacher's T-step accuracy as the line it has to reach.
    private func realStepsChart() -> SVGChart? {
        guard let evaluation = history.evaluation, let rows = evaluation["real_steps_curve"] as? [[String: Any]] else { return nil }
        let points = rows.compactMap { row -> (steps: Int, lr: Double, mean: Double, std: Double)? in
            guard let steps = row["steps"] as? Int, let mean = row["accuracy_mean"] as? Double else { return nil }
            return (steps, row["lr"] as? Double ?? .nan, mean, row["accuracy_std"] as? Double ?? 0)
        }
        guard !points.isEmpty else { return nil }
        let split = history.evaluationSplit.rawValue
        var chart = SVGChart(title: "Real data: accuracy against its steps (\(split))", xLabel: "SGD steps on real batches (log scale)", yLabel: "\(split) accuracy (%)")
        chart.series = [SVGChart.Series("real, grid's best lr per count, mean ± std", points: points.map { (Double($0.steps), 100 * $0.mean) },
                                        color: Self.colors.green, style: .lineAndMarkers(radius: 3), errors: points.map { 100 * $0.std },
                                        hoverTexts: points.map { String(format: "%d real steps (lr %.2f): %.2f%% ± %.2f", $0.steps, $0.lr, 100 * $0.mean, 100 * $0.std) })]
        if let gtn = evaluation["gtn_accuracy_mean"] as? Double {
            let steps = evaluation["steps"] as? Int
            chart.referenceLines = [SVGChart.ReferenceLine(steps.map { "GTN-\($0)" } ?? "GTN", y: 100 * gtn, color: Self.colors.blue)]
        }
        chart.logarithmicX = true
        return chart
    }

    // MARK: Teacher

    private func teacherSection() -> String {
        guard let teacher else { return "<h2>Learned optimizer and curriculum</h2><p class=\"note\">No checkpoint in the run directory yet.</p>" }
        func perStep(_ title: String, _ label: String, _ values: [Double], _ color: String) -> SVGChart {
            var c = SVGChart(title: title, xLabel: "inner step", yLabel: label)
            c.series = [SVGChart.Series(label, points: values.enumerated().map { (Double($0.offset), $0.element) }, color: color,
                                        style: .lineAndMarkers(radius: 2.5))]
            c.yIncludes = [0]
            return c
        }
        var out = section("Learned optimizer", [
            perStep("Learned inner learning rate per step", "learning rate", teacher.innerLearningRates, Self.colors.blue),
            perStep("Learned inner momentum per step", "momentum", teacher.innerMomenta, Self.colors.orange),
        ])
        let grid = curriculumGrid ?? CurriculumGrid.render(teacher)
        let (width, height) = grid.size
        let scale = min(2.0, 900.0 / Double(height)) < 1 ? 1.0 : min(2.0, 900.0 / Double(height))
        out += "<h2>Curriculum</h2><div class=\"charts\"><figure><img class=\"grid\" alt=\"generated curriculum\" width=\"\(Int(Double(width) * scale))\" height=\"\(Int(Double(height) * scale))\" src=\"data:image/png;base64,\(grid.pngData().base64EncodedString())\"><figcaption>One row per inner step, one column per batch slot (class above), as the learners see them; each image stretched to its own range.</figcaption></figure></div>"
        return out
    }

    // MARK: Architecture search

    private func nasSection(_ nas: [String: Any]) -> String {
        let rows = nas["rows"] as? [[String: Any]] ?? []
        let truth = rows.compactMap { $0["ground_truth_accuracy"] as? Double }
        guard truth.count == rows.count, !rows.isEmpty else {
            return "<h2>Architecture search</h2><p class=\"note\">The search has no ground truth to compare proxies with.</p>"
        }
        let realSteps = nas["real_proxy_steps"] as? [Int] ?? [32, 128]
        let gtnSteps = nas["gtn_steps"] as? Int
        let proxies = [("gtn_accuracy", "GTN-\(gtnSteps.map(String.init) ?? "T")"),
                       ("real32_accuracy", "real data, \(realSteps.first ?? 32) steps"),
                       ("real128_accuracy", "real data, \(realSteps.last ?? 128) steps")]
        var charts: [SVGChart] = []
        for (key, name) in proxies {
            let proxy = rows.compactMap { $0[key] as? Double }
            guard proxy.count == rows.count else { continue }
            let spearman = RankCorrelation.spearman(proxy, truth), kendall = RankCorrelation.kendallTauB(proxy, truth)
            let order = proxy.indices.sorted { proxy[$0] != proxy[$1] ? proxy[$0] > proxy[$1] : $0 < $1 }
            let top = Set(order.prefix(5))
            func series(_ label: String, _ indices: [Int], _ color: String, _ radius: Double) -> SVGChart.Series {
                SVGChart.Series(label, points: indices.map { (100 * proxy[$0], 100 * truth[$0]) }, color: color,
                                style: .markers(radius: radius),
                                hoverTexts: indices.map { String(format: "%@: proxy %.2f%%, ground truth %.2f%%",
                                                                 rows[$0]["candidate"] as? String ?? "#\($0)", 100 * proxy[$0], 100 * truth[$0]) })
            }
            var chart = SVGChart(title: String(format: "%@: Spearman %.3f, Kendall %.3f", name, spearman ?? .nan, kendall ?? .nan),
                                 xLabel: "\(name) accuracy (%)", yLabel: "ground-truth accuracy (%)")
            chart.width = 420
            chart.series = [series("candidate", rows.indices.filter { !top.contains($0) }, Self.colors.blue, 3),
                            series("proxy's top 5", order.prefix(5).map { $0 }, Self.colors.red, 4.5)]
            charts.append(chart)
        }
        return section("Architecture search: each proxy against the ground truth", charts,
                       note: "\(rows.count) candidates; ground truth: validation accuracy after \(nas["ground_truth_epochs"] as? Int ?? 0) epoch(s). Hover a point for its architecture.")
    }
}
