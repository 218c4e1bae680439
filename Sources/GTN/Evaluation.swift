import Foundation
import Datasets
import NeuralNet
import Support
import TensorEngine

/// Accuracy of a trained learner on a labelled set, scored with the rule of docs/gtn.md §6.
public func accuracy(of learner: Learner, _ trained: TrainedLearner, on set: LabeledImages, batchSize: Int = 1000) -> Double {
    withoutGradientRecording {
        let statistics = learner.scoringStatistics(trained.scoringMeans)
        var correct = 0.0
        var start = 0
        while start < set.count {
            let indices = Array(start..<min(start + batchSize, set.count))
            let (images, labels) = set.batch(indices, dtype: trained.parameters.tensors[0].dtype)
            let logits = learner(images, trained.parameters, statistics: statistics).logits
            correct += accuracy(logits: logits, labels: labels) * Double(indices.count)
            start += batchSize
        }
        return set.count == 0 ? 0 : correct / Double(set.count)
    }
}

/// The labelled images an evaluation scores on.
public enum EvaluationSplit: String, Codable, Sendable, CaseIterable {
    /// The 10,000 test images: what results are reported on.
    case test
    /// The 10,000 validation images held out of training: to choose between teachers (a run's
    /// checkpoints, averaging windows) without looking at the test set.
    case validation
}

extension RealData {
    /// The images of `split`.
    public func images(for split: EvaluationSplit) -> LabeledImages {
        switch split {
        case .test: test
        case .validation: validation
        }
    }
}

/// GTN-T accuracy (docs/gtn.md §9): K fresh learners trained for T steps on the teacher's
/// curriculum and scored on a labelled set.
public struct GTNEvaluation: Codable, Sendable {
    public let steps: Int
    public let learners: Int
    public let accuracies: [Double]
    /// The learners' architectures, as `LearnerSpec` strings.
    public let architectures: [String]
    /// Mean accuracy over the learners after each inner step (when asked for).
    public let curve: [Double]?
    public let seconds: Double

    public var mean: Double { accuracies.reduce(0, +) / Double(max(accuracies.count, 1)) }
    public var standardDeviation: Double {
        let m = mean
        return (accuracies.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(max(accuracies.count, 1))).squareRoot()
    }
}

/// The real-data baseline of docs/gtn.md §9: the same learners trained T steps on real batches.
public struct RealBaseline: Codable, Sendable {
    public struct Row: Codable, Sendable {
        public let learningRate: Double
        public let accuracies: [Double]
        public var mean: Double { accuracies.reduce(0, +) / Double(max(accuracies.count, 1)) }
    }
    public let steps: Int
    public let rows: [Row]
    public var best: Row? { rows.max { $0.mean < $1.mean } }
}

/// Real-data accuracy against the number of SGD steps (`Evaluator.realStepsCurve`): the grid's
/// real baseline after each count of steps, whose `best` is the grid's best rate for that count.
public struct RealStepsCurve: Codable, Sendable {
    public let baselines: [RealBaseline]

    /// The fewest steps of the curve whose best mean accuracy reaches `accuracy`; nil when none does.
    public func steps(toReach accuracy: Double) -> Int? { baselines.first { ($0.best?.mean ?? -.infinity) >= accuracy }?.steps }

    /// T, 1.5T, 2T, 3T, 4T, 6T, … up to `maxSteps`, which ends the list: steps √2 apart on
    /// average, so a count read off the curve is within a factor 1.5 of where real data gets there.
    public static func checkpoints(from T: Int, through maxSteps: Int) -> [Int] {
        var counts: [Int] = []
        var power = T
        while power <= maxSteps {
            counts.append(power)
            if power + power / 2 <= maxSteps, power / 2 > 0, power % 2 == 0 { counts.append(power + power / 2) }
            power *= 2
        }
        if counts.last != maxSteps { counts.append(maxSteps) }
        return counts
    }
}

public struct Evaluator {
    public let teacher: Teacher
    public let data: RealData
    /// Where the evaluation's learners come from (the preset's width ranges by default).
    public var distribution: LearnerDistribution
    /// The images every accuracy is measured on: the test set, or the validation set to choose
    /// between teachers (such as averaging windows) without looking at the test set.
    public var scoringSet: LabeledImages

    /// Scores on the images of `split` from now on.
    public mutating func score(on split: EvaluationSplit) { scoringSet = data.images(for: split) }

    public init(teacher: Teacher, data: RealData, learners: LearnerDistribution? = nil) {
        self.teacher = teacher
        self.data = data
        distribution = learners ?? .widths(teacher.preset.widthRanges)
        scoringSet = data.test
    }

    /// The evaluator a training run's configuration implies.
    public init(teacher: Teacher, data: RealData, configuration: TrainingConfiguration) {
        self.init(teacher: teacher, data: data, learners: configuration.learners)
    }

    /// The K learners of an evaluation: the same for a given seed, so evaluations compare.
    func learners(_ count: Int, seed: UInt64) -> [(Learner, Parameters)] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in
            let learner = Learner(architecture: teacher.preset.learner, spec: distribution.sample(using: &rng))
            return (learner, learner.initialParameters(using: &rng))
        }
    }

    /// GTN-T accuracy of `count` learners on `scoringSet`, optionally after every step.
    /// The curriculum is generated once for all learners, which then train side by side, one core
    /// each (`Parallel.map`); `progress` gets the number finished.
    ///
    /// With a `communicator` of several ranks (every rank calls this), learner k runs on rank
    /// k mod size and every rank gets all results: the same numbers as in one process.
    public func gtnAccuracy(learners count: Int, seed: UInt64 = 1_000_003, curve: Bool = false, communicator: (any Communicator)? = nil,
                            progress: ((Int) -> Void)? = nil) throws -> GTNEvaluation {
        let start = Date()
        var planRNG = SeededGenerator(seed: seed ^ 0x5EED)
        let plan = teacher.plan(using: &planRNG)
        let pairs = learners(count, seed: seed)
        let batches = teacher.syntheticBatches(for: plan)
        let mine = communicator.map { Array($0.share(of: count)) } ?? Array(0..<count)
        var results = try Parallel.map(mine.count) { i in
            let k = mine[i]
            let (learner, initial) = pairs[k]
            var perStep = [Double](repeating: 0, count: curve ? plan.steps.count : 0)
            let trained = try teacher.train(learner, from: initial, batches: batches) { t, θ, means in
                guard curve else { return }
                perStep[t] = accuracy(of: learner, TrainedLearner(parameters: θ, scoringMeans: means, innerLosses: []), on: scoringSet)
            }
            return (accuracy: accuracy(of: learner, trained, on: scoringSet), perStep: perStep)
        } onResult: { finished, _, _ in progress?(finished) }
        if let communicator, communicator.size > 1 {
            // Each rank fills its learners' rows; the sum in rank order adds only zeros to them.
            let width = 1 + (curve ? plan.steps.count : 0)
            var table = [Double](repeating: 0, count: count * width)
            for (i, k) in mine.enumerated() {
                table[k * width] = results[i].accuracy
                for t in results[i].perStep.indices { table[k * width + 1 + t] = results[i].perStep[t] }
            }
            try communicator.allreduceSum(&table)
            results = (0..<count).map { k in (accuracy: table[k * width], perStep: Array(table[(k * width + 1)..<((k + 1) * width)])) }
        }
        var meanCurve = [Double](repeating: 0, count: plan.steps.count)
        for result in results {
            for t in result.perStep.indices { meanCurve[t] += result.perStep[t] / Double(count) }
        }
        return GTNEvaluation(steps: plan.steps.count, learners: count, accuracies: results.map(\.accuracy),
                             architectures: pairs.map { $0.0.spec.description }, curve: curve ? meanCurve : nil,
                             seconds: Date().timeIntervalSince(start))
    }

    public static let baselineLearningRates = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5]

    /// Real-T accuracy: the same learners trained on shuffled real batches of B with SGD and
    /// momentum 0.5, for each learning rate of the grid. The runs go side by side, one core each;
    /// `progress` gets the number finished (of learning rates × learners).
    public func realBaseline(learners count: Int, seed: UInt64 = 1_000_003,
                             learningRates: [Double] = Evaluator.baselineLearningRates,
                             momentum: Double = 0.5, progress: ((Int) -> Void)? = nil) throws -> RealBaseline {
        try realBaselines(learners: count, seed: seed, learningRates: learningRates, momentum: momentum,
                          after: [teacher.preset.steps], progress: progress)[0]
    }

    /// Mean accuracy after every step of the same learners trained on the same real batches
    /// as `realBaseline` at one learning rate: the real-data counterpart of
    /// `gtnAccuracy(curve: true)`, whose last value is that learning rate's row.
    public func realAccuracyCurve(learners count: Int, seed: UInt64 = 1_000_003, learningRate: Double,
                                  momentum: Double = 0.5) throws -> [Double] {
        try realBaselines(learners: count, seed: seed, learningRates: [learningRate], momentum: momentum,
                          after: Array(1...teacher.preset.steps)).map { $0.rows[0].mean }
    }

    /// Real-data accuracy against the number of steps, the grid's best learning rate at each
    /// `RealStepsCurve.checkpoints` count up to `maxSteps`: how many real steps the learners need
    /// to do what the teacher's T do. The learners and batches are `realBaseline`'s, whose T-step
    /// result is the curve's first point; a constant learning rate makes the accuracy after n
    /// steps of one long run the same as that of a run of n steps, so one run per rate serves
    /// every count. `progress` gets the steps done and to do over all runs (rates × learners),
    /// every 32 steps of a run, since one run of a wide learner can take many minutes.
    public func realStepsCurve(learners count: Int, seed: UInt64 = 1_000_003, maxSteps: Int,
                               learningRates: [Double] = Evaluator.baselineLearningRates, momentum: Double = 0.5,
                               progress: ((_ stepsDone: Int, _ stepsTotal: Int) -> Void)? = nil) throws -> RealStepsCurve {
        let checkpoints = RealStepsCurve.checkpoints(from: teacher.preset.steps, through: maxSteps)
        let total = learningRates.count * count * maxSteps
        return RealStepsCurve(baselines: try realBaselines(learners: count, seed: seed, learningRates: learningRates, momentum: momentum,
                                                           after: checkpoints, stepsDone: progress.map { report in { report($0, total) } }))
    }

    /// The real baseline of the evaluation's learners (SGD on real batches at each learning
    /// rate) after each of `checkpoints` steps (ascending), from one run per rate and learner.
    /// The runs go side by side, one core each; `progress` gets the number finished,
    /// `stepsDone` the steps all runs have done, every 32 steps of one.
    func realBaselines(learners count: Int, seed: UInt64, learningRates: [Double], momentum: Double,
                       after checkpoints: [Int], progress: ((Int) -> Void)? = nil,
                       stepsDone: ((Int) -> Void)? = nil) throws -> [RealBaseline] {
        precondition(!learningRates.isEmpty && !checkpoints.isEmpty && checkpoints.first! > 0
                     && zip(checkpoints, checkpoints.dropFirst()).allSatisfy { $0 < $1 },
                     "realBaselines needs learning rates and ascending, positive step counts")
        let pairs = learners(count, seed: seed)
        let scored = Set(checkpoints)
        let steps = Locked(0)
        let runs = try Parallel.map(learningRates.count * count) { i in
            let lr = learningRates[i / count], k = i % count
            var scores: [Double] = []
            _ = try trainOnRealBatches(pairs[k], index: k, seed: seed, steps: checkpoints.last!,
                                       learningRate: { _ in lr }, momentum: { _ in momentum }) { t, θ, means in
                if let stepsDone, (t + 1) % 32 == 0 { steps.withLock { $0 += 32; stepsDone($0) } }
                guard scored.contains(t + 1) else { return }
                scores.append(accuracy(of: pairs[k].0, TrainedLearner(parameters: θ, scoringMeans: means, innerLosses: []), on: scoringSet))
            }
            return scores
        } onResult: { finished, _, _ in progress?(finished) }
        return checkpoints.indices.map { c in
            RealBaseline(steps: checkpoints[c], rows: learningRates.indices.map { r in
                RealBaseline.Row(learningRate: learningRates[r], accuracies: (0..<count).map { k in runs[r * count + k][c] })
            })
        }
    }

    /// The evaluation's learner `k` trained on real batches of B (T steps unless `steps` says)
    /// drawn from its own stream, the same for every optimizer it is trained with, so optimizers
    /// compare on equal data.
    func trainOnRealBatches(_ pair: (Learner, Parameters), index k: Int, seed: UInt64, steps: Int? = nil,
                            learningRate: (Int) -> Double, momentum: (Int) -> Double, gradientClip: Double? = nil,
                            observe: ((Int, Parameters, [Tensor]) throws -> Void)? = nil) throws -> TrainedLearner {
        let B = teacher.preset.batchSize
        var batchRNG = SeededGenerator(seed: seed &+ UInt64(k))
        return try trainLearner(pair.0, from: pair.1, steps: steps ?? teacher.preset.steps,
                                batch: { _ in data.train.randomBatch(size: B, using: &batchRNG) },
                                learningRate: learningRate, momentum: momentum, gradientClip: gradientClip, observe: observe)
    }
}
