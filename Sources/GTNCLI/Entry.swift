import ArgumentParser
import Foundation
import Kernels

@main
enum Entry {
    static func main() {
        // The release build targets AVX2 + FMA; say so plainly instead of dying on SIGILL later.
        if let problem = CPUFeatures.missingRequiredFeatures() {
            FileHandle.standardError.write(Data("error: \(problem)\n".utf8))
            exit(1)
        }
        GTNCommand.main()
    }
}

struct GTNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gtn",
        abstract: "Generative Teaching Networks: learn to generate training data, then use it to rank architectures fast.",
        discussion: """
        Start with `gtn train`: it meta-trains the default `cpu` preset on MNIST and writes checkpoints, \
        metrics and evaluations to its output directory. Then `gtn eval`, `gtn sample` and `gtn nas` use \
        the checkpoint. MNIST is found with --data-dir, then $GTN_DATA_DIR, then a cache in your home \
        directory, and downloaded there when missing.
        """,
        subcommands: [Train.self, Evaluate.self, Sample.self, Bench.self, Nas.self])
}
