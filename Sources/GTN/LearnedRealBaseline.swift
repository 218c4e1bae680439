import Foundation
import NeuralNet
import Support
import TensorEngine

/// The stronger real-data baseline: learners trained T steps on real batches with per-step
/// learning rates and momenta that were meta-learned exactly as a GTN learns its own (the same
/// exact meta-gradient through the inner loop, the same meta-loss, inner gradient clip, Adam and
/// cosine schedule), only with real batches where the generator's would be. A GTN must beat this to show that its data,
/// not just its learned optimizer, teaches faster.
public struct LearnedRealBaseline: Sendable {
    /// The learned per-step learning rates and momenta (a teacher whose batches are all given).
    public let optimizer: Teacher
    /// Meta-loss of each outer iteration.
    public let metaLosses: [Double]

    /// Meta-learns the inner optimizer for `outerIterations` iterations on the configuration's
    /// learners, starting from the preset's initial learning rate and momentum.
    public static func learn(configuration: TrainingConfiguration, data: RealData, outerIterations: Int,
                             seed: UInt64 = 0x8EA1, progress: ((Int) -> Void)? = nil) throws -> LearnedRealBaseline {
        let preset = configuration.preset
        var rng = SeededGenerator(seed: seed)
        // The `none` curriculum has no per-slot parameters; its generator is never run, since
        // every step's images are given, and its zero meta-gradient leaves it untouched.
        var optimizer = Teacher(preset: preset, curriculum: .none, using: &rng)
        let names = [Teacher.logLRName, Teacher.logMomentumName]
        let indices = names.compactMap { optimizer.parameters.names.firstIndex(of: $0) }
        var adam = Adam(like: names.map { optimizer.parameters[$0] })
        var losses: [Double] = []
        for iteration in 0..<outerIterations {
            var draw = MetaTrainer.learnerGenerator(seed: seed, iteration: iteration, learner: 0)
            let learner = Learner(architecture: preset.learner, spec: configuration.learners.sample(using: &draw))
            let initial = learner.initialParameters(using: &draw)
            let steps = (0..<preset.steps).map { _ in
                let batch = data.train.randomBatch(size: preset.batchSize, using: &draw)
                return InnerPlan.Step(source: .given(batch.images), labels: batch.labels)
            }
            let result = try optimizer.metaGradient(learner: learner, initial: initial, plan: InnerPlan(steps: steps),
                                                    realBatches: configuration.realBatches(from: data, using: &draw),
                                                    mode: configuration.memoryMode, recordedSteps: configuration.effectiveRecordedSteps,
                                                    intermediateLosses: configuration.intermediateLosses)
            let gradients = indices.map { result.gradients[$0] }
            let (clipped, norm) = clippedByGlobalNorm(gradients, maxNorm: configuration.clipNorm)
            if result.metaLoss.isFinite && norm.isFinite {
                let progress = outerIterations <= 1 ? 0 : Double(iteration) / Double(outerIterations - 1)
                let lr = cosineDecay(from: preset.outerLearningRate, progress: progress, finalFraction: 0.1)
                let updated = adam.update(names.map { optimizer.parameters[$0] }, gradients: clipped, learningRate: lr)
                for (name, value) in zip(names, updated) { optimizer.parameters[name] = value }
            }
            losses.append(result.metaLoss)
            progress?(iteration + 1)
        }
        return LearnedRealBaseline(optimizer: optimizer, metaLosses: losses)
    }
}

extension Evaluator {
    /// Real-T accuracy with a learned inner optimizer: the evaluation's learners trained T steps
    /// on real batches of B with `baseline`'s per-step learning rates and momenta, side by side,
    /// and with the inner gradient clip they were learned under.
    public func realAccuracy(learnedBy baseline: LearnedRealBaseline, learners count: Int,
                             seed: UInt64 = 1_000_003) throws -> [Double] {
        try learnersTrained(learnedBy: baseline, learners: count, seed: seed).map { accuracy(of: $0.learner, $0.trained, on: scoringSet) }
    }

    func learnersTrained(learnedBy baseline: LearnedRealBaseline, learners count: Int,
                         seed: UInt64) throws -> [(learner: Learner, trained: TrainedLearner)] {
        let rates = baseline.optimizer.innerLearningRates, momenta = baseline.optimizer.innerMomenta
        let pairs = learners(count, seed: seed)
        return try Parallel.map(count) { k in
            (pairs[k].0, try trainOnRealBatches(pairs[k], index: k, seed: seed, learningRate: { rates[$0] }, momentum: { momenta[$0] },
                                                gradientClip: baseline.optimizer.preset.innerGradientClip))
        }
    }
}
