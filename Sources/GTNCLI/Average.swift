import ArgumentParser
import Foundation
import GTN

struct Average: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Average the teachers of several checkpoints of one run into a new checkpoint.",
        discussion: """
        Weight averaging for teachers: the element-wise mean of the teachers' parameters (generator, \
        curriculum, soft labels, log learning rates and momenta). The usual sources are the snapshots of \
        `gtn train --snapshot-every N`, taken some way apart late in a run: their mean taught a little \
        better than the last of them (docs/results.md); choose the window with `gtn eval --split validation`. The new checkpoint keeps the rest of the latest source's state, so \
        `gtn eval --checkpoint OUT`, `gtn sample` and `gtn nas` read it as any run. The sources must share \
        preset and curriculum; OUT must not hold a checkpoint yet.

        Example: gtn average --out RUN/average RUN/snapshots/iteration-0009* RUN
        """)

    @Argument(help: ArgumentHelp("Run or snapshot directories, each holding a checkpoint.", valueName: "checkpoint-dir"))
    var sources: [String]

    @Option(help: "Directory for the averaged checkpoint.")
    var out: String

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard sources.count >= 2 else {
            throw ValidationError("give at least two checkpoint directories to average (got \(sources.count))")
        }
    }

    func run() throws {
        output.apply()
        let destination = URL(fileURLWithPath: out)
        let averaged = try TeacherAverage.write(averaging: sources.map { URL(fileURLWithPath: $0) }, to: destination)
        for source in averaged { Terminal.line("averaged \(source.directory.path) (outer iteration \(source.iteration))") }
        Terminal.result("wrote \(Checkpoint.url(in: destination).path): the mean of \(averaged.count) teachers")
    }
}
