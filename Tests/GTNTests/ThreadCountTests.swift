import Support
import XCTest
import NeuralNet
import TensorEngine
@testable import GTN

/// A meta-gradient is the same to the last bit on any number of threads, so a seeded run does
/// not depend on the machine's core count (`GTN_THREADS`). The setup is the `cpu` preset with
/// batches of 32: large enough that every convolution path and the batch-norm sums split their
/// work across threads (`TensorEngineTests.ThreadCountTests` checks the kernels one by one).
final class MetaGradientThreadCountTests: XCTestCase {
    override func tearDown() {
        Parallel.setThreadCount(nil)
        super.tearDown()
    }

    func testMetaGradientDoesNotDependOnTheThreadCount() throws {
        var preset = Preset.named(.cpu)
        preset.steps = 2
        preset.batchSize = 32
        var rng = SeededGenerator(seed: 21)
        let teacher = Teacher(preset: preset, curriculum: .full, dtype: .float32, using: &rng)
        let learner = Learner(architecture: .weightNormalized, widths: LearnerWidths(conv1: 16, conv2: 32, fc: 64))
        let initial = learner.initialParameters(using: &rng)
        let plan = teacher.plan(using: &rng)
        let real = (Tensor.randomNormal([32, 1, 28, 28], using: &rng), (0..<32).map { $0 % 10 })
        func bits() throws -> [[UInt32]] {
            let g = try teacher.metaGradient(learner: learner, initial: initial, plan: plan, realBatches: [real],
                                             mode: .stepwise, recordedSteps: 1, intermediateLosses: true)
            return [[Float(g.metaLoss).bitPattern]] + g.gradients.map { $0.scalars.map(\.bitPattern) }
        }
        Parallel.setThreadCount(2)
        let reference = try bits()
        for threads in [1, 3] {
            Parallel.setThreadCount(threads)
            let other = try bits()
            XCTAssertEqual(other.count, reference.count)
            for (i, (a, b)) in zip(other, reference).enumerated() {
                let differing = zip(a, b).filter { $0 != $1 }.count
                XCTAssertEqual(differing, 0, "tensor \(i): \(differing) of \(a.count) values differ with \(threads) threads")
            }
        }
    }
}
