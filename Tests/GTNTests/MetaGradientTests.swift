import Support
import XCTest
import NeuralNet
import TensorEngine
@testable import GTN

/// The meta-gradient on a tiny configuration in Float64: both memory modes agree, and both match
/// finite differences of the meta-loss.
final class MetaGradientTests: XCTestCase {
    static func tinyPreset(perStep: Bool = true, softLabels: Bool = false, clip: Double? = nil) -> Preset {
        var p = Preset.named(.cpu)
        p.noiseSize = 4
        p.generator = .weightNormalized(channels: 2, middle: 2)
        p.widthRanges = .fixed(LearnerWidths(conv1: 2, conv2: 2, fc: 3))
        p.steps = 3
        p.batchSize = 4
        p.perStepOptimizer = perStep
        p.initialInnerLearningRate = 0.1
        p.learnedSoftLabels = softLabels
        p.innerGradientClip = clip
        return p
    }

    struct Fixture {
        var teacher: Teacher
        let learner: Learner
        let initial: Parameters
        let plan: InnerPlan
        let realImages: Tensor
        let realLabels: [Int]
        /// When set, one real batch per inner step replaces `realImages`/`realLabels`.
        var realBatches: [LabeledBatch]?

        init(curriculum: CurriculumKind = .full, perStep: Bool = true, softLabels: Bool = false, clip: Double? = nil, seed: UInt64 = 1) {
            let preset = MetaGradientTests.tinyPreset(perStep: perStep, softLabels: softLabels, clip: clip)
            var rng = SeededGenerator(seed: seed)
            teacher = Teacher(preset: preset, curriculum: curriculum, dtype: .float64, using: &rng)
            learner = Learner(architecture: .weightNormalized, widths: preset.widthRanges.sample(using: &rng))
            initial = learner.initialParameters(using: &rng).map { $0.converted(to: .float64).detached() }
            plan = teacher.plan(using: &rng)
            realImages = Tensor.randomNormal([5, 1, 28, 28], dtype: .float64, using: &rng)
            realLabels = [3, 1, 4, 1, 5]
        }

        func metaGradient(_ mode: MemoryMode, recordedSteps: Int = 0, intermediate: Bool = false) throws -> MetaGradient {
            try teacher.metaGradient(learner: learner, initial: initial, plan: plan, realBatches: realBatches ?? [(realImages, realLabels)],
                                     mode: mode, recordedSteps: recordedSteps, intermediateLosses: intermediate)
        }

        func metaLoss(_ parameters: Parameters, intermediate: Bool = false) throws -> Double {
            var moved = self
            moved.teacher.parameters = parameters
            return try moved.metaGradient(.stepwise, intermediate: intermediate).metaLoss
        }
    }

    /// Every split between rebuilt and recorded steps gives the same meta-gradient: none recorded
    /// (pure recomputation), some (the sweep starts from adjoints of a recorded tail, including
    /// the learned rates of its steps), and the full unroll.
    func testStepwiseRecomputationMatchesFullUnroll() throws {
        for curriculum in CurriculumKind.allCases {
            for intermediate in [false, true] {
                let f = Fixture(curriculum: curriculum)
                let full = try f.metaGradient(.fullUnroll, intermediate: intermediate)
                // The final loss is the meta-loss without intermediate losses, whichever is optimised.
                XCTAssertEqual(full.finalLoss, try f.metaGradient(.fullUnroll).metaLoss, accuracy: 1e-12)
                XCTAssertEqual(intermediate, full.metaLoss > full.finalLoss + 1e-9)
                for recorded in 0...f.plan.steps.count {
                    let stepwise = try f.metaGradient(.stepwise, recordedSteps: recorded, intermediate: intermediate)
                    let context = "\(curriculum) intermediate=\(intermediate) recorded=\(recorded)"
                    XCTAssertEqual(full.metaLoss, stepwise.metaLoss, accuracy: 1e-12, context)
                    XCTAssertEqual(full.finalLoss, stepwise.finalLoss, accuracy: 1e-12, context)
                    XCTAssertEqual(full.innerLosses, stepwise.innerLosses, context)
                    for (k, name) in f.teacher.parameters.names.enumerated() {
                        let a = full.gradients[k].doubles, b = stepwise.gradients[k].doubles
                        let scale = max(a.map(abs).max() ?? 0, 1e-12)
                        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                        XCTAssertLessThan(worst / scale, 1e-9, "\(context): \(name)")
                    }
                }
            }
        }
    }

    /// ⟨∇M, d⟩ from `g` against the central difference of `loss` along `directions` (one tensor
    /// per teacher parameter). Small steps: the meta-loss has kinks wherever a learner's max-pool
    /// choice or leaky-ReLU sign flips (or an inner gradient crosses its clipping norm), and a
    /// larger step can straddle one.
    func assertDirectionalDerivative(_ g: MetaGradient, of loss: (Parameters) throws -> Double, at p: Parameters,
                                     along directions: [Tensor], _ message: String,
                                     file: StaticString = #filePath, line: UInt = #line) throws {
        let analytic = zip(g.gradients, directions).reduce(0.0) { $0 + zip($1.0.doubles, $1.1.doubles).reduce(0) { $0 + $1.0 * $1.1 } }
        let h = 1e-7
        let up = try loss(Parameters(names: p.names, tensors: zip(p.tensors, directions).map { $0 + $1 * h }))
        let down = try loss(Parameters(names: p.names, tensors: zip(p.tensors, directions).map { $0 - $1 * h }))
        let numeric = (up - down) / (2 * h)
        XCTAssertGreaterThan(abs(numeric), 1e-8, "\(message): should influence the meta-loss", file: file, line: line)
        XCTAssertEqual(analytic, numeric, accuracy: 1e-5 * max(1, abs(numeric)), message, file: file, line: line)
    }

    /// Directional derivatives ⟨∇M, d⟩ along directions confined to one group of meta-parameters.
    func testMetaGradientMatchesFiniteDifferences() throws {
        for perStep in [true, false] {
            let f = Fixture(perStep: perStep, seed: 7)
            let g = try f.metaGradient(.stepwise, recordedSteps: 1, intermediate: true)
            let groups: [(String, (String) -> Bool)] = [
                ("generator weights", { $0.hasPrefix("gen.fc") || $0.hasPrefix("gen.conv") }),
                ("generator batch norm", { $0.hasPrefix("gen.bn") }),
                ("curriculum", { $0 == Teacher.curriculumName }),
                ("log learning rates", { $0 == Teacher.logLRName }),
                ("log momenta", { $0 == Teacher.logMomentumName }),
            ]
            var rng = SeededGenerator(seed: 11)
            for (group, member) in groups {
                let p = f.teacher.parameters
                let directions = p.names.enumerated().map { k, name in
                    member(name) ? Tensor.randomNormal(p.tensors[k].shape, dtype: .float64, using: &rng)
                                 : Tensor.zeros(p.tensors[k].shape, dtype: .float64)
                }
                try assertDirectionalDerivative(g, of: { try f.metaLoss($0, intermediate: true) }, at: p, along: directions,
                                                "perStep=\(perStep): \(group)")
            }
        }
    }

    /// Intermediate losses on a fresh real batch per step, and the mean of two learners'
    /// meta-gradients (what several learners per iteration, or several processes, compute):
    /// both against finite differences of the corresponding meta-loss, along one random direction
    /// over every meta-parameter.
    func testFreshRealBatchesAndTheMeanOverLearnersMatchFiniteDifferences() throws {
        var a = Fixture(seed: 7)
        var rng = SeededGenerator(seed: 5)
        a.realBatches = (0..<a.plan.steps.count).map { _ in
            (Tensor.randomNormal([3, 1, 28, 28], dtype: .float64, using: &rng), (0..<3).map { _ in rng.nextIndex(below: 10) })
        }
        var b = Fixture(seed: 8)
        b.teacher = a.teacher
        for recorded in [0, 2] {
            let mean = MetaGradient.mean([try a.metaGradient(.stepwise, recordedSteps: recorded, intermediate: true),
                                          try b.metaGradient(.stepwise, recordedSteps: recorded, intermediate: true)])
            let full = try a.metaGradient(.fullUnroll, intermediate: true)
            XCTAssertEqual(full.metaLoss, try a.metaGradient(.stepwise, recordedSteps: recorded, intermediate: true).metaLoss,
                           accuracy: 1e-12)
            let p = a.teacher.parameters
            let directions = p.tensors.map { Tensor.randomNormal($0.shape, dtype: .float64, using: &rng) }
            try assertDirectionalDerivative(mean, of: { (try a.metaLoss($0, intermediate: true) + b.metaLoss($0, intermediate: true)) / 2 },
                                            at: p, along: directions, "recorded=\(recorded)")
            XCTAssertEqual(mean.metaLoss, (try a.metaLoss(p, intermediate: true) + b.metaLoss(p, intermediate: true)) / 2,
                           accuracy: 1e-12)
        }
    }

    /// Learned soft labels: the learner's loss is cross-entropy toward softmax(label logits), so
    /// the label logits get a meta-gradient through every inner step. Checked against finite
    /// differences, and stepwise against full unroll, for a learned and a shuffled curriculum.
    func testSoftLabelMetaGradientMatchesFiniteDifferences() throws {
        for curriculum in [CurriculumKind.full, .allShuffled] {
            let f = Fixture(curriculum: curriculum, softLabels: true, seed: 9)
            let p = f.teacher.parameters
            XCTAssertEqual(p[Teacher.labelLogitsName].shape, [f.plan.steps.count * 4, 10])
            let g = try f.metaGradient(.stepwise, recordedSteps: 1, intermediate: true)
            let full = try f.metaGradient(.fullUnroll, intermediate: true)
            let k = try XCTUnwrap(p.names.firstIndex(of: Teacher.labelLogitsName))
            let worst = zip(g.gradients[k].doubles, full.gradients[k].doubles).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-10 * max(1, g.gradients[k].doubles.map(abs).max() ?? 0))
            var rng = SeededGenerator(seed: 4)
            let directions = p.names.map { name in
                name == Teacher.labelLogitsName ? Tensor.randomNormal(p[name].shape, dtype: .float64, using: &rng)
                                                : Tensor.zeros(p[name].shape, dtype: .float64)
            }
            try assertDirectionalDerivative(g, of: { try f.metaLoss($0, intermediate: true) }, at: p, along: directions,
                                            "soft labels, \(curriculum)")
        }
    }

    /// Inner gradient clipping: the scaling is part of every step's update, so the meta-gradient
    /// (stepwise and full unroll alike) matches finite differences of the clipped run.
    func testClippedInnerStepsMetaGradientMatchesFiniteDifferences() throws {
        let unclipped = Fixture(seed: 7)
        let f = Fixture(clip: 0.05, seed: 7)
        let g = try f.metaGradient(.stepwise, recordedSteps: 1)
        XCTAssertNotEqual(g.metaLoss, try unclipped.metaGradient(.stepwise).metaLoss, "the limit should bind")
        let full = try f.metaGradient(.fullUnroll)
        XCTAssertEqual(full.metaLoss, g.metaLoss, accuracy: 1e-12)
        var rng = SeededGenerator(seed: 12)
        let p = f.teacher.parameters
        let directions = p.tensors.map { Tensor.randomNormal($0.shape, dtype: .float64, using: &rng) }
        for (mode, result) in [("stepwise", g), ("full unroll", full)] {
            try assertDirectionalDerivative(result, of: { try f.metaLoss($0) }, at: p, along: directions, "clipped, \(mode)")
        }
    }
}
