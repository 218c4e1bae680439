import ArgumentParser
import Datasets
import Foundation
import GTN

extension Preset.Name: ExpressibleByArgument {}
extension CurriculumKind: ExpressibleByArgument {}
extension MemoryMode: ExpressibleByArgument {}
extension DatasetKind: ExpressibleByArgument {}

extension LearnerWidths: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
}

/// Where the data comes from; shared by every command that reads MNIST.
struct DataOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Directory holding the dataset's IDX files (default: $GTN_DATA_DIR, then ~/.cache/gtn/<dataset>; downloaded there when missing).")
    var dataDirectory: String?

    @Option(help: "Dataset: mnist, fashion-mnist or kmnist.")
    var dataset: DatasetKind = .mnist

    /// Loads `kind` (default: --dataset).
    func load(kind: DatasetKind? = nil, quiet: Bool = false) throws -> RealData {
        let dataset = kind ?? dataset
        let start = Date()
        let data = try RealData.load(kind: dataset, dataDirectory: dataDirectory, splitSeed: 0) { message in
            if !quiet { Terminal.status(message) }
        }
        if !quiet {
            Terminal.line(String(format: "loaded %@: %d train / %d validation / %d test images in %.2f s",
                                 dataset.rawValue, data.train.count, data.validation.count, data.test.count,
                                 Date().timeIntervalSince(start)))
        }
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

/// `--quiet` for commands that print progress.
struct OutputOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Print no progress or status lines (stderr); results (stdout) still print.")
    var quiet = false

    func apply() { if quiet { Terminal.isQuiet = true } }
}
