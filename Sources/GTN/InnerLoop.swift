import Foundation
import NeuralNet
import Support
import TensorEngine

/// How the meta-gradient is computed (see shared/reference/meta-gradient-notes.md).
public enum MemoryMode: String, Codable, Sendable, CaseIterable {
    /// Record the whole unrolled inner loop and differentiate it once.
    case fullUnroll = "full-unroll"
    /// Keep only each step's parameters and momentum; rebuild one step's graph at a time while
    /// sweeping backwards. Peak memory is one step's graph plus the trajectory, plus the graphs
    /// of the last steps when some are recorded (`recordedSteps`), which are not rebuilt.
    case stepwise
}

/// One inner SGD-with-momentum step: b' = m·b + ∇θL, θ' = θ − lr·b'.
struct InnerStepResult {
    let parameters: Parameters
    let buffers: Parameters
    let means: [Tensor]
    let loss: Tensor
}

func innerStep(_ learner: Learner, parameters θ: Parameters, buffers: Parameters, images: Tensor, labels: [Int],
               learningRate lr: Tensor, momentum m: Tensor, createGraph: Bool) throws -> InnerStepResult {
    let (logits, means) = learner(images, θ)
    let loss = crossEntropy(logits: logits, labels: labels)
    let g = try gradients(of: loss, wrt: θ.tensors, createGraph: createGraph)
    let update = {
        let newBuffers = Parameters(names: buffers.names, tensors: zip(buffers.tensors, g).map { m * $0 + $1 })
        return (θ.zipMap(newBuffers) { $0 - lr * $1 }, newBuffers)
    }
    let (next, newBuffers) = createGraph ? update() : withoutGradientRecording(update)
    return InnerStepResult(parameters: next, buffers: newBuffers, means: means, loss: loss)
}

/// The outcome of training a learner on a teacher's curriculum.
public struct TrainedLearner {
    public let parameters: Parameters
    /// The means of the last synthetic batch, which scoring uses (reference §2).
    public let scoringMeans: [Tensor]
    public let innerLosses: [Double]
}

/// Trains `learner` from `initial` for `steps` SGD-with-momentum steps without a meta-graph
/// (evaluation, baselines, NAS). `batch(t)` gives step t's images and labels; `observe` sees the
/// parameters and scoring means after each step.
public func trainLearner(_ learner: Learner, from initial: Parameters, steps: Int,
                         batch: (Int) throws -> (images: Tensor, labels: [Int]),
                         learningRate: (Int) -> Double, momentum: (Int) -> Double,
                         observe: ((Int, Parameters, [Tensor]) throws -> Void)? = nil) throws -> TrainedLearner {
    var θ = initial.detached()
    var buffers = θ.map { Tensor.zeros($0.shape, dtype: $0.dtype) }
    var means: [Tensor] = []
    var losses: [Double] = []
    for t in 0..<steps {
        let (images, labels) = try batch(t)
        let step = try innerStep(learner, parameters: θ.requiringGradient(), buffers: buffers, images: images.detached(),
                                 labels: labels, learningRate: Tensor(learningRate(t), dtype: images.dtype),
                                 momentum: Tensor(momentum(t), dtype: images.dtype), createGraph: false)
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

extension Teacher {
    /// Every step's generated images (detached) and labels for `plan`: what learners train on
    /// outside meta-training, generated once for any number of them. The steps are generated
    /// side by side, one core each, so the images do not depend on the core count.
    public func syntheticBatches(for plan: InnerPlan) -> [LabeledBatch] {
        let fixed = withoutGradientRecording { generator.resolvingWeights(parameters.detached()) }
        return Parallel.map(plan.steps.count) { t in
            withoutGradientRecording { (batch(t, of: plan, fixed).detached(), plan.steps[t].labels) }
        }
    }

    /// Trains `learner` on batches from `syntheticBatches(for:)` with the learned learning rates
    /// and momenta.
    public func train(_ learner: Learner, from initial: Parameters, batches: [LabeledBatch],
                      observe: ((Int, Parameters, [Tensor]) throws -> Void)? = nil) throws -> TrainedLearner {
        let lrs = innerLearningRates, momenta = innerMomenta
        return try trainLearner(learner, from: initial, steps: batches.count, batch: { batches[$0] },
                                learningRate: { lrs[$0] }, momentum: { momenta[$0] }, observe: observe)
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
    let statistics: BatchStatistics = learner.architecture == .weightNormalized ? .recorded(means) : .batch
    return crossEntropy(logits: learner(images, θ, statistics: statistics).logits, labels: labels)
}

/// A meta-gradient and what it was computed from.
public struct MetaGradient {
    public let metaLoss: Double
    /// One gradient per tensor of `Teacher.parameters`, in order.
    public let gradients: [Tensor]
    /// Inner training losses on the generated batches.
    public let innerLosses: [Double]
}

extension Teacher {
    /// The meta-loss (real-data loss of the learner after the inner loop, plus the intermediate
    /// losses when asked) and its exact gradient with respect to every meta-parameter.
    ///
    /// - Parameter recordedSteps: for `.stepwise`, how many of the last inner steps keep the graph
    ///   of the forward pass instead of being rebuilt in the backward sweep (0…T; each one saves a
    ///   recomputation and holds one step's graph in memory). `.fullUnroll` records all of them.
    public func metaGradient(learner: Learner, initial: Parameters, plan: InnerPlan, realImages: Tensor, realLabels: [Int],
                             mode: MemoryMode, recordedSteps: Int = 0, intermediateLosses: Bool = false) throws -> MetaGradient {
        let T = plan.steps.count
        return try sweepMetaGradient(learner: learner, initial: initial, plan: plan, realImages: realImages, realLabels: realLabels,
                                     recordedSteps: mode == .fullUnroll ? T : Swift.min(Swift.max(recordedSteps, 0), T),
                                     intermediateLosses: intermediateLosses)
    }

    private func learnedRate(_ name: String, _ t: Int, _ p: Parameters) -> Tensor {
        let i = optimizerIndex(t)
        return exp(p[name].slice(alongAxis: 0, i..<i + 1))
    }

    /// Steps 0..<T−R run without a graph, keeping θ_t, b_t and their batch means; steps T−R..<T
    /// run recorded from θ_{T−R} and b_{T−R} as leaves and are differentiated once; then the
    /// sweep of meta-gradient-notes.md carries the adjoints (θ̄, b̄) back through the unrecorded
    /// steps, rebuilding one step's graph at a time. R = T is the full unroll, R = 0 the pure
    /// step-wise recomputation.
    private func sweepMetaGradient(learner: Learner, initial: Parameters, plan: InnerPlan, realImages: Tensor,
                                   realLabels: [Int], recordedSteps: Int, intermediateLosses: Bool) throws -> MetaGradient {
        let T = plan.steps.count
        let tailStart = T - recordedSteps
        let fixed = parameters.detached()
        // The generator's normalized weights are computed once; the steps differentiate with
        // respect to them as leaves, and their adjoints are pulled back to v and g at the end.
        let resolved = withoutGradientRecording { generator.resolvingWeights(fixed) }
        let replaced = generator.normalizationSources
        let stepIndices = resolved.names.indices.filter { !replaced.contains(resolved.names[$0]) }
        let dtype = realImages.dtype
        let (lrs, momenta) = withoutGradientRecording {
            ((0..<T).map { learnedRate(Self.logLRName, $0, fixed) }, (0..<T).map { learnedRate(Self.logMomentumName, $0, fixed) })
        }

        // Forward without a graph up to the recorded steps, keeping θ_t, b_t and the batch means.
        var thetas = [initial.detached()]
        var buffers = [initial.map { Tensor.zeros($0.shape, dtype: $0.dtype) }]
        var means: [[Tensor]] = []
        var innerLosses: [Double] = []
        for t in 0..<tailStart {
            let images = withoutGradientRecording { batch(t, of: plan, resolved) }
            let step = try innerStep(learner, parameters: thetas[t].requiringGradient(), buffers: buffers[t], images: images,
                                     labels: plan.steps[t].labels, learningRate: lrs[t], momentum: momenta[t], createGraph: false)
            thetas.append(step.parameters.detached())
            buffers.append(step.buffers.detached())
            means.append(step.means.map { $0.detached() })
            innerLosses.append(step.loss.item)
        }

        // The real-data loss at θ_{t+1} scored with step t's means: its gradient with respect to both.
        var metaLoss = 0.0
        func scoredLossGradient(after t: Int) throws -> (theta: [Tensor], means: [Tensor]) {
            let θ = thetas[t + 1].requiringGradient()
            let μ = means[t].map { $0.requiringGradient() }
            let loss = realLoss(learner, θ, means: μ, images: realImages, labels: realLabels)
            metaLoss += loss.item
            let g = try gradients(of: loss, wrt: θ.tensors + μ)
            return (Array(g[..<θ.count]), Array(g[θ.count...]))
        }

        var metaBar: [Tensor?] = Array(repeating: nil, count: resolved.count)
        func accumulateMeta(_ grads: ArraySlice<Tensor>) {
            withoutGradientRecording {
                for (k, gk) in zip(stepIndices, grads) { metaBar[k] = metaBar[k].map { $0 + gk } ?? gk }
            }
        }
        var logLRBar = [Double](repeating: 0, count: fixed[Self.logLRName].scalarCount)
        var logMomentumBar = logLRBar
        var thetaBar: [Tensor]
        var bufferBar: [Tensor]
        var pendingMeansBar: [Tensor]?

        if tailStart < T {
            // The recorded steps. Their learning rates and momenta are leaves too: d/d log η = η·d/dη.
            let meta = resolved.requiringGradient()
            let θStart = thetas[tailStart].requiringGradient()
            // At t = 0 nothing earlier needs θ̄ or b̄ (and b_0 = 0 is a constant).
            let startIsLeaf = tailStart > 0
            let bStart = startIsLeaf ? buffers[tailStart].requiringGradient() : buffers[tailStart]
            let lrLeaves = lrs[tailStart...].map { $0.requiringGradient() }
            let momentumLeaves = momenta[tailStart...].map { $0.requiringGradient() }
            var θ = θStart, b = bStart
            var loss = Tensor.zeros([], dtype: dtype)
            for t in tailStart..<T {
                let step = try innerStep(learner, parameters: θ, buffers: b, images: batch(t, of: plan, meta),
                                         labels: plan.steps[t].labels, learningRate: lrLeaves[t - tailStart],
                                         momentum: momentumLeaves[t - tailStart], createGraph: true)
                θ = step.parameters
                b = step.buffers
                innerLosses.append(step.loss.item)
                if intermediateLosses || t == T - 1 {
                    loss = loss + realLoss(learner, θ, means: step.means, images: realImages, labels: realLabels)
                }
            }
            metaLoss += loss.item
            let n = θ.count
            let starts = startIsLeaf ? θStart.tensors + bStart.tensors : []
            let grads = try gradients(of: loss, wrt: starts + stepIndices.map { meta.tensors[$0] } + lrLeaves + momentumLeaves)
            thetaBar = startIsLeaf ? Array(grads[..<n]) : []
            bufferBar = startIsLeaf ? Array(grads[n..<2 * n]) : []
            let metaEnd = starts.count + stepIndices.count
            accumulateMeta(grads[starts.count..<metaEnd])
            for (j, t) in (tailStart..<T).enumerated() {
                logLRBar[optimizerIndex(t)] += grads[metaEnd + j].item * lrs[t].item
                logMomentumBar[optimizerIndex(t)] += grads[metaEnd + recordedSteps + j].item * momenta[t].item
            }
            pendingMeansBar = nil
            if intermediateLosses && tailStart >= 1 {
                let (dθ, dμ) = try scoredLossGradient(after: tailStart - 1)
                withoutGradientRecording { thetaBar = zip(thetaBar, dθ).map { $0 + $1 } }
                pendingMeansBar = dμ
            }
        } else {
            let terminal = try scoredLossGradient(after: T - 1)
            thetaBar = terminal.theta
            pendingMeansBar = terminal.means
            bufferBar = thetaBar.map { Tensor.zeros($0.shape, dtype: $0.dtype) }
        }

        for t in stride(from: tailStart - 1, through: 0, by: -1) {
            let lr = lrs[t].item, m = momenta[t].item
            let i = optimizerIndex(t)
            withoutGradientRecording {
                // θ_{t+1} = θ_t − η_t b_{t+1}
                bufferBar = zip(bufferBar, thetaBar).map { $0 - $1 * lr }
                logLRBar[i] += -dot(thetaBar, buffers[t + 1].tensors) * lr
                // b_{t+1} = m_t b_t + g_t: ḡ_t = b̄, then b̄ flows to b_t scaled by m_t.
                logMomentumBar[i] += dot(bufferBar, buffers[t].tensors) * m
            }
            let gBar = bufferBar
            bufferBar = withoutGradientRecording { bufferBar.map { $0 * m } }

            // Rebuild step t with a graph and differentiate ⟨g_t, ḡ_t⟩ (+ ⟨μ_t, μ̄_t⟩).
            let meta = resolved.requiringGradient()
            let θ = thetas[t].requiringGradient()
            let (logits, μ) = learner(batch(t, of: plan, meta), θ)
            let loss = crossEntropy(logits: logits, labels: plan.steps[t].labels)
            let g = try gradients(of: loss, wrt: θ.tensors, createGraph: true)
            var s = Tensor.zeros([], dtype: dtype)
            for (gi, bar) in zip(g, gBar) { s = s + (gi * bar).sum() }
            if let meansBar = pendingMeansBar {
                for (mi, bar) in zip(μ, meansBar) { s = s + (mi * bar).sum() }
            }
            let grads = try gradients(of: s, wrt: θ.tensors + stepIndices.map { meta.tensors[$0] })
            withoutGradientRecording { thetaBar = zip(thetaBar, grads[..<θ.count]).map { $0 + $1 } }
            accumulateMeta(grads[θ.count...])
            pendingMeansBar = nil

            if intermediateLosses && t >= 1 {
                let (dθ, dμ) = try scoredLossGradient(after: t - 1)
                withoutGradientRecording { thetaBar = zip(thetaBar, dθ).map { $0 + $1 } }
                pendingMeansBar = dμ
            }
        }

        if resolved.count > parameters.count {
            let meta = parameters.requiringGradient()
            let weights = generator.resolvingWeights(meta)
            var s = Tensor.zeros([], dtype: dtype)
            for k in parameters.count..<resolved.count {
                if let bar = metaBar[k] { s = s + (weights.tensors[k] * bar).sum() }
            }
            let pulledIndices = parameters.names.indices.filter { replaced.contains(parameters.names[$0]) }
            let pulled = try gradients(of: s, wrt: pulledIndices.map { meta.tensors[$0] })
            withoutGradientRecording {
                for (j, k) in pulledIndices.enumerated() { metaBar[k] = metaBar[k].map { $0 + pulled[j] } ?? pulled[j] }
            }
        }

        var result = metaBar[..<parameters.count].enumerated().map { k, g in g ?? Tensor.zeros(parameters.tensors[k].shape, dtype: dtype) }
        for (name, bar) in [(Self.logLRName, logLRBar), (Self.logMomentumName, logMomentumBar)] {
            guard let k = parameters.names.firstIndex(of: name) else { continue }
            let shape = parameters.tensors[k].shape
            result[k] = withoutGradientRecording { result[k] + Tensor(shape: shape, doubles: bar).converted(to: dtype) }
        }
        return MetaGradient(metaLoss: metaLoss, gradients: result, innerLosses: innerLosses)
    }
}

/// Σ ⟨a_i, b_i⟩ over two lists of same-shaped tensors.
func dot(_ a: [Tensor], _ b: [Tensor]) -> Double {
    withoutGradientRecording { zip(a, b).reduce(0.0) { $0 + ($1.0 * $1.1).sum().item } }
}
