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
        the checkpoint, and `gtn report RUN` draws a run as one HTML page. MNIST is found with --data-dir, \
        then $GTN_DATA_DIR, then a cache in your home directory, and downloaded there when missing. \
        Progress goes to stderr (--quiet silences it), results to stdout.

        Environment:
          GTN_DATA_DIR        dataset directory when --data-dir is not given
          GTN_THREADS         worker threads (default: the machine's cores)
          GTN_GEMM=openblas   matrix products through OpenBLAS (default: Swift kernels)
          GTN_CHECK_FINITE=1  check ops for NaN/infinity, as train --check-finite
        """,
        version: gtnVersion,
        subcommands: [Train.self, Evaluate.self, Sample.self, Average.self, ReportCommand.self, Bench.self, Nas.self])
}

/// What `gtn --version` prints.
let gtnVersion = "gtn 0.9.0"
