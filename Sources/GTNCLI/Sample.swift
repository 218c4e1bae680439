import ArgumentParser
import FileFormats
import Foundation
import GTN
import NeuralNet
import RunReport
import Support
import TensorEngine

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render a checkpoint's generated curriculum as a PNG grid, or export it as safetensors.",
        discussion: """
        The grid has one row per inner step and one column per batch slot (the class is written above \
        each column). --export writes the T×B generated images (`images` [T,B,1,28,28] in normalized \
        space), their `labels` [T,B], the learned `soft_labels` [T,B,10] when the teacher has them, and the learned `lr` [T] and `momentum` [T], so any framework can \
        train on exactly what the learners see.
        """)

    @Option(help: "Run directory holding checkpoint.safetensors.")
    var checkpoint: String

    @Option(help: "PNG file to write.")
    var out: String?

    @Option(help: "Batch slots to show per step (columns).")
    var columns: Int = 10

    @Flag(name: .customLong("global-range"), help: "Map every image through one intensity range (the grid's minimum to maximum), so brightness compares across cells; by default each image is stretched to its own range.")
    var globalRange = false

    @Option(help: "Safetensors file to write the whole generated curriculum to.")
    var export: String?

    @Option(help: "Seed for the curriculum's random order or fresh noise (variants other than full).")
    var seed: UInt64 = 1_000_003

    func validate() throws {
        try requirePositive(columns, "--columns")
        if out == nil && export == nil { throw ValidationError("give --out FILE.png, --export FILE.safetensors, or both") }
        if let out, !out.lowercased().hasSuffix(".png") { throw ValidationError("--out must name a .png file, got \(out)") }
        try checkOutputs([("--out", out), ("--export", export)], inputRuns: [URL(fileURLWithPath: checkpoint)])
    }

    func run() throws {
        let (_, state) = try Checkpoint.load(from: URL(fileURLWithPath: checkpoint))
        let teacher = state.teacher
        let T = teacher.preset.steps, B = teacher.preset.batchSize
        if let out {
            let grid = CurriculumGrid.render(teacher, columns: columns, seed: seed, globalRange: globalRange)
            try AtomicFile.write(grid.pngData(), to: URL(fileURLWithPath: out))
            Terminal.result("wrote \(T)×\(grid.columns) grid to \(out)")
        }
        if let export {
            // The same plan as the grid's: one seed draws both.
            var rng = SeededGenerator(seed: seed ^ 0x5EED)
            let plan = teacher.plan(using: &rng)
            let batches = teacher.syntheticBatches(for: plan)
            let images = batches.map(\.images)
            let all = concat(images, alongAxis: 0).reshaped(to: [T, B, 1, 28, 28])
            let labels = plan.steps.flatMap { $0.labels.map(Int32.init) }
            var tensors = [("images", all),
                           ("lr", Tensor(shape: [T], doubles: teacher.innerLearningRates).converted(to: .float32)),
                           ("momentum", Tensor(shape: [T], doubles: teacher.innerMomenta).converted(to: .float32))]
            let targets = batches.compactMap(\.targets)
            if targets.count == T { tensors.append(("soft_labels", concat(targets, alongAxis: 0).reshaped(to: [T, B, 10]))) }
            try SafeTensors.write(tensors,
                                  integerTensors: [("labels", [T, B], labels)],
                                  metadata: ["preset": teacher.preset.name.rawValue, "curriculum": teacher.curriculum.rawValue],
                                  to: URL(fileURLWithPath: export))
            Terminal.result("exported \(T)×\(B) images, labels\(targets.isEmpty ? "" : ", learned soft labels"), lr and momentum to \(export)")
        }
    }
}
