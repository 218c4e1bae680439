import Kernels
import NeuralNet
import Support
import TensorEngine

/// One inner SGD-with-momentum step: b' = m·b + ∇θL, θ' = θ − lr·b'.
struct InnerStepResult {
    let parameters: Parameters
    let buffers: Parameters
    let means: [Tensor]
    let loss: Tensor
}

/// The loss trains toward `targets` (class probabilities) when given, else toward `labels`;
/// with `gradientClip`, the gradient is scaled down to that global norm when it is longer.
func innerStep(_ learner: Learner, parameters θ: Parameters, buffers: Parameters, images: Tensor, labels: [Int],
               targets: Tensor? = nil, learningRate lr: Tensor, momentum m: Tensor, gradientClip: Double? = nil,
               createGraph: Bool) throws -> InnerStepResult {
    let (logits, means) = learner(images, θ)
    let loss = trainingLoss(logits, labels: labels, targets: targets)
    let raw = try gradients(of: loss, wrt: θ.tensors, createGraph: createGraph)
    let g = createGraph ? clipped(raw, to: gradientClip) : withoutGradientRecording { clipped(raw, to: gradientClip) }
    let update = {
        let newBuffers = Parameters(names: buffers.names, tensors: zip(buffers.tensors, g).map { m * $0 + $1 })
        return (θ.zipMap(newBuffers) { $0 - lr * $1 }, newBuffers)
    }
    let (next, newBuffers) = createGraph ? update() : withoutGradientRecording(update)
    return InnerStepResult(parameters: next, buffers: newBuffers, means: means, loss: loss)
}

/// The inner update direction: `g` scaled to global norm `limit` when it is longer, else `g`
/// itself. Written with differentiable ops, so the meta-gradient sees the scaling; the branch is
/// taken on the forward values, which a rebuilt step reproduces exactly. Without a limit no op
/// is added, so unclipped runs compute exactly what they did before clipping existed.
func clipped(_ g: [Tensor], to limit: Double?) -> [Tensor] {
    guard let limit, let first = g.first else { return g }
    let norm = sqrt(g.dropFirst().reduce(square(first).sum()) { $0 + square($1).sum() })
    guard norm.item > limit else { return g }
    let scale = Tensor(limit, dtype: first.dtype) / norm
    return g.map { $0 * scale }
}

/// Cross-entropy against soft targets when a step has them, else against its labels.
func trainingLoss(_ logits: Tensor, labels: [Int], targets: Tensor?) -> Tensor {
    targets.map { crossEntropy(logits: logits, probabilities: $0) } ?? crossEntropy(logits: logits, labels: labels)
}

/// The outcome of training a learner on a teacher's curriculum.
public struct TrainedLearner {
    public let parameters: Parameters
    /// The means of the last synthetic batch, which scoring uses (docs/gtn.md §6).
    public let scoringMeans: [Tensor]
    public let innerLosses: [Double]
}

/// Trains `learner` from `initial` for `steps` SGD-with-momentum steps without a meta-graph
/// (evaluation, baselines, NAS). `batch(t)` gives step t's images and labels, `targets(t)` any
/// soft targets that replace the labels; `observe` sees the parameters and scoring means after
/// each step.
public func trainLearner(_ learner: Learner, from initial: Parameters, steps: Int,
                         batch: (Int) throws -> (images: Tensor, labels: [Int]), targets: (Int) -> Tensor? = { _ in nil },
                         learningRate: (Int) -> Double, momentum: (Int) -> Double, gradientClip: Double? = nil,
                         observe: ((Int, Parameters, [Tensor]) throws -> Void)? = nil) throws -> TrainedLearner {
    var θ = initial.detached()
    var buffers = θ.map { Tensor.zeros($0.shape, dtype: $0.dtype) }
    var means: [Tensor] = []
    var losses: [Double] = []
    for t in 0..<steps {
        let (images, labels) = try batch(t)
        let step = try innerStep(learner, parameters: θ.requiringGradient(), buffers: buffers, images: images.detached(),
                                 labels: labels, targets: targets(t)?.detached(),
                                 learningRate: Tensor(learningRate(t), dtype: images.dtype),
                                 momentum: Tensor(momentum(t), dtype: images.dtype), gradientClip: gradientClip,
                                 createGraph: false)
        θ = step.parameters.detached()
        buffers = step.buffers.detached()
        means = step.means.map { $0.detached() }
        losses.append(step.loss.item)
        try observe?(t, θ, means)
    }
    return TrainedLearner(parameters: θ, scoringMeans: means, innerLosses: losses)
}

/// One inner step's training data: images and their labels.
public typealias LabeledBatch = (images: Tensor, labels: [Int])

/// One generated step of a curriculum: images, the labels they were generated for, and the
/// learned soft targets when the teacher has them.
public struct SyntheticBatch: Sendable {
    public let images: Tensor
    public let labels: [Int]
    public let targets: Tensor?
}

extension Teacher {
    /// Every step's generated images (detached), labels and soft targets for `plan`: what
    /// learners train on outside meta-training, generated once for any number of them. The steps
    /// are generated side by side, one core each, so the images do not depend on the core count.
    public func syntheticBatches(for plan: InnerPlan) -> [SyntheticBatch] {
        let fixed = withoutGradientRecording { generator.resolvingWeights(parameters.detached()) }
        return Parallel.map(plan.steps.count) { t in
            withoutGradientRecording {
                SyntheticBatch(images: batch(t, of: plan, fixed).detached(), labels: plan.steps[t].labels,
                               targets: targets(t, of: plan, fixed)?.detached())
            }
        }
    }

    /// Trains `learner` on batches from `syntheticBatches(for:)` with the learned learning rates
    /// and momenta.
    public func train(_ learner: Learner, from initial: Parameters, batches: [SyntheticBatch],
                      observe: ((Int, Parameters, [Tensor]) throws -> Void)? = nil) throws -> TrainedLearner {
        let lrs = innerLearningRates, momenta = innerMomenta
        return try trainLearner(learner, from: initial, steps: batches.count, batch: { (batches[$0].images, batches[$0].labels) },
                                targets: { batches[$0].targets }, learningRate: { lrs[$0] }, momentum: { momenta[$0] },
                                gradientClip: preset.innerGradientClip, observe: observe)
    }

    /// Trains `learner` on this teacher's curriculum with the learned learning rates and momenta.
    public func train(_ learner: Learner, from initial: Parameters, plan: InnerPlan,
                      observe: ((Int, Parameters, [Tensor]) throws -> Void)? = nil) throws -> TrainedLearner {
        try train(learner, from: initial, batches: syntheticBatches(for: plan), observe: observe)
    }
}

/// The real-data loss a trained learner is scored with: cross-entropy on a real batch, with the
/// mean-only batch norms using `means` (those of the last synthetic batch).
func realLoss(_ learner: Learner, _ θ: Parameters, means: [Tensor], images: Tensor, labels: [Int]) -> Tensor {
    crossEntropy(logits: learner(images, θ, statistics: learner.scoringStatistics(means)).logits, labels: labels)
}
