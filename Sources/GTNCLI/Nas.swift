import ArgumentParser
import Datasets
import FileFormats
import Foundation
import GTN
import NAS
import Support

extension SearchStrategy: ExpressibleByArgument {}

private let searchDiscussion = """
Candidates are learners of 2-4 conv blocks (kernel 3 or 5, width 8-48) and an FC head \
(32-256), written like c3x48-c5x96-fc128. Each is scored by the GTN proxy: validation accuracy \
after the teacher's T steps on its curriculum. With --ground-truth-epochs E > 0 each candidate is \
also trained on real data: 32 and 128 SGD steps (the real-data proxies, lr --real-lr, momentum 0.5, \
batches of 128) and E epochs (the ground truth, cosine-annealed from --real-lr); the report gives \
the Spearman and Kendall correlations of each proxy with the ground truth, their seconds per \
candidate and the ground-truth ranks of each proxy's top 5. The best candidate (by ground truth, \
else by the GTN proxy) is then trained for --final-epochs and its test accuracy reported.

Candidates run in parallel (--workers, default: all cores), each on one core. Results depend only \
on the checkpoint, the data and the options, never on the core count or the scheduling.

Scale-out: --shard i/n evaluates shard i of n (i is 0-based, 0 ≤ i < n; candidates are dealt out \
by estimated cost so that shards take about as long) and writes \
--shard-dir/nas-shard-i-of-n.json; `gtn nas merge` combines all n files into the report a single \
process gives. Without --shard, the shard is read from a SLURM job array (SLURM_ARRAY_TASK_ID minus \
SLURM_ARRAY_TASK_MIN, so --array=0-7 and --array=1-8 both give 0..7, of SLURM_ARRAY_TASK_COUNT) or a \
Kubernetes indexed job (JOB_COMPLETION_INDEX, 0-based, with the count from --shard-count or \
GTN_SHARD_COUNT). Random search draws the whole candidate list from --seed in every shard; evolution \
runs the whole (cheap, GTN-proxy) search identically in every shard and shards the real-data training.

A killed search loses only the candidates in flight: each finished one is saved at once in \
--shard-dir/nas-shard-i-of-n.partial.json (0-of-1 without sharding), and the same command run again \
continues from there (a file of a different search is refused). The file is removed when the run completes.
"""

struct Nas: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nas",
        abstract: "Search learner architectures with a checkpoint's GTN as the proxy, and measure how well it ranks them.",
        discussion: searchDiscussion + "\n\n`gtn nas --checkpoint DIR ...` runs `gtn nas search`; `gtn nas search --help` lists its options.",
        subcommands: [Search.self, Merge.self],
        defaultSubcommand: Search.self)

    struct Search: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Evaluate candidates (all, or one shard) with the GTN proxy and, optionally, on real data.",
            discussion: searchDiscussion + "\n\n`gtn nas --checkpoint DIR ...` is short for `gtn nas search --checkpoint DIR ...`.")

        @Option(help: "Run directory holding checkpoint.safetensors (its teacher is the proxy; its dataset is used).")
        var checkpoint: String

        @Option(help: "Search strategy: random or evolution (aging evolution).")
        var strategy: SearchStrategy = .random

        @Option(help: "Candidates to evaluate (N).")
        var candidates: Int = 30

        @Option(name: .customLong("ground-truth-epochs"), help: "Epochs of real training that define the ground truth (0: GTN proxy only, no real-data training or correlations).")
        var groundTruthEpochs: Int = 1

        @Option(name: .customLong("final-epochs"), help: "Epochs the best candidate is trained for before its test accuracy is measured (0: skip).")
        var finalEpochs: Int = 3

        @Option(name: .customLong("real-lr"), help: "SGD learning rate of the real-data proxies and peak rate of the ground truth.")
        var realLearningRate: Double = 0.2

        @Option(help: "Seed of the candidates, their initial weights and the data order.")
        var seed: UInt64 = 0

        @Option(help: "Write the report as JSON (snake_case keys) to this file.")
        var json: String?

        @Option(help: "Evaluate only shard i of n (0-based: 0/4 … 3/4) and write its result file for `gtn nas merge`.")
        var shard: String?

        @Option(name: .customLong("shard-count"), help: "Number of shards when the index comes from JOB_COMPLETION_INDEX (or set GTN_SHARD_COUNT).")
        var shardCount: Int?

        @Option(name: .customLong("shard-dir"), help: "Directory for the shard result file and for the finished candidates that a rerun continues from.")
        var shardDirectory: String = "."

        @Option(help: "Candidates evaluated at once (default: the number of cores).")
        var workers: Int?

        @Option(name: .customLong("data-dir"), help: "Directory holding the dataset's IDX files (default: $GTN_DATA_DIR, then ~/.cache/gtn/<dataset>).")
        var dataDirectory: String?

        func validate() throws {
            try requirePositive(candidates, "--candidates")
            try requirePositive(workers, "--workers")
            try requirePositive(shardCount, "--shard-count")
            if candidates < 2 { throw ValidationError("--candidates must be at least 2 to rank anything, got \(candidates)") }
            let space = NASConfiguration().space
            if candidates > min(Limits.candidates, Int(min(space.size, Double(Int.max)))) {
                throw ValidationError("--candidates must be at most \(min(Limits.candidates, Int(min(space.size, Double(Int.max))))) (the limit per run, and the size of the search space), got \(candidates)")
            }
            if let shard = try resolvedShard(), shard.count > candidates {
                throw ValidationError("--shard: \(shard.count) shards for \(candidates) candidates would leave shards empty; use at most \(candidates)")
            }
            try requirePositive(workers, "--workers")
            try checkOutputs([("--json", json)], inputRuns: [URL(fileURLWithPath: checkpoint)])
            if groundTruthEpochs < 0 { throw ValidationError("--ground-truth-epochs must be ≥ 0, got \(groundTruthEpochs)") }
            if finalEpochs < 0 { throw ValidationError("--final-epochs must be ≥ 0, got \(finalEpochs)") }
            if !(realLearningRate > 0) { throw ValidationError("--real-lr must be positive, got \(realLearningRate)") }
            if try resolvedShard() != nil, json != nil {
                throw ValidationError("--json: a shard writes its result file to --shard-dir; `gtn nas merge --json FILE` writes the report")
            }
        }

        /// --shard, else the scheduler's environment; `nil` for a single-process run.
        func resolvedShard() throws -> ShardSpec? {
            if let shard {
                do { return try ShardSpec(parsing: shard) } catch { throw ValidationError("--shard: \(error)") }
            }
            do {
                if let found = try ShardSpec.fromEnvironment(ProcessInfo.processInfo.environment, explicitCount: shardCount) { return found }
            } catch {
                throw ValidationError("shard from the environment: \(error)")
            }
            if shardCount != nil {
                throw ValidationError("--shard-count needs the shard index from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID; pass --shard i/n otherwise")
            }
            return nil
        }

        @OptionGroup var output: OutputOptions

        func run() throws {
            output.apply()
            try Ranks.run("nas") { world in try run(world) }
        }

        /// Under mpirun each rank evaluates shard rank/size and rank 0 merges and reports.
        func run(_ world: any Communicator) throws {
            let shardSpec = try resolvedShard()
            if world.size > 1, shardSpec != nil {
                throw ValidationError("under mpirun the ranks are the shards; drop --shard (and the job array's shard variables)")
            }
            let directory = URL(fileURLWithPath: checkpoint)
            let (trainingConfiguration, state) = try Checkpoint.load(from: directory)
            let identity = try Digest.fileSHA256(Checkpoint.url(in: directory))
            let realData = try loadData(datasetName: trainingConfiguration.dataset, directory: dataDirectory)

            var configuration = NASConfiguration()
            configuration.strategy = strategy
            configuration.candidates = candidates
            configuration.seed = seed
            configuration.training.groundTruthEpochs = groundTruthEpochs
            configuration.training.finalEpochs = finalEpochs
            configuration.training.learningRate = realLearningRate
            let runner = NASRunner(configuration: configuration, teacher: state.teacher, teacherIdentity: identity,
                                   teacherIteration: state.iteration, data: realData, dataset: trainingConfiguration.dataset,
                                   workers: workers ?? (world.size > 1 ? Parallel.threadCount : ProcessInfo.processInfo.activeProcessorCount))
            Terminal.line("NAS: \(strategy.rawValue) search over \(candidates) candidates (\(configuration.space)); GTN-\(runner.proxy.steps) proxy from \(directory.path) at outer iteration \(state.iteration); \(runner.workers) worker\(runner.workers == 1 ? "" : "s")" + (shardSpec.map { "; shard \($0)" } ?? ""))
            if groundTruthEpochs > 0 {
                Terminal.line("ground truth: \(groundTruthEpochs) epoch\(groundTruthEpochs == 1 ? "" : "s") (\(groundTruthEpochs * runner.trainer.stepsPerEpoch) steps) of SGD on real data per candidate")
            }
            let saveDirectory = URL(fileURLWithPath: shardDirectory)
            try Directory.create(saveDirectory, role: "--shard-dir")
            // Under mpirun each rank is a shard; its finished candidates are saved like one's.
            let shard = world.size > 1 ? try ShardSpec(index: world.rank, count: world.size) : shardSpec ?? .whole
            let partial = saveDirectory.appendingPathComponent(ShardResult.partialFileName(for: shard))
            if FileManager.default.fileExists(atPath: partial.path) {
                Terminal.line("continuing from the finished candidates in \(partial.path)")
            }
            if world.size > 1 {
                Terminal.line("\(world.size) MPI ranks, one shard each; rank 0 merges")
                let report = try runner.run(communicator: world, savingProgressIn: saveDirectory, progress: NasProgress.show)
                if var report { try NasOutput.finish(&report, trainer: runner.trainer, json: json) }
                try? FileManager.default.removeItem(at: partial)
                return
            }
            let result = try runner.run(shard: shard, savingProgressTo: partial, progress: NasProgress.show)
            if let shardSpec {
                let url = saveDirectory.appendingPathComponent(ShardResult.fileName(for: shardSpec))
                try result.write(to: url)
                try? FileManager.default.removeItem(at: partial)
                Terminal.result("shard \(shardSpec): \(result.rows.count) candidates in \(Terminal.duration(result.wallSeconds)) → \(url.path)")
                Terminal.result("when all \(shardSpec.count) shards are done: gtn nas merge \(shardDirectory)/nas-shard-*-of-\(shardSpec.count).json")
                return
            }
            var report = try NASRunner.merge([(name: "this run", result: result)])
            try NasOutput.finish(&report, trainer: runner.trainer, json: json)
            try? FileManager.default.removeItem(at: partial)
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Combine the shard result files of one `gtn nas --shard i/n` run into its report.",
            discussion: """
            Checks that the files come from the same run (checkpoint, seed, strategy, candidates, epochs, \
            candidate list) and that every shard 0..n-1 is there exactly once, then prints the same report \
            a single process gives and trains the best candidate fully, as it does.
            """)

        @Argument(help: "The shard result files (nas-shard-i-of-n.json), in any order.")
        var files: [String]

        @Option(help: "Write the report as JSON (snake_case keys) to this file.")
        var json: String?

        @Option(name: .customLong("data-dir"), help: "Directory holding the dataset's IDX files (default: $GTN_DATA_DIR, then ~/.cache/gtn/<dataset>).")
        var dataDirectory: String?

        func validate() throws {
            if files.isEmpty { throw ValidationError("give the shard result files to merge") }
            if let unfinished = files.first(where: { $0.hasSuffix(".partial.json") }) {
                throw ValidationError("\(unfinished) holds the finished candidates of a shard that has not completed: run that shard's command again to finish it, then merge the nas-shard-i-of-n.json files")
            }
            try checkOutputs([("--json", json)], inputFiles: files.map { ("the shard file \($0)", $0) })
        }

        func run() throws {
            let shards = try files.map { (name: $0, result: try ShardResult.read(from: URL(fileURLWithPath: $0))) }
            var report = try NASRunner.merge(shards)
            let fingerprint = report.fingerprint
            Terminal.result("merged \(shards.count) shards of a \(fingerprint.configuration.strategy.rawValue) search over \(report.candidates) candidates")
            let realData = try loadData(datasetName: fingerprint.dataset, directory: dataDirectory)
            let trainer = RealTrainer(data: realData, settings: fingerprint.configuration.training, seed: fingerprint.configuration.seed)
            try NasOutput.finish(&report, trainer: trainer, json: json)
        }
    }
}

private func loadData(datasetName: String, directory: String?) throws -> RealData {
    guard let kind = DatasetKind(rawValue: datasetName) else {
        throw ValidationError("the run used dataset '\(datasetName)', which this build does not know")
    }
    let start = Date()
    let data = try RealData.load(kind: kind, dataDirectory: directory, splitSeed: 0) { Terminal.line($0) }
    Terminal.line(String(format: "loaded %@: %d train / %d validation / %d test images in %.2f s", datasetName,
                         data.train.count, data.validation.count, data.test.count, Date().timeIntervalSince(start)))
    return data
}

enum NasProgress {
    @Sendable static func show(_ p: NASProgress) {
        let what = p.phase == .search ? "search" : "evaluation"
        let text = String(format: "%@: candidate %d/%d %@ %@ %.2f%% | best %.2f%% %@ | ETA %@", what, p.done, p.total, p.candidate,
                          p.measure, 100 * p.accuracy, 100 * p.bestAccuracy, p.best, Terminal.duration(p.eta))
        if Terminal.isInteractive && p.done < p.total { Terminal.status(text) } else { Terminal.line(text) }
    }
}

enum NasOutput {
    /// Prints the table and summary, trains the best candidate fully, writes the JSON.
    static func finish(_ report: inout NASReport, trainer: RealTrainer, json: String?) throws {
        printTable(report)
        let epochs = report.fingerprint.configuration.training.finalEpochs
        if epochs > 0, let spec = LearnerSpec(parsing: report.bestCandidate) {
            Terminal.status("training \(spec) for \(epochs) epochs…")
            let final = try trainer.trainFully(spec)
            report.record(final)
            Terminal.result(String(format: "best candidate %@ trained for %d epoch%@: test accuracy %.2f%% (validation %.2f%%, %@)",
                                 final.candidate, epochs, epochs == 1 ? "" : "s", 100 * final.testAccuracy,
                                 100 * final.validationAccuracy, Terminal.duration(final.seconds)))
        }
        if let json {
            try AtomicFile.write(try report.json(), to: URL(fileURLWithPath: json))
            Terminal.result("report: \(json)")
        }
    }

    static func printTable(_ r: NASReport) {
        let hasTruth = r.rows.allSatisfy { $0.groundTruthAccuracy != nil }
        let order = r.rows.indices.sorted { a, b in
            let x = r.rows[a], y = r.rows[b]
            let kx = x.groundTruthAccuracy ?? x.gtnAccuracy, ky = y.groundTruthAccuracy ?? y.gtnAccuracy
            return kx != ky ? kx > ky : x.index < y.index
        }
        let steps = r.realProxySteps
        func percent(_ v: Double?) -> String { v.map { String(format: "%6.2f", 100 * $0) } ?? "     –" }
        let width = max(12, r.rows.map(\.candidate.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        var header = "rank  " + pad("candidate", width) + "  params    GTN-\(r.gtnSteps)"
        if hasTruth { header += "  real-\(steps[0])  real-\(steps[1])  truth(\(r.groundTruthEpochs)ep)" }
        Terminal.result(header)
        for (rank, i) in order.enumerated() {
            let row = r.rows[i]
            var line = String(format: "%4d  ", rank + 1) + pad(row.candidate, width) + String(format: "  %7d  ", row.parameters) + percent(row.gtnAccuracy)
            if hasTruth {
                line += "   " + percent(row.real32Accuracy) + "    " + percent(row.real128Accuracy) + "       " + percent(row.groundTruthAccuracy)
            }
            Terminal.result(line)
        }
        func fmt(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "n/a" }
        func seconds(_ v: Double?) -> String { v.map { String(format: "%.2f s", $0) } ?? "n/a" }
        if hasTruth {
            func withInterval(_ rho: Double?, _ interval: [Double]?) -> String {
                fmt(rho) + (interval.map { String(format: " [%.2f, %.2f]", $0[0], $0[1]) } ?? "")
            }
            Terminal.result("Spearman vs ground truth over \(r.candidates) candidates (95% bootstrap interval): GTN-\(r.gtnSteps) \(withInterval(r.spearmanGtn, r.spearmanGtnInterval)) | real-\(steps[0]) \(withInterval(r.spearmanReal32, r.spearmanReal32Interval)) | real-\(steps[1]) \(withInterval(r.spearmanReal128, r.spearmanReal128Interval))")
            Terminal.result("Kendall τ-b: GTN-\(r.gtnSteps) \(fmt(r.kendallGtn)) | real-\(steps[0]) \(fmt(r.kendallReal32)) | real-\(steps[1]) \(fmt(r.kendallReal128))")
            Terminal.result("seconds per candidate (one core): GTN-\(r.gtnSteps) \(seconds(r.proxySecondsGtn)) (+ \(seconds(r.generationSeconds)) once to generate the curriculum) | real-\(steps[0]) \(seconds(r.proxySecondsReal32)) | real-\(steps[1]) \(seconds(r.proxySecondsReal128)) | ground truth \(seconds(r.groundTruthSeconds))")
            func ranks(_ v: [Int]?) -> String { v.map { "[" + $0.map(String.init).joined(separator: ", ") + "]" } ?? "n/a" }
            Terminal.result("ground-truth ranks of each proxy's top 5: GTN-\(r.gtnSteps) \(ranks(r.top5GroundTruthRanksGtn)) | real-\(steps[0]) \(ranks(r.top5GroundTruthRanksReal32)) | real-\(steps[1]) \(ranks(r.top5GroundTruthRanksReal128))")
            Terminal.result(String(format: "best by ground truth: %@ (validation %.2f%%); the GTN proxy's pick %@ is ground-truth rank %@",
                                 r.bestCandidate, 100 * r.bestValidationAccuracy, r.bestByGtn, r.bestByGtnGroundTruthRank.map(String.init) ?? "?"))
        } else {
            Terminal.result("seconds per candidate (one core): GTN-\(r.gtnSteps) \(seconds(r.proxySecondsGtn)) (+ \(seconds(r.generationSeconds)) once to generate the curriculum)")
            Terminal.result(String(format: "best by the GTN proxy: %@ (validation %.2f%% after %d GTN steps)", r.bestCandidate,
                                 100 * r.bestValidationAccuracy, r.gtnSteps))
        }
        Terminal.result("wall time: \(Terminal.duration(r.wallSeconds))" + (r.shards > 1 ? " (slowest of \(r.shards) shards)" : ""))
    }
}
