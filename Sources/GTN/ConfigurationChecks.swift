import Foundation

/// Why a configuration (from flags, code or a checkpoint's metadata) cannot be trained.
public struct ConfigurationError: Error, CustomStringConvertible, LocalizedError {
    public let description: String
    public init(_ description: String) { self.description = description }
    public var errorDescription: String? { description }
}

extension Preset {
    /// Throws for settings no run can use: what a corrupted or hand-edited checkpoint could hold.
    public func validate() throws {
        func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
            if !condition { throw ConfigurationError("preset \(name.rawValue): \(message())") }
        }
        try require(steps > 0, "inner steps must be positive, got \(steps)")
        try require(batchSize > 0, "the batch size must be positive, got \(batchSize)")
        try require(noiseSize > 0, "the noise size must be positive, got \(noiseSize)")
        if case let .weightNormalized(channels, middle) = generator {
            try require(channels > 0 && middle > 0, "generator channels must be positive, got \(channels) and \(middle)")
        }
        for (label, range) in [("conv1", widthRanges.conv1), ("conv2", widthRanges.conv2), ("fc", widthRanges.fc)] {
            try require(!range.isEmpty && range.lowerBound > 0, "learner \(label) widths must be a non-empty range of positive values, got \(range)")
        }
        try require(initialInnerLearningRate.isFinite && initialInnerLearningRate > 0,
                    "the initial inner learning rate must be positive and finite, got \(initialInnerLearningRate)")
        try require(initialInnerMomentum.isFinite && initialInnerMomentum > 0,
                    "the initial inner momentum must be positive and finite, got \(initialInnerMomentum)")
        try require(outerLearningRate.isFinite && outerLearningRate > 0, "the outer learning rate must be positive and finite, got \(outerLearningRate)")
        try require(outerIterations >= 0, "outer iterations must be ≥ 0, got \(outerIterations)")
        try require(innerGradientClip.map { $0.isFinite && $0 > 0 } ?? true, "the inner gradient clip must be positive and finite, got \(innerGradientClip ?? 0)")
        try require(recordedStepsFraction >= 0 && recordedStepsFraction <= 1, "the recorded fraction of steps must lie in 0...1, got \(recordedStepsFraction)")
    }
}

extension TrainingConfiguration {
    /// Throws for settings no run can use, naming the setting.
    public func validate() throws {
        try preset.validate()
        func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
            if !condition { throw ConfigurationError(message()) }
        }
        try require(outerIterations >= 0, "outer iterations must be ≥ 0, got \(outerIterations)")
        try require(learnersPerIteration > 0, "learners per iteration must be positive, got \(learnersPerIteration)")
        try require(metaBatchSize.map { $0 > 0 } ?? true, "the meta-batch size must be positive, got \(metaBatchSize ?? 0)")
        try require(timeBudget.map { $0.isFinite && $0 > 0 } ?? true, "the time budget must be positive and finite, got \(timeBudget ?? 0)")
        switch annealingEnd {
        case .outerIterations(let n)?: try require(n > 0, "the annealing end must be a positive number of outer iterations, got \(n)")
        case .seconds(let s)?: try require(s.isFinite && s > 0, "the annealing end must be a positive, finite number of seconds, got \(s)")
        case nil: break
        }
        try require(clipNorm.isFinite && clipNorm > 0, "the clipping norm must be positive and finite, got \(clipNorm)")
        try require(maxConsecutiveFailures > 0, "the number of non-finite iterations tolerated in a row must be positive, got \(maxConsecutiveFailures)")
        try require(recordedSteps.map { (0...preset.steps).contains($0) } ?? true,
                    "recorded steps must lie in 0...\(preset.steps), got \(recordedSteps ?? 0)")
        if let fixedWidths {
            try require(fixedWidths.conv1 > 0 && fixedWidths.conv2 > 0 && fixedWidths.fc > 0, "fixed widths must be positive, got \(fixedWidths)")
        }
        if learnerSpace != nil {
            try require(preset.learner == .weightNormalized, "a learner space needs the weight-normalized learner family (the \(preset.name.rawValue) preset's learners have exactly two blocks)")
        }
        if preset.learnedSoftLabels {
            try require(curriculum.isLearned, "learned soft labels need a learned curriculum (\(curriculum.rawValue) draws fresh noise and labels)")
        }
    }

    /// A rough upper estimate of the peak memory of one outer iteration at the widest learner
    /// the configuration can draw: the recorded steps' graphs (activations and their backward
    /// intermediates, about 4.5 copies of the forward activations, which puts the paper preset
    /// at widths 64/128/256 with all 32 steps recorded at the 11 GiB measured) plus the trajectory of
    /// parameters and momentum buffers kept for the sweep. Used to refuse configurations that
    /// cannot fit before any work is done.
    public var estimatedPeakBytes: Double {
        let spec: LearnerSpec
        if let space = learnerSpace {
            let widest = space.convWidths.max() ?? 1
            spec = LearnerSpec(blocks: (0..<space.depths.upperBound).map { _ in .init(kernel: space.kernels.max() ?? 3, width: widest) },
                               fc: space.fcWidths.max() ?? 1)
        } else {
            let r = widthRanges
            spec = LearnerSpec(widths: LearnerWidths(conv1: r.conv1.upperBound - 1, conv2: r.conv2.upperBound - 1, fc: r.fc.upperBound - 1))
        }
        let B = Double(Swift.max(preset.batchSize, effectiveMetaBatchSize)), T = Double(preset.steps)
        var side = 28.0, inChannels = 1.0, activations = 0.0, parameters = 0.0
        for block in spec.blocks {
            let width = Double(block.width), k = Double(block.kernel)
            activations += width * side * side * 1.5
            parameters += width * inChannels * k * k
            side = (side / 2).rounded(.down)
            inChannels = width
        }
        parameters += inChannels * side * side * Double(spec.fc) + Double(spec.fc) * 10
        activations += Double(spec.fc) + 10
        let generatorActivations: Double
        switch preset.generator {
        case let .weightNormalized(channels, middle): generatorActivations = 1024 + Double(channels) * 49 * 2 + Double(middle) * 196 * 2 + 784
        case .seed: generatorActivations = 1024 + 128 * 784 * 2 + 64 * 784 + 784
        }
        let recorded = Double(Swift.max(effectiveRecordedSteps, 1))
        let graphs = 4.5 * recorded * B * (activations + generatorActivations)
        let trajectory = 2 * (T + 1) * parameters * 3
        return 4 * (graphs + trajectory)
    }
}
