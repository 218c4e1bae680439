import NeuralNet
import TensorEngine

/// How the meta-gradient is computed (the derivation is in docs/meta-gradient.md).
public enum MemoryMode: String, Codable, Sendable, CaseIterable {
    /// Record the whole unrolled inner loop and differentiate it once.
    case fullUnroll = "full-unroll"
    /// Keep only each step's parameters and momentum; rebuild one step's graph at a time while
    /// sweeping backwards. Peak memory is one step's graph plus the trajectory, plus the graphs
    /// of the last steps when some are recorded (`recordedSteps`), which are not rebuilt.
    case stepwise
}

/// A meta-gradient and what it was computed from.
public struct MetaGradient {
    public let metaLoss: Double
    /// The real-data loss after the last inner step alone: the meta-loss without intermediate
    /// losses, and the figure that compares across meta-losses.
    public let finalLoss: Double
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
        try metaGradient(learner: learner, initial: initial, plan: plan, realBatches: [(realImages, realLabels)], mode: mode,
                         recordedSteps: recordedSteps, intermediateLosses: intermediateLosses)
    }

    /// The same with a real batch for each inner step's loss: `realBatches[t]` scores the learner
    /// after step t (with intermediate losses, a fresh batch for each), or one batch for all.
    public func metaGradient(learner: Learner, initial: Parameters, plan: InnerPlan, realBatches: [LabeledBatch],
                             mode: MemoryMode, recordedSteps: Int = 0, intermediateLosses: Bool = false) throws -> MetaGradient {
        let T = plan.steps.count
        precondition(realBatches.count == 1 || realBatches.count == T,
                     "metaGradient: \(realBatches.count) real batches for \(T) inner steps (give 1 or \(T))")
        let sweep = MetaGradientSweep(teacher: self, learner: learner, initial: initial, plan: plan, realBatches: realBatches,
                                      recordedSteps: mode == .fullUnroll ? T : Swift.min(Swift.max(recordedSteps, 0), T),
                                      intermediateLosses: intermediateLosses)
        return try sweep.run()
    }
}

/// The teacher's parameters as the inner steps use them: every weight-normalized generator weight
/// computed once (`Generator.resolvingWeights`) and standing in for its direction and gain, so
/// the steps differentiate with respect to the resolved weight and never see the normalization.
private struct ResolvedTeacherParameters {
    /// The teacher's parameters followed by the resolved weights, without a graph.
    let values: Parameters
    /// What the steps differentiate with respect to: everything but the directions and gains.
    let stepLeafNames: [String]
    /// The resolved weights, which the teacher's parameters do not contain.
    let weightNames: [String]
    /// The directions and gains that the resolved weights replace, in parameter order.
    let sourceNames: [String]

    init(_ generator: Generator, _ parameters: Parameters) {
        values = withoutGradientRecording { generator.resolvingWeights(parameters) }
        let sources = generator.normalizationSources
        stepLeafNames = values.names.filter { !sources.contains($0) }
        weightNames = values.names.filter { !parameters.contains($0) }
        sourceNames = parameters.names.filter { sources.contains($0) }
    }

    /// The tensors of `leaves` (new leaves made from `values`) that the steps differentiate.
    func stepLeaves(_ leaves: Parameters) -> [Tensor] { stepLeafNames.map { leaves[$0] } }
}

/// What the forward pass keeps of the steps it runs without a graph (0..<tailStart).
private struct Trajectory {
    /// θ_0 … θ_tailStart.
    var parameters: [Parameters]
    /// b_0 … b_tailStart (b_0 = 0).
    var buffers: [Parameters]
    /// μ_0 … μ_{tailStart−1}: the batch-norm means of each step's synthetic batch.
    var means: [[Tensor]] = []
    var innerLosses: [Double] = []
}

/// The adjoints the backward sweep carries from step t+1 down to step t, and the teacher's
/// adjoints it has gathered on the way.
private struct SweepState {
    /// θ̄: ∂M/∂θ through the steps after the current one.
    var theta: [Tensor] = []
    /// b̄: ∂M/∂b through the steps after the current one.
    var buffer: [Tensor] = []
    /// μ̄ of the means the current step computes, when a loss was scored with them.
    var pendingMeans: [Tensor]?
    /// Adjoints of the resolved teacher parameters, by name.
    var meta: [String: Tensor] = [:]
    /// ∂M/∂log η and ∂M/∂log m, one per optimizer slot.
    var logLearningRates: [Double]
    var logMomenta: [Double]
    var metaLoss = 0.0
    var finalLoss = 0.0

    init(optimizerSlots: Int) {
        logLearningRates = [Double](repeating: 0, count: optimizerSlots)
        logMomenta = logLearningRates
    }

    mutating func addToTheta<S: Sequence<Tensor>>(_ gradients: S) {
        withoutGradientRecording { theta = zip(theta, gradients).map { $0 + $1 } }
    }

    mutating func addToMeta<S: Sequence<Tensor>>(_ gradients: S, names: [String]) {
        withoutGradientRecording {
            for (name, g) in zip(names, gradients) { meta[name] = meta[name].map { $0 + g } ?? g }
        }
    }
}

/// One meta-gradient computation. Steps 0..<tailStart run without a graph, keeping θ_t, b_t and
/// the means μ_t; steps tailStart..<T run with a graph and are differentiated once; the backward
/// sweep then carries the adjoints through the unrecorded steps, rebuilding one step's graph at a
/// time; last, the resolved generator weights' adjoints are pulled back to their sources.
/// See docs/meta-gradient.md.
private struct MetaGradientSweep {
    let teacher: Teacher
    let learner: Learner
    let initial: Parameters
    let plan: InnerPlan
    /// One real batch for every scored step, or one for each.
    let realBatches: [LabeledBatch]
    let intermediateLosses: Bool
    /// The first recorded step: T − recordedSteps.
    let tailStart: Int
    let resolved: ResolvedTeacherParameters
    /// η_t and m_t of every step, as scalars without a graph.
    let learningRates: [Tensor]
    let momenta: [Tensor]
    let optimizerSlots: Int

    var stepCount: Int { plan.steps.count }
    var dtype: DType { realBatches[0].images.dtype }

    /// The real batch that scores the learner after step t.
    func realBatch(after t: Int) -> LabeledBatch { realBatches.count == 1 ? realBatches[0] : realBatches[t] }

    init(teacher: Teacher, learner: Learner, initial: Parameters, plan: InnerPlan, realBatches: [LabeledBatch],
         recordedSteps: Int, intermediateLosses: Bool) {
        self.teacher = teacher
        self.learner = learner
        self.initial = initial
        self.plan = plan
        self.realBatches = realBatches
        self.intermediateLosses = intermediateLosses
        let T = plan.steps.count
        tailStart = T - recordedSteps
        let fixed = teacher.parameters.detached()
        resolved = ResolvedTeacherParameters(teacher.generator, fixed)
        func rate(_ name: String, _ t: Int) -> Tensor {
            let i = teacher.optimizerIndex(t)
            return exp(fixed[name].slice(alongAxis: 0, i..<i + 1))
        }
        (learningRates, momenta) = withoutGradientRecording {
            ((0..<T).map { rate(Teacher.logLRName, $0) }, (0..<T).map { rate(Teacher.logMomentumName, $0) })
        }
        optimizerSlots = fixed[Teacher.logLRName].scalarCount
    }

    func run() throws -> MetaGradient {
        let trajectory = try recordTrajectory()
        var state = SweepState(optimizerSlots: optimizerSlots)
        var innerLosses = trajectory.innerLosses
        if tailStart < stepCount {
            innerLosses += try differentiateTail(trajectory, into: &state)
        } else {
            try startFromFinalLoss(trajectory, into: &state)
        }
        for t in stride(from: tailStart - 1, through: 0, by: -1) {
            try reverseStep(t, trajectory, &state)
        }
        try pullBackResolvedWeights(&state)
        return MetaGradient(metaLoss: state.metaLoss, finalLoss: state.finalLoss, gradients: teacherGradients(state),
                            innerLosses: innerLosses)
    }

    /// The forward pass without a graph up to the recorded tail, keeping what the sweep needs.
    func recordTrajectory() throws -> Trajectory {
        var trajectory = Trajectory(parameters: [initial.detached()],
                                    buffers: [initial.map { Tensor.zeros($0.shape, dtype: $0.dtype) }])
        for t in 0..<tailStart {
            let (images, targets) = withoutGradientRecording {
                (teacher.batch(t, of: plan, resolved.values), teacher.targets(t, of: plan, resolved.values))
            }
            let step = try innerStep(learner, parameters: trajectory.parameters[t].requiringGradient(),
                                     buffers: trajectory.buffers[t], images: images, labels: plan.steps[t].labels, targets: targets,
                                     learningRate: learningRates[t], momentum: momenta[t],
                                     gradientClip: teacher.preset.innerGradientClip, createGraph: false)
            trajectory.parameters.append(step.parameters.detached())
            trajectory.buffers.append(step.buffers.detached())
            trajectory.means.append(step.means.map { $0.detached() })
            trajectory.innerLosses.append(step.loss.item)
        }
        return trajectory
    }

    /// The real-data loss at θ_{t+1} scored with μ_t, added to the meta-loss; returns its
    /// gradients with respect to θ_{t+1} and μ_t. The means need an adjoint too: scoring
    /// subtracts them, and they depend on θ_t and the batch x_t, hence on the teacher.
    func scoredLossGradient(after t: Int, _ trajectory: Trajectory,
                            _ state: inout SweepState) throws -> (theta: [Tensor], means: [Tensor]) {
        let θ = trajectory.parameters[t + 1].requiringGradient()
        let μ = trajectory.means[t].map { $0.requiringGradient() }
        let real = realBatch(after: t)
        let loss = realLoss(learner, θ, means: μ, images: real.images, labels: real.labels)
        state.metaLoss += loss.item
        if t == stepCount - 1 { state.finalLoss = loss.item }
        let g = try gradients(of: loss, wrt: θ.tensors + μ)
        return (Array(g[..<θ.count]), Array(g[θ.count...]))
    }

    /// Adds the intermediate loss at θ_t (scored with μ_{t−1}) when there is one: its θ-gradient
    /// joins θ̄ now, its means-gradient waits for the rebuild of step t−1.
    func addIntermediateLoss(at t: Int, _ trajectory: Trajectory, _ state: inout SweepState) throws {
        guard intermediateLosses && t >= 1 else { return }
        let (dθ, dμ) = try scoredLossGradient(after: t - 1, trajectory, &state)
        state.addToTheta(dθ)
        state.pendingMeans = dμ
    }

    /// Without a recorded tail the sweep starts from the final loss alone: θ̄ and μ̄ are its
    /// gradients, and b_T does not reach the meta-loss.
    func startFromFinalLoss(_ trajectory: Trajectory, into state: inout SweepState) throws {
        let final = try scoredLossGradient(after: stepCount - 1, trajectory, &state)
        state.theta = final.theta
        state.pendingMeans = final.means
        state.buffer = state.theta.map { Tensor.zeros($0.shape, dtype: $0.dtype) }
    }
}

extension MetaGradientSweep {
    /// The recorded steps with their graph: the start θ, b (when they have adjoints to pass on),
    /// the learning rates and momenta, and the meta-loss the tail contributes.
    struct RecordedTail {
        let meta: Parameters
        let start: [Tensor]
        let learningRates: [Tensor]
        let momenta: [Tensor]
        let loss: Tensor
        let finalLoss: Double
        let innerLosses: [Double]
    }

    /// Runs steps tailStart..<T with a graph, from θ and b of step tailStart as leaves. At
    /// tailStart = 0 nothing earlier needs their adjoints, and b_0 = 0 is a constant: no leaves.
    func recordTail(_ trajectory: Trajectory) throws -> RecordedTail {
        let meta = resolved.values.requiringGradient()
        let θStart = trajectory.parameters[tailStart].requiringGradient()
        let startIsLeaf = tailStart > 0
        let bStart = startIsLeaf ? trajectory.buffers[tailStart].requiringGradient() : trajectory.buffers[tailStart]
        let lrLeaves = learningRates[tailStart...].map { $0.requiringGradient() }
        let momentumLeaves = momenta[tailStart...].map { $0.requiringGradient() }
        var θ = θStart, b = bStart
        var loss = Tensor.zeros([], dtype: dtype)
        var finalLoss = 0.0
        var innerLosses: [Double] = []
        for t in tailStart..<stepCount {
            let step = try innerStep(learner, parameters: θ, buffers: b, images: teacher.batch(t, of: plan, meta),
                                     labels: plan.steps[t].labels, targets: teacher.targets(t, of: plan, meta),
                                     learningRate: lrLeaves[t - tailStart],
                                     momentum: momentumLeaves[t - tailStart], gradientClip: teacher.preset.innerGradientClip,
                                     createGraph: true)
            θ = step.parameters
            b = step.buffers
            innerLosses.append(step.loss.item)
            if intermediateLosses || t == stepCount - 1 {
                let real = realBatch(after: t)
                let scored = realLoss(learner, θ, means: step.means, images: real.images, labels: real.labels)
                loss = loss + scored
                if t == stepCount - 1 { finalLoss = scored.item }
            }
        }
        return RecordedTail(meta: meta, start: startIsLeaf ? θStart.tensors + bStart.tensors : [],
                            learningRates: lrLeaves, momenta: momentumLeaves, loss: loss, finalLoss: finalLoss, innerLosses: innerLosses)
    }

    /// Differentiates the recorded tail once: θ̄ and b̄ at tailStart, the tail's meta-parameter
    /// adjoints, and its learning rates and momenta (d/d log η = η·d/dη). Returns the tail's
    /// inner losses.
    func differentiateTail(_ trajectory: Trajectory, into state: inout SweepState) throws -> [Double] {
        let tail = try recordTail(trajectory)
        state.metaLoss += tail.loss.item
        state.finalLoss = tail.finalLoss
        let grads = try gradients(of: tail.loss,
                                  wrt: tail.start + resolved.stepLeaves(tail.meta) + tail.learningRates + tail.momenta)
        let n = tail.start.count / 2
        state.theta = Array(grads[..<n])
        state.buffer = Array(grads[n..<2 * n])
        let metaEnd = tail.start.count + resolved.stepLeafNames.count
        state.addToMeta(grads[tail.start.count..<metaEnd], names: resolved.stepLeafNames)
        let recordedSteps = stepCount - tailStart
        for (j, t) in (tailStart..<stepCount).enumerated() {
            state.logLearningRates[teacher.optimizerIndex(t)] += grads[metaEnd + j].item * learningRates[t].item
            state.logMomenta[teacher.optimizerIndex(t)] += grads[metaEnd + recordedSteps + j].item * momenta[t].item
        }
        state.pendingMeans = nil
        try addIntermediateLoss(at: tailStart, trajectory, &state)
        return tail.innerLosses
    }
}

extension MetaGradientSweep {
    /// Carries θ̄ and b̄ from step t+1 back to step t.
    func reverseStep(_ t: Int, _ trajectory: Trajectory, _ state: inout SweepState) throws {
        let gradientBar = reverseUpdate(t, trajectory, &state)
        try reverseGradient(t, gradientBar, trajectory, &state)
        state.pendingMeans = nil
        try addIntermediateLoss(at: t, trajectory, &state)
    }

    /// The adjoint of the update b_{t+1} = m_t b_t + g_t, θ_{t+1} = θ_t − η_t b_{t+1}, with the
    /// log-rate adjoints (η̄·η, m̄·m). θ̄ passes to θ_t as it is; b̄ becomes b_t's adjoint.
    /// Returns ḡ_t, the adjoint of the step's training gradient.
    func reverseUpdate(_ t: Int, _ trajectory: Trajectory, _ state: inout SweepState) -> [Tensor] {
        let lr = learningRates[t].item, m = momenta[t].item
        let i = teacher.optimizerIndex(t)
        withoutGradientRecording {
            state.buffer = zip(state.buffer, state.theta).map { $0 - $1 * lr }
            state.logLearningRates[i] += -dot(state.theta, trajectory.buffers[t + 1].tensors) * lr
            state.logMomenta[i] += dot(state.buffer, trajectory.buffers[t].tensors) * m
        }
        let gradientBar = state.buffer
        state.buffer = withoutGradientRecording { state.buffer.map { $0 * m } }
        return gradientBar
    }

    /// The adjoint of g_t = ∇θ L(θ_t; x_t), a Hessian-vector product: rebuild step t with a graph
    /// and differentiate s = ⟨g_t, ḡ_t⟩ + ⟨μ_t, μ̄_t⟩ (ḡ_t, μ̄_t constant) with respect to θ_t and
    /// the meta-parameters the batch x_t comes from.
    func reverseGradient(_ t: Int, _ gradientBar: [Tensor], _ trajectory: Trajectory, _ state: inout SweepState) throws {
        let meta = resolved.values.requiringGradient()
        let θ = trajectory.parameters[t].requiringGradient()
        let (logits, μ) = learner(teacher.batch(t, of: plan, meta), θ)
        let loss = trainingLoss(logits, labels: plan.steps[t].labels, targets: teacher.targets(t, of: plan, meta))
        let g = clipped(try gradients(of: loss, wrt: θ.tensors, createGraph: true), to: teacher.preset.innerGradientClip)
        var s = Tensor.zeros([], dtype: dtype)
        for (gi, bar) in zip(g, gradientBar) { s = s + (gi * bar).sum() }
        if let meansBar = state.pendingMeans {
            for (mi, bar) in zip(μ, meansBar) { s = s + (mi * bar).sum() }
        }
        let grads = try gradients(of: s, wrt: θ.tensors + resolved.stepLeaves(meta))
        state.addToTheta(grads[..<θ.count])
        state.addToMeta(grads[θ.count...], names: resolved.stepLeafNames)
    }
}

extension MetaGradientSweep {
    /// Carries the resolved weights' adjoints w̄ (summed over all steps) to the directions and
    /// gains they are computed from, in one backward pass of Σ ⟨w(v, g), w̄⟩.
    func pullBackResolvedWeights(_ state: inout SweepState) throws {
        guard !resolved.weightNames.isEmpty else { return }
        let meta = teacher.parameters.requiringGradient()
        let weights = teacher.generator.resolvingWeights(meta)
        var s = Tensor.zeros([], dtype: dtype)
        for name in resolved.weightNames {
            if let bar = state.meta[name] { s = s + (weights[name] * bar).sum() }
        }
        let pulled = try gradients(of: s, wrt: resolved.sourceNames.map { meta[$0] })
        state.addToMeta(pulled, names: resolved.sourceNames)
    }

    /// One gradient per teacher parameter, the log-rate adjoints added to theirs.
    func teacherGradients(_ state: SweepState) -> [Tensor] {
        let parameters = teacher.parameters
        var result = zip(parameters.names, parameters.tensors).map { name, p in
            state.meta[name] ?? Tensor.zeros(p.shape, dtype: dtype)
        }
        for (name, bar) in [(Teacher.logLRName, state.logLearningRates), (Teacher.logMomentumName, state.logMomenta)] {
            guard let k = parameters.names.firstIndex(of: name) else { continue }
            let shape = parameters.tensors[k].shape
            result[k] = withoutGradientRecording { result[k] + Tensor(shape: shape, doubles: bar).converted(to: dtype) }
        }
        return result
    }
}

/// Σ ⟨a_i, b_i⟩ over two lists of same-shaped tensors.
func dot(_ a: [Tensor], _ b: [Tensor]) -> Double {
    withoutGradientRecording { zip(a, b).reduce(0.0) { $0 + ($1.0 * $1.1).sum().item } }
}
