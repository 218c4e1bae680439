import Foundation
import Support

/// The three configurations of docs/gtn.md §7: `paper`, `cpu` (the default) and `seed`.
public struct Preset: Codable, Sendable, Equatable {
    public enum Name: String, Codable, Sendable, CaseIterable {
        case paper, cpu, seed
    }

    public enum GeneratorArchitecture: Codable, Sendable, Equatable {
        /// WN-FC → BN → LReLU twice, reshape C×7×7, then two (upsample, WN-conv) stages; tanh·2.
        case weightNormalized(channels: Int, middle: Int)
        /// The seed project's generator: plain FC layers to 128×28×28, two convs, tanh to the pixel range.
        case seed
    }

    /// Names a `LearnerFamily` in presets and checkpoints.
    public enum LearnerArchitecture: String, Codable, Sendable {
        /// Weight-normed convs and FCs with mean-only batch norm (`WeightNormalizedLearners`).
        case weightNormalized
        /// The seed project's learner: valid convs, full batch norm, one FC layer (`SeedPresetLearners`).
        case seed

        public var family: any LearnerFamily {
            switch self {
            case .weightNormalized: WeightNormalizedLearners()
            case .seed: SeedPresetLearners()
            }
        }
    }

    public var name: Name
    public var noiseSize: Int
    public var generator: GeneratorArchitecture
    public var learner: LearnerArchitecture
    public var widthRanges: WidthRanges
    public var steps: Int
    public var batchSize: Int
    /// One learned (lr, momentum) per inner step, or a single pair shared by all steps.
    public var perStepOptimizer: Bool
    public var initialInnerLearningRate: Double
    public var initialInnerMomentum: Double
    public var outerLearningRate: Double
    public var outerIterations: Int
    /// Slot i of step t has class (t·B + i) mod 10, so the classes that a batch of B holds one
    /// fewer of change from step to step; otherwise every step has classes i mod 10.
    public var rotatingLabels: Bool
    /// Each curriculum slot also learns its label: logits [T·B, 10] whose softmax the learner
    /// trains toward, initialised near the slot's one-hot class (learned curricula only).
    public var learnedSoftLabels = false
    /// The meta-loss adds the real-data loss after every inner step, each on a fresh real batch
    /// (the default of a run's `TrainingConfiguration.intermediateLosses`).
    public var intermediateLosses = false
    /// When set, each inner step's gradient is scaled down to this global norm when it is longer,
    /// in meta-training and whenever the teacher's curriculum trains a learner.
    public var innerGradientClip: Double?
    /// How meta-gradients are computed unless a run says otherwise. Full unroll is faster (no
    /// recomputation); the larger presets need stepwise recomputation to stay within a few GiB.
    public var memoryMode: MemoryMode
    /// With stepwise meta-gradients: the fraction of the inner steps, the last ones, that keep
    /// their forward graph instead of being rebuilt (rounded down to whole steps).
    public var recordedStepsFraction: Double

    /// `recordedStepsFraction` in whole steps.
    public var recordedSteps: Int { Int(recordedStepsFraction * Double(steps)) }

    public static func named(_ name: Name) -> Preset {
        switch name {
        case .paper:
            return Preset(name: .paper, noiseSize: 128, generator: .weightNormalized(channels: 128, middle: 64),
                          learner: .weightNormalized,
                          widthRanges: WidthRanges(conv1: 32..<128, conv2: 64..<256, fc: 64..<256),
                          steps: 32, batchSize: 128, perStepOptimizer: true,
                          initialInnerLearningRate: 0.02, initialInnerMomentum: 0.5,
                          outerLearningRate: 0.02, outerIterations: 2000,
                          // Half of the steps recorded saves half of the recomputation (2035
                          // instead of 2324 GFLOP per iteration at widths 64/128/256) at a bit
                          // over half of a full unroll's peak memory (6.2 of 11.3 GiB).
                          rotatingLabels: false, memoryMode: .stepwise, recordedStepsFraction: 0.5)
        case .cpu:
            // Sized for two cores. The initial inner learning rate is the project's tuning
            // (docs/gtn.md §7): 0.2 instead of the paper's 0.02 reaches 90% in far fewer outer
            // iterations, and it is still learned from there.
            return Preset(name: .cpu, noiseSize: 128, generator: .weightNormalized(channels: 64, middle: 32),
                          learner: .weightNormalized,
                          widthRanges: WidthRanges(conv1: 16..<33, conv2: 32..<65, fc: 64..<129),
                          steps: 32, batchSize: 128, perStepOptimizer: true,
                          initialInnerLearningRate: 0.2, initialInnerMomentum: 0.5,
                          outerLearningRate: 0.02, outerIterations: 200,
                          // At an inner learning rate of 0.2 some teachers write data on which
                          // learners diverge (docs/gtn.md §2.1); an inner gradient norm of 3 stopped
                          // every skip in the seeds measured, at a few tenths of a point on the
                          // seeds that trained well. Intermediate losses tell the teacher how every
                          // step taught, not only the last: the largest gain of the variance-reduction
                          // ablation at 50 outer iterations (scripts/ablate.py; README). Learned soft
                          // labels led on every seed after 250 iterations (docs/results.md).
                          rotatingLabels: false, learnedSoftLabels: true, intermediateLosses: true, innerGradientClip: 3,
                          memoryMode: .fullUnroll, recordedStepsFraction: 1)
        case .seed:
            return Preset(name: .seed, noiseSize: 64, generator: .seed, learner: .seed,
                          widthRanges: WidthRanges(conv1: 32..<64, conv2: 64..<128, fc: 1..<2),
                          steps: 32, batchSize: 128, perStepOptimizer: false,
                          initialInnerLearningRate: 0.02, initialInnerMomentum: 0.5,
                          outerLearningRate: 0.01, outerIterations: 50,
                          rotatingLabels: false, memoryMode: .stepwise, recordedStepsFraction: 0)
        }
    }
}

extension Preset {
    private enum CodingKeys: String, CodingKey {
        case name, noiseSize, generator, learner, widthRanges, steps, batchSize, perStepOptimizer
        case initialInnerLearningRate, initialInnerMomentum, outerLearningRate, outerIterations, rotatingLabels, learnedSoftLabels, intermediateLosses, innerGradientClip, memoryMode, recordedStepsFraction
    }

    /// Checkpoints written before the memory settings were stored fields get the values their
    /// preset had then.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(Name.self, forKey: .name)
        noiseSize = try c.decode(Int.self, forKey: .noiseSize)
        generator = try c.decode(GeneratorArchitecture.self, forKey: .generator)
        learner = try c.decode(LearnerArchitecture.self, forKey: .learner)
        widthRanges = try c.decode(WidthRanges.self, forKey: .widthRanges)
        steps = try c.decode(Int.self, forKey: .steps)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        perStepOptimizer = try c.decode(Bool.self, forKey: .perStepOptimizer)
        initialInnerLearningRate = try c.decode(Double.self, forKey: .initialInnerLearningRate)
        initialInnerMomentum = try c.decode(Double.self, forKey: .initialInnerMomentum)
        outerLearningRate = try c.decode(Double.self, forKey: .outerLearningRate)
        outerIterations = try c.decode(Int.self, forKey: .outerIterations)
        rotatingLabels = try c.decodeIfPresent(Bool.self, forKey: .rotatingLabels) ?? false
        learnedSoftLabels = try c.decodeIfPresent(Bool.self, forKey: .learnedSoftLabels) ?? false
        intermediateLosses = try c.decodeIfPresent(Bool.self, forKey: .intermediateLosses) ?? false
        innerGradientClip = try c.decodeIfPresent(Double.self, forKey: .innerGradientClip)
        memoryMode = try c.decodeIfPresent(MemoryMode.self, forKey: .memoryMode) ?? (name == .cpu ? .fullUnroll : .stepwise)
        recordedStepsFraction = try c.decodeIfPresent(Double.self, forKey: .recordedStepsFraction) ?? (name == .paper ? 0.5 : 0)
    }
}

/// Learner layer widths: two conv layers and the hidden FC layer.
public struct LearnerWidths: Codable, Sendable, Equatable, CustomStringConvertible {
    public var conv1: Int, conv2: Int, fc: Int

    public init(conv1: Int, conv2: Int, fc: Int) {
        self.conv1 = conv1; self.conv2 = conv2; self.fc = fc
    }

    public var description: String { "\(conv1),\(conv2),\(fc)" }

    /// Parses "c1,c2,f" (the `--widths` flag).
    public init?(parsing text: String) {
        let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 3, let a = parts[0], let b = parts[1], let c = parts[2], a > 0, b > 0, c > 0 else { return nil }
        self.init(conv1: a, conv2: b, fc: c)
    }
}

/// Half-open ranges fresh learners draw their widths from.
public struct WidthRanges: Codable, Sendable, Equatable {
    public var conv1: Range<Int>, conv2: Range<Int>, fc: Range<Int>

    public func sample(using rng: inout SeededGenerator) -> LearnerWidths {
        func draw(_ range: Range<Int>) -> Int { range.lowerBound + rng.nextIndex(below: range.count) }
        return LearnerWidths(conv1: draw(conv1), conv2: draw(conv2), fc: draw(fc))
    }

    /// Ranges of one value: every learner gets exactly `widths`.
    public static func fixed(_ widths: LearnerWidths) -> WidthRanges {
        WidthRanges(conv1: widths.conv1..<widths.conv1 + 1, conv2: widths.conv2..<widths.conv2 + 1, fc: widths.fc..<widths.fc + 1)
    }
}

/// How the inner loop's noise and labels are chosen (docs/gtn.md §5).
public enum CurriculumKind: String, Codable, Sendable, CaseIterable {
    /// Learned z[T, B, noise]; step t uses z[t] and the labels of `Preset.rotatingLabels`.
    case full
    /// Learned z[T, B, noise]; each outer iteration visits the z[k] in a random order.
    case shuffledBatch = "shuffled-batch"
    /// Each step draws B vectors (with their labels) from the learned pool of all T·B.
    case allShuffled = "all-shuffled"
    /// Fresh Gaussian noise and uniformly random labels every step; only the generator learns.
    case none

    public var isLearned: Bool { self != .none }
}
