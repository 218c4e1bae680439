import ArgumentParser
import Datasets
import FileFormats
import Foundation
import GTN
import Support

extension Preset.Name: ExpressibleByArgument {}
extension CurriculumKind: ExpressibleByArgument {}
extension MemoryMode: ExpressibleByArgument {}
extension DatasetKind: ExpressibleByArgument {}
extension EvaluationSplit: ExpressibleByArgument {}

extension LearnerWidths: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
}

/// `--real-lrs 0.5,1,2`: one or more positive, finite learning rates.
struct LearningRateList: ExpressibleByArgument {
    let values: [Double]

    init?(argument: String) {
        let parsed = argument.split(separator: ",", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parsed.allSatisfy({ $0.map { $0 > 0 && $0.isFinite } ?? false }) else { return nil }
        values = parsed.compactMap { $0 }
    }
}

/// Where the data comes from; shared by every command that reads MNIST.
struct DataOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Directory holding the dataset's IDX files (default: $GTN_DATA_DIR, then ~/.cache/gtn/<dataset>; downloaded there when missing).")
    var dataDirectory: String?

    @Option(help: "Dataset: mnist, fashion-mnist or kmnist (default: a checkpoint's own, else mnist).")
    var dataset: DatasetKind?

    /// Loads `--dataset`, else `defaultKind` (a checkpoint's dataset), else MNIST.
    func load(defaultKind: DatasetKind? = nil) throws -> RealData {
        let start = Date()
        let dataset = self.dataset ?? defaultKind ?? .mnist
        // Download messages are few and matter in a log (a slow mirror), so they are permanent lines.
        let data = try RealData.load(kind: dataset, dataDirectory: dataDirectory, splitSeed: 0) { message in
            Terminal.line(message)
        }
        Terminal.line(String(format: "loaded %@: %d train / %d validation / %d test images in %.2f s",
                             dataset.rawValue, data.train.count, data.validation.count, data.test.count,
                             Date().timeIntervalSince(start)))
        return data
    }
}

/// How meta-gradients trade memory for recomputation; shared by `train` and `bench`.
struct MemoryOptions: ParsableArguments {
    @Option(help: "Meta-gradient memory mode: full-unroll (no recomputation; the cpu preset's default, about 6 GiB) or stepwise (rebuild one step's graph at a time in the backward sweep; the default of paper and seed).")
    var memory: MemoryMode?

    @Option(name: .customLong("recorded-steps"), help: "With stepwise: the last K inner steps keep their graph from the forward pass instead of being rebuilt (0 to T; each saves one step's recomputation and holds one step's graph in memory; default: T/2 for paper, 0 for seed).")
    var recordedSteps: Int?

    /// Sets the mode on `configuration` (whose preset already has its final step count).
    func apply(to configuration: inout TrainingConfiguration) throws {
        if let memory { configuration.memoryMode = memory }
        guard let recordedSteps else { return }
        guard configuration.memoryMode == .stepwise else {
            throw ValidationError("--recorded-steps applies to --memory stepwise (this run uses \(configuration.memoryMode.rawValue), which records every step)")
        }
        let steps = configuration.preset.steps
        guard (0...steps).contains(recordedSteps) else {
            throw ValidationError("--recorded-steps must be between 0 and the \(steps) inner steps, got \(recordedSteps)")
        }
        configuration.recordedSteps = recordedSteps
    }
}

/// A positive count, checked with a message naming the flag.
func requirePositive(_ value: Int?, _ flag: String) throws {
    if let value, value <= 0 { throw ValidationError("\(flag) must be a positive number, got \(value)") }
}

/// A positive, finite number, checked with a message naming the flag.
func requirePositiveFinite(_ value: Double?, _ flag: String) throws {
    if let value, !(value > 0 && value.isFinite) { throw ValidationError("\(flag) must be a positive, finite number, got \(value)") }
}

/// A count no larger than `limit`, checked with a message naming the flag.
func requireAtMost(_ value: Int?, _ limit: Int, _ flag: String) throws {
    if let value, value > limit { throw ValidationError("\(flag) must be at most \(limit), got \(value)") }
}

/// Refuses a configuration whose estimated peak memory (`estimatedPeakBytes`) exceeds this
/// machine's, before any work; `message` words it from the two sizes in GiB.
func requireFitsInMemory(_ configuration: TrainingConfiguration,
                         message: (_ neededGiB: Double, _ availableGiB: Double) -> String) throws {
    let needed = configuration.estimatedPeakBytes, available = Double(ProcessInfo.processInfo.physicalMemory)
    if needed > available { throw ValidationError(message(needed / 1_073_741_824, available / 1_073_741_824)) }
}

/// Upper bounds on what a flag may ask for: beyond these a request is a typo, not a plan, and
/// would allocate its way to an abort or run for days.
enum Limits {
    /// Learners trained in one evaluation or outer iteration.
    static let learners = 10_000
    /// Architecture-search candidates in one run.
    static let candidates = 100_000
    /// Real-data steps of `gtn eval --real-steps-to-match` (about 12 epochs of MNIST's 50,000 at B = 128).
    static let realSteps = 5_000
}

/// Turns SIGINT and SIGTERM into a request: `onSignal` runs once on a background queue, and a
/// second signal ends the process at once with the conventional status (128 + signal).
final class Interruption: @unchecked Sendable {
    private let state = Locked<Int32?>(nil)
    private var sources: [DispatchSourceSignal] = []

    init(onSignal: @escaping @Sendable (Int32) -> Void) {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [state] in
                let first = state.withLock { received -> Bool in
                    defer { received = received ?? number }
                    return received == nil
                }
                if first { onSignal(number) } else { exit(128 + number) }
            }
            source.resume()
            sources.append(source)
        }
    }

    /// The first signal received, if any.
    var received: Int32? { state.withLock { $0 } }

    deinit {
        for source in sources { source.cancel() }
        for number in [SIGINT, SIGTERM] { signal(number, SIG_DFL) }
    }
}

/// Refuses, before any work is done, an output that would replace one of the command's inputs
/// (a run's checkpoint, configuration, metrics or lock), another output of the same command, a
/// directory, or a file in a directory that does not exist or cannot be written.
/// `inputRuns` are run directories the command reads.
func checkOutputs(_ outputs: [(flag: String, path: String?)], inputRuns: [URL] = [], inputFiles: [(what: String, path: String)] = []) throws {
    func canonical(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }
    var protected: [(what: String, path: String)] = inputFiles.map { ($0.what, canonical($0.path)) }
    for run in inputRuns {
        protected.append(("the run directory", canonical(run.path)))
        for name in [Checkpoint.fileName, Checkpoint.configurationFileName, MetricsLog.fileName, DirectoryLock.fileName] {
            protected.append(("the run's \(name)", canonical(run.appendingPathComponent(name).path)))
        }
    }
    var claimed: [(flag: String, path: String)] = []
    for case let (flag, path?) in outputs {
        let target = canonical(path)
        if let clash = protected.first(where: { $0.path == target }) {
            throw ValidationError("\(flag) \(path) would overwrite \(clash.what), which this command reads; choose another path")
        }
        if let clash = claimed.first(where: { $0.path == target }) {
            throw ValidationError("\(flag) \(path) is also given to \(clash.flag); each output needs its own file")
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ValidationError("\(flag) \(path) is a directory; give a file name")
        }
        let parent = URL(fileURLWithPath: target).deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("\(flag) \(path): the directory \(parent) does not exist")
        }
        guard access(parent, W_OK) == 0 else {
            throw ValidationError("\(flag) \(path): the directory \(parent) is not writable (\(String(cString: strerror(errno))))")
        }
        claimed.append((flag, target))
    }
}

/// `--quiet` for commands that print progress.
struct OutputOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Print no progress or status lines (stderr); results (stdout) still print.")
    var quiet = false

    func apply() { if quiet { Terminal.isQuiet = true } }
}
