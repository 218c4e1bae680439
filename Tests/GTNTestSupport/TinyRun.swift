import Datasets
import GTN
import TestSupport

/// The smallest meta-training setup that still runs every part of it: the `cpu` preset with a
/// 4-channel generator, 3 inner steps of batches of 10, and learners 3, 4 and 8 wide. Tests that
/// need a real teacher, run or checkpoint start from here, so they agree on what "tiny" means.
public enum TinyRun {
    public static var preset: Preset {
        var p = Preset.named(.cpu)
        p.generator = .weightNormalized(channels: 4, middle: 4)
        p.steps = 3
        p.batchSize = 10
        return p
    }

    public static let widths = LearnerWidths(conv1: 3, conv2: 4, fc: 8)

    public static func configuration(outerIterations: Int, seed: UInt64 = 7,
                                     curriculum: CurriculumKind = .full) -> TrainingConfiguration {
        var c = TrainingConfiguration(preset: preset, outerIterations: outerIterations)
        c.fixedWidths = widths
        c.curriculum = curriculum
        if !curriculum.isLearned { c.preset.learnedSoftLabels = false }  // they label curriculum slots
        c.seed = seed
        return c
    }

    /// Random images stand in for MNIST where only the mechanics are under test.
    public static let data = RealData(splits: syntheticSplits(train: 64, validation: 20, test: 30, seed: 3))
}
