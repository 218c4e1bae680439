import Foundation
import NeuralNet
import Support
import TensorEngine

/// Meta-training over several processes (docs/gtn.md; README "Several processes (MPI)").
///
/// Every rank holds the same state. An outer iteration's `learnersPerIteration` (K, the global
/// count) learners are dealt out k = rank, rank + size, …; each rank sums its learners'
/// meta-gradients, one `allreduceSum` adds the ranks' sums in rank order, and every rank divides
/// by K and takes the same Adam step (`MetaTrainer.apply`: clipping and the non-finite guard see
/// the reduced gradient, so all ranks decide alike). With one learner per rank the sum is the
/// one `MetaGradient.mean` forms in one process, bit for bit.
extension MetaTrainer {
    /// Learner `index`'s architecture at outer iteration `iteration` (the first draw of
    /// `learnerMetaGradient`), for the metrics of learners computed on other ranks.
    public static func learnerSpec(configuration: TrainingConfiguration, iteration: Int, learner index: Int) -> LearnerSpec {
        var rng = learnerGenerator(seed: configuration.seed, iteration: iteration, learner: index)
        return Learner(architecture: configuration.preset.learner, spec: configuration.learners.sample(using: &rng)).spec
    }

    /// One outer iteration computed by all ranks of `communicator` together (every rank calls it);
    /// with one rank, exactly `step()`.
    public func step(communicator: any Communicator) throws -> IterationMetrics {
        guard communicator.size > 1 else { return try step() }
        let start = Date()
        BufferPool.shared.resetPeak()
        FiniteCheck.reset()
        let count = configuration.learnersPerIteration
        let shapes = state.teacher.parameters.tensors.map(\.shape)
        let sizes = shapes.map { $0.reduce(1, *) }
        var flat = [Float](repeating: 0, count: sizes.reduce(0, +))
        var metaLossSum = 0.0, finalLossSum = 0.0
        var innerLosses: [Double] = []
        var sum: [Tensor]?
        for k in communicator.share(of: count) {
            let part = try Self.learnerMetaGradient(teacher: state.teacher, configuration: configuration, data: data,
                                                    iteration: state.iteration, learner: k).metaGradient
            sum = withoutGradientRecording { sum.map { zip($0, part.gradients).map { $0 + $1 } } ?? part.gradients }
            metaLossSum += part.metaLoss
            finalLossSum += part.finalLoss
            if k == 0 { innerLosses = part.innerLosses }
        }
        if let sum {
            var offset = 0
            for tensor in sum {
                guard tensor.dtype == .float32 else { throw TrainingFailure(description: "distributed meta-training needs float32 meta-gradients, got \(tensor.dtype)") }
                tensor.withUnsafeBufferPointer(as: Float.self) { values in
                    flat.withUnsafeMutableBufferPointer { out in
                        for i in values.indices { out[offset + i] = values[i] }
                    }
                }
                offset += tensor.scalarCount
            }
        }
        // Rank 0's clock rides along (the others add 0), so the schedule's progress agrees.
        var scalars = [metaLossSum, communicator.rank == 0 ? state.elapsedSeconds : 0, finalLossSum]
        try communicator.allreduceSum(&flat)
        try communicator.allreduceSum(&scalars)
        state.elapsedSeconds = scalars[1]
        let scale = 1 / Double(count)
        var offset = 0
        let gradients = withoutGradientRecording {
            zip(shapes, sizes).map { shape, size -> Tensor in
                defer { offset += size }
                let tensor = Tensor(shape: shape, scalars: Array(flat[offset..<(offset + size)]))
                return count > 1 ? tensor * scale : tensor
            }
        }
        let result = MetaGradient(metaLoss: count > 1 ? scalars[0] * scale : scalars[0],
                                  finalLoss: count > 1 ? scalars[2] * scale : scalars[2], gradients: gradients, innerLosses: innerLosses)
        let learners = communicator.rank == 0
            ? (0..<count).map { Self.learnerSpec(configuration: configuration, iteration: state.iteration, learner: $0) } : []
        var metrics = try apply(result, learners: learners)
        state.elapsedSeconds += Date().timeIntervalSince(start)
        metrics.seconds = Date().timeIntervalSince(start)
        metrics.peakMemoryBytes = BufferPool.shared.statistics.peakLiveBytes
        return metrics
    }
}

extension TrainingRun.Policy {
    /// What every rank must agree on, as numbers to broadcast: the schedule of evaluations and
    /// checkpoints, and the split evaluations score on (each rank scores its share of the learners).
    fileprivate var numbers: [Double] {
        let split = EvaluationSplit.allCases.firstIndex(of: evaluationSplit) ?? 0
        return [Double(evaluateEvery), Double(evaluationLearners), Double(checkpointEvery), Double(split)]
    }
    fileprivate init(numbers: [Double]) {
        self.init(evaluateEvery: Int(numbers[0]), evaluationLearners: Int(numbers[1]), checkpointEvery: Int(numbers[2]),
                  evaluationSplit: EvaluationSplit.allCases[Int(numbers[3])])
    }
}

extension TrainingRun {
    /// A run trained by every rank of `communicator` together; every rank calls this. Rank 0
    /// opens the run with `open` (`start` or `resume`: it alone holds the directory's lock and
    /// writes checkpoints, metrics and evaluations) and broadcasts its configuration, policy and
    /// whole state (teacher and Adam moments, as a checkpoint's bytes), so every rank starts
    /// identical; the other ranks load their data with `data` for that configuration.
    public static func shared(by communicator: any Communicator, directory: URL, open: () throws -> TrainingRun,
                              data: (TrainingConfiguration) throws -> RealData) throws -> TrainingRun {
        guard communicator.size > 1 else { return try open() }
        if communicator.rank == 0 {
            let run = try open()
            run.communicator = communicator
            var bytes = [UInt8](try Checkpoint.encode(run.state, configuration: run.configuration))
            try communicator.broadcast(&bytes, root: 0)
            var policy = run.policy.numbers
            try communicator.broadcast(&policy, root: 0)
            return run
        }
        var bytes: [UInt8] = []
        try communicator.broadcast(&bytes, root: 0)
        var numbers = Policy().numbers  // as many as rank 0 sends; its values replace these
        try communicator.broadcast(&numbers, root: 0)
        let (configuration, state) = try Checkpoint.decode(Data(bytes), source: "rank 0's broadcast state")
        let trainer = MetaTrainer(configuration: configuration, data: try data(configuration), state: state)
        let run = TrainingRun(follower: trainer, directory: directory, policy: Policy(numbers: numbers))
        run.communicator = communicator
        return run
    }
}
