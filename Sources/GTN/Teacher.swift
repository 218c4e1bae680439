import Foundation
import NeuralNet
import Support
import TensorEngine

/// Everything a GTN learns, as one `Parameters` value: the generator's φ (`gen.*`), the learned
/// curriculum (`curriculum`, [T·B, noise]), with learned soft labels their logits
/// (`labels.logits`, [T·B, 10]), and the inner optimizer's `inner.logLR` and `inner.logMomentum`
/// ([T], or [1] when one pair is shared by all steps).
public struct Teacher: Sendable {
    public let preset: Preset
    public let curriculum: CurriculumKind
    public let generator: Generator
    public var parameters: Parameters

    public static let curriculumName = "curriculum"
    public static let logLRName = "inner.logLR"
    public static let logMomentumName = "inner.logMomentum"
    public static let labelLogitsName = "labels.logits"
    /// Learned soft labels start as label smoothing with this much mass off the true class:
    /// near one-hot, yet with gradients that are not vanishingly small.
    public static let initialLabelSmoothing = 0.1

    public init(preset: Preset, curriculum: CurriculumKind, dtype: DType = .float32, using rng: inout SeededGenerator) {
        self.preset = preset
        self.curriculum = curriculum
        generator = Generator(architecture: preset.generator, noiseSize: preset.noiseSize)
        var p = generator.initialParameters(using: &rng)
        if curriculum.isLearned {
            p.append(Self.curriculumName, Tensor.randomNormal([preset.steps * preset.batchSize, preset.noiseSize], dtype: dtype, using: &rng))
        }
        if preset.learnedSoftLabels && curriculum.isLearned {
            let rows = preset.steps * preset.batchSize
            let on = Foundation.log(1 - Self.initialLabelSmoothing), off = Foundation.log(Self.initialLabelSmoothing / 9)
            var logits = [Double](repeating: off, count: rows * 10)
            for r in 0..<rows { logits[r * 10 + Self.label(ofRow: r, preset: preset)] = on }
            p.append(Self.labelLogitsName, Tensor(shape: [rows, 10], doubles: logits).converted(to: dtype))
        }
        let count = preset.perStepOptimizer ? preset.steps : 1
        p.append(Self.logLRName, Tensor(filling: Foundation.log(preset.initialInnerLearningRate), shape: [count], dtype: dtype))
        p.append(Self.logMomentumName, Tensor(filling: Foundation.log(preset.initialInnerMomentum), shape: [count], dtype: dtype))
        parameters = dtype == .float32 ? p : p.map { $0.converted(to: dtype).detached() }
    }

    public init(preset: Preset, curriculum: CurriculumKind, parameters: Parameters) {
        self.preset = preset
        self.curriculum = curriculum
        generator = Generator(architecture: preset.generator, noiseSize: preset.noiseSize)
        self.parameters = parameters
    }

    /// Draws the noise sources and labels of one inner loop. Learned curricula index rows of the
    /// curriculum; `none` draws fresh noise.
    public func plan(using rng: inout SeededGenerator) -> InnerPlan {
        let T = preset.steps, B = preset.batchSize
        func label(ofRow r: Int) -> Int { Self.label(ofRow: r, preset: preset) }
        func rows(ofStep k: Int) -> [Int] { Array((k * B)..<((k + 1) * B)) }
        var steps: [InnerPlan.Step] = []
        switch curriculum {
        case .full:
            steps = (0..<T).map { .init(source: .rows(rows(ofStep: $0)), labels: rows(ofStep: $0).map(label(ofRow:))) }
        case .shuffledBatch:
            var order = Array(0..<T)
            rng.shuffle(&order)
            steps = order.map { .init(source: .rows(rows(ofStep: $0)), labels: rows(ofStep: $0).map(label(ofRow:))) }
        case .allShuffled:
            var pool = Array(0..<(T * B))
            rng.shuffle(&pool)
            steps = (0..<T).map { t in
                let rows = Array(pool[(t * B)..<((t + 1) * B)])
                return .init(source: .rows(rows), labels: rows.map(label(ofRow:)))
            }
        case .none:
            let dtype = parameters[Self.logLRName].dtype
            steps = (0..<T).map { _ in
                .init(source: .fresh(Tensor.randomNormal([B, preset.noiseSize], dtype: dtype, using: &rng)),
                      labels: (0..<B).map { _ in rng.nextIndex(below: 10) })
            }
        }
        return InnerPlan(steps: steps)
    }

    /// The class that row r of the learned curriculum (slot r mod B of step r / B) carries.
    static func label(ofRow r: Int, preset: Preset) -> Int {
        preset.rotatingLabels ? r % 10 : (r % preset.batchSize) % 10
    }

    /// The generated batch of step `t` of `plan`, as a function of `parameters` (which may be
    /// leaves of differentiation).
    public func batch(_ t: Int, of plan: InnerPlan, _ parameters: Parameters) -> Tensor {
        let z: Tensor
        switch plan.steps[t].source {
        case .rows(let rows): z = parameters[Self.curriculumName].gatheringRows(rows)
        case .fresh(let noise): z = noise
        case .given(let images): return images
        }
        return generator(z, labels: plan.steps[t].labels, parameters)
    }

    /// With learned soft labels, the class probabilities [B, 10] step `t` trains toward, as a
    /// function of `parameters`; nil when the step trains on its hard labels.
    public func targets(_ t: Int, of plan: InnerPlan, _ parameters: Parameters) -> Tensor? {
        guard case .rows(let rows) = plan.steps[t].source, parameters.contains(Self.labelLogitsName) else { return nil }
        return softmax(parameters[Self.labelLogitsName].gatheringRows(rows), alongAxis: 1)
    }

    /// The index into `inner.logLR` / `inner.logMomentum` that step `t` uses.
    public func optimizerIndex(_ t: Int) -> Int { preset.perStepOptimizer ? t : 0 }

    /// The learned inner learning rates and momenta, one per step.
    public var innerLearningRates: [Double] { (0..<preset.steps).map { Foundation.exp(parameters[Self.logLRName].doubles[optimizerIndex($0)]) } }
    public var innerMomenta: [Double] { (0..<preset.steps).map { Foundation.exp(parameters[Self.logMomentumName].doubles[optimizerIndex($0)]) } }
}

/// The noise sources and labels of each inner step of one outer iteration.
public struct InnerPlan: Sendable {
    public struct Step: Sendable {
        public enum Source: Sendable {
            /// Rows of the learned curriculum.
            case rows([Int])
            /// Fresh noise for the generator.
            case fresh(Tensor)
            /// Images used as they are: real batches, when only the inner optimizer is learned.
            case given(Tensor)
        }
        public let source: Source
        public let labels: [Int]
    }
    public let steps: [Step]
}
