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

    func load(quiet: Bool = false) throws -> RealData {
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

/// A positive count, checked with a message naming the flag.
func requirePositive(_ value: Int?, _ flag: String) throws {
    if let value, value <= 0 { throw ValidationError("\(flag) must be a positive number, got \(value)") }
}
