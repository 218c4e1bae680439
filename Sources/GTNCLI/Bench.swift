import ArgumentParser
import Foundation
import GTN
import Kernels
import Support
import TensorEngine

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the engine's speed (release builds only give meaningful numbers).",
        discussion: "`gtn bench` alone times outer meta-training iterations (`gtn bench train`); `gtn bench kernels` times GEMM and convolution.",
        subcommands: [TrainBench.self, KernelsBench.self],
        defaultSubcommand: TrainBench.self)
}

struct KernelsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "GFLOP/s of GEMM (pure Swift and OpenBLAS side by side) and of conv2d's three passes at the paper preset's MNIST shapes.")

    @Option(parsing: .unconditional, help: "Seconds to spend timing each case (median of repeated runs).")
    var seconds: Double = 0.5

    @Option(parsing: .unconditional, help: "Batch size of the convolution shapes (1 to 4096).")
    var batch: Int = 128

    func validate() throws {
        try requirePositive(batch, "--batch")
        try requireAtMost(batch, 4096, "--batch")
        try requirePositiveFinite(seconds, "--seconds")
    }

    func run() throws {
        var backends: [GEMMBackend] = [.swift]
        if OpenBLAS.isAvailable { backends.append(.openBLAS) }
        Terminal.result("threads: \(Parallel.threadCount); OpenBLAS: \(OpenBLAS.libraryDescription); default GEMM: \(GEMM.defaultBackend.rawValue)")
        Terminal.result("GEMM (GFLOP/s)")
        let rows = KernelBenchmark.gemm(shapes: KernelBenchmark.noteShapes, backends: backends, minSeconds: seconds)
        let shapeLabels = KernelBenchmark.noteShapes.map(\.label)
        Terminal.result("  " + "shape".padding(toLength: 34, withPad: " ", startingAt: 0) + backends.map { $0.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0) }.joined() + (backends.count > 1 ? "swift/openBLAS" : ""))
        for label in shapeLabels {
            let values = backends.map { b in rows.first { $0.label == label && $0.backend == b }?.gflops ?? .nan }
            var line = "  " + label.padding(toLength: 34, withPad: " ", startingAt: 0)
            line += values.map { String(format: "%-10.1f", $0) }.joined()
            if values.count > 1 { line += String(format: "%.2f", values[0] / values[1]) }
            Terminal.result(line)
        }

        Terminal.result("conv2d at batch \(batch) (paper and cpu preset shapes; direct-convolution GFLOP/s, so Winograd's are effective rates, and time relative to the im2col GEMM)")
        let cases: [(String, [Int], [Int])] = [
            ("learner conv1 1→64 @28", [batch, 1, 28, 28], [64, 1, 3, 3]),
            ("learner conv2 64→128 @14", [batch, 64, 14, 14], [128, 64, 3, 3]),
            ("generator conv1 128→64 @14", [batch, 128, 14, 14], [64, 128, 3, 3]),
            ("generator conv2 64→1 @28", [batch, 64, 28, 28], [1, 64, 3, 3]),
            ("cpu learner conv2 24→48 @14", [batch, 24, 14, 14], [48, 24, 3, 3]),
            ("cpu generator conv1 64→32 @14", [batch, 64, 14, 14], [32, 64, 3, 3]),
        ]
        var rng = SeededGenerator(seed: 1)
        for (label, xShape, wShape) in cases {
            let x = Tensor.randomNormal(xShape, using: &rng), w = Tensor.randomNormal(wShape, using: &rng)
            let y = conv2d(x, w, padding: 1)
            let gy = Tensor.randomNormal(y.shape, using: &rng)
            let flops = 2.0 * Double(xShape[0] * wShape[0] * xShape[1] * 9 * xShape[2] * xShape[3])
            let m = wShape[0], k = xShape[1] * 9, n = xShape[0] * xShape[2] * xShape[3]
            let passes: [(String, () -> Void, (m: Int, n: Int, k: Int, ta: Bool, tb: Bool))] = [
                ("forward", { _ = conv2d(x, w, padding: 1) }, (m, n, k, false, false)),
                ("input-grad", { _ = conv2dInputGradient(gy, w, inputShape: xShape, padding: 1) }, (k, n, m, true, false)),
                ("weight-grad", { _ = conv2dWeightGradient(x, gy, weightShape: wShape, padding: 1) }, (m, k, n, false, true)),
            ]
            for (pass, body, g) in passes {
                let t = medianSeconds(minSeconds: seconds, body)
                let gemm = KernelBenchmark.gemm(shapes: [("", g.m, g.n, g.k, g.ta, g.tb)], backends: [GEMM.defaultBackend], minSeconds: seconds)[0]
                var line = String(format: "  %-30@ %-12@ %7.1f GFLOP/s  %.2f× its GEMM (%.1f GFLOP/s)",
                                  label, pass, flops / t / 1e9, t / gemm.seconds, gemm.gflops)
                if wShape[2] == 3 && min(wShape[0], wShape[1]) >= 16 {
                    // A Winograd shape: also time im2col, which it replaces.
                    ConvolutionOptions.winogradEnabled = false
                    let direct = medianSeconds(minSeconds: seconds, body)
                    ConvolutionOptions.winogradEnabled = true
                    line += String(format: "; im2col %.1f GFLOP/s (Winograd %.2f× faster)", flops / direct / 1e9, direct / t)
                }
                Terminal.result(line)
            }
        }
    }
}

/// Median wall time of `body` over repeated runs lasting at least `minSeconds` in all.
func medianSeconds(minSeconds: Double, _ body: () -> Void) -> Double {
    body()
    var times: [Double] = []
    let start = Date()
    repeat {
        let t0 = Date()
        body()
        times.append(Date().timeIntervalSince(t0))
    } while Date().timeIntervalSince(start) < minSeconds || times.count < 3
    return times.sorted()[times.count / 2]
}

struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Seconds per outer meta-training iteration and peak memory for a preset (median after a warm-up).")

    @Option(help: "Preset: cpu, paper or seed.")
    var preset: Preset.Name = .paper

    @Option(help: "Fixed learner widths c1,c2,f (default 64,128,256 for paper, random otherwise).")
    var widths: LearnerWidths?

    @Option(help: "Timed outer iterations (after one warm-up).")
    var outer: Int = 3

    @Option(help: "Inner steps T.")
    var steps: Int?

    @OptionGroup var memory: MemoryOptions

    @Flag(help: "Print one JSON object.")
    var json = false

    @OptionGroup var data: DataOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requirePositive(outer, "--outer")
        try requirePositive(steps, "--steps")
    }

    func run() throws {
        output.apply()
        var p = Preset.named(preset)
        if let steps { p.steps = steps }
        var c = TrainingConfiguration(preset: p, outerIterations: outer + 1)
        c.fixedWidths = widths ?? (preset == .paper ? LearnerWidths(conv1: 64, conv2: 128, fc: 256) : nil)
        try memory.apply(to: &c)
        let trainer = MetaTrainer(configuration: c, data: try data.load())
        var seconds: [Double] = []
        var poolPeak = 0
        let profiler = OpProfiler.shared
        if !json { Terminal.line("\(c.memoryDescription) meta-gradients, widths \(c.fixedWidths?.description ?? "random")") }
        for i in 0...outer {
            if i == 1 {
                profiler.reset()
                profiler.isEnabled = true
            }
            let m = try trainer.step()
            if i > 0 { seconds.append(m.seconds); poolPeak = max(poolPeak, m.peakMemoryBytes) }
            if !json { Terminal.line(String(format: "outer %d%@: %.2f s, meta-loss %.4f", i, i == 0 ? " (warm-up)" : "", m.seconds, m.metaLoss)) }
        }
        profiler.isEnabled = false
        let sorted = seconds.sorted()
        let median = (sorted[(sorted.count - 1) / 2] + sorted[sorted.count / 2]) / 2
        let rss = peakResidentBytes()
        let flopsPerOuter = profiler.flops / Double(outer)
        let executedPerOuter = profiler.executedFlops / Double(outer)
        let gflops = flopsPerOuter / median / 1e9
        let executedGflops = executedPerOuter / median / 1e9
        let total = seconds.reduce(0, +)
        let peakGflops = KernelBenchmark.fmaPeakGflops()
        let breakdown = profiler.entries.map { e -> [String: Any] in
            ["op": e.op, "calls_per_outer": Double(e.calls) / Double(outer), "seconds_per_outer": e.seconds / Double(outer),
             "fraction": e.seconds / total, "gflops": e.flops > 0 ? e.flops / e.seconds / 1e9 : 0]
        }
        if json {
            let object: [String: Any] = [
                "preset": preset.rawValue, "memory_mode": c.memoryMode.rawValue,
                "recorded_steps": c.effectiveRecordedSteps, "widths": c.fixedWidths?.description ?? "random",
                "steps": p.steps, "batch": p.batchSize, "seconds_per_outer_median": median, "seconds_per_outer": seconds,
                "peak_rss_bytes": rss, "peak_tensor_bytes": poolPeak, "flops_per_outer": flopsPerOuter, "gflops": gflops,
                "executed_flops_per_outer": executedPerOuter, "executed_gflops": executedGflops,
                "peak_gflops": peakGflops, "fraction_of_peak": executedGflops / peakGflops,
                "threads": Parallel.threadCount, "gemm_backend": GEMM.defaultBackend.rawValue, "ops": breakdown,
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self))
        } else {
            Terminal.result(String(format: "median %.2f s per outer iteration; peak RSS %.2f GiB; peak live tensors %.2f GiB",
                                 median, Double(rss) / 1_073_741_824, Double(poolPeak) / 1_073_741_824))
            Terminal.result(String(format: "%.1f GFLOP per iteration (GEMM-based ops, direct algorithms), %.1f GFLOP/s effective; %.1f GFLOP executed (Winograd convolutions do fewer), %.1f GFLOP/s = %.0f%% of the %.0f GFLOP/s FP32 FMA peak measured on this host",
                                 flopsPerOuter / 1e9, gflops, executedPerOuter / 1e9, executedGflops, 100 * executedGflops / peakGflops, peakGflops))
            Terminal.result("time per op (share of the timed iterations' wall time):")
            for e in profiler.entries.prefix(20) {
                Terminal.result(String(format: "  %-26@ %6.1f%%  %8.3f s/iter  %7.0f calls/iter%@", e.op, 100 * e.seconds / total,
                                     e.seconds / Double(outer), Double(e.calls) / Double(outer),
                                     e.flops > 0 ? String(format: "  %.1f GFLOP/s", e.flops / e.seconds / 1e9) : ""))
            }
        }
    }
}
