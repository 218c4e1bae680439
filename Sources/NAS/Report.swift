import Foundation
import GTN

/// The results of a search: the proxies' rank correlations with the ground truth, their costs,
/// the chosen candidate and (after `final`) its test accuracy. Encoded with snake_case keys.
public struct NASReport: Codable, Sendable {
    public var strategy: SearchStrategy
    public var candidates: Int
    public var seed: UInt64
    public var teacher: String
    public var teacherIteration: Int
    public var gtnSteps: Int
    public var realProxySteps: [Int]
    public var groundTruthEpochs: Int
    public var shards: Int

    public var spearmanGtn: Double?
    public var spearmanReal32: Double?
    public var spearmanReal128: Double?
    /// 95% percentile-bootstrap intervals of the Spearman ρ over candidates, [low, high].
    public var spearmanGtnInterval: [Double]?
    public var spearmanReal32Interval: [Double]?
    public var spearmanReal128Interval: [Double]?
    public var kendallGtn: Double?
    public var kendallReal32: Double?
    public var kendallReal128: Double?

    /// Mean seconds per candidate (one core each).
    public var proxySecondsGtn: Double
    public var proxySecondsReal32: Double?
    public var proxySecondsReal128: Double?
    public var groundTruthSeconds: Double?
    /// One-off: generating the teacher's curriculum, shared by every candidate of a process.
    public var generationSeconds: Double
    /// The slowest shard's wall time.
    public var wallSeconds: Double

    /// Ground-truth ranks (1 = best) of each proxy's five best candidates.
    public var top5GroundTruthRanksGtn: [Int]?
    public var top5GroundTruthRanksReal32: [Int]?
    public var top5GroundTruthRanksReal128: [Int]?

    /// The candidate with the best validation ground truth (the GTN proxy's best when no ground
    /// truth is measured), and what chose it.
    public var bestCandidate: String
    public var bestSelectedBy: String
    public var bestValidationAccuracy: Double
    /// The GTN proxy's own choice, and where it stands by the ground truth.
    public var bestByGtn: String
    public var bestByGtnGroundTruthRank: Int?

    /// Set by the final training of `bestCandidate`.
    public var bestTestAccuracy: Double?
    public var finalTraining: FinalTraining?

    public var rows: [CandidateResult]

    public var fingerprint: RunFingerprint

    init(fingerprint: RunFingerprint, rows: [CandidateResult], shards: Int, generationSeconds: Double, wallSeconds: Double) {
        let c = fingerprint.configuration
        self.fingerprint = fingerprint
        self.rows = rows
        self.shards = shards
        self.generationSeconds = generationSeconds
        self.wallSeconds = wallSeconds
        strategy = c.strategy
        candidates = rows.count
        seed = c.seed
        teacher = fingerprint.teacher
        teacherIteration = fingerprint.teacherIteration
        gtnSteps = fingerprint.teacherSteps
        realProxySteps = [c.training.shortProxySteps, c.training.longProxySteps]
        groundTruthEpochs = c.training.groundTruthEpochs

        func mean(_ values: [Double?]) -> Double? {
            let present = values.compactMap { $0 }
            return present.count == values.count && !present.isEmpty ? present.reduce(0, +) / Double(present.count) : nil
        }
        proxySecondsGtn = mean(rows.map(\.gtnSeconds)) ?? 0
        proxySecondsReal32 = mean(rows.map(\.real32Seconds))
        proxySecondsReal128 = mean(rows.map(\.real128Seconds))
        groundTruthSeconds = mean(rows.map(\.groundTruthSeconds))

        let gtn = rows.map(\.gtnAccuracy)
        let gtnBest = rows.indices.max { gtn[$0] != gtn[$1] ? gtn[$0] < gtn[$1] : $0 > $1 } ?? 0
        bestByGtn = rows.isEmpty ? "" : rows[gtnBest].candidate
        let truth = rows.compactMap(\.groundTruthAccuracy)
        if !rows.isEmpty && truth.count == rows.count {
            let real32 = rows.compactMap(\.real32Accuracy), real128 = rows.compactMap(\.real128Accuracy)
            spearmanGtn = RankCorrelation.spearman(gtn, truth)
            spearmanReal32 = RankCorrelation.spearman(real32, truth)
            spearmanReal128 = RankCorrelation.spearman(real128, truth)
            let interval = { (proxy: [Double]) in RankCorrelation.spearmanBootstrapInterval(proxy, truth).map { [$0.lowerBound, $0.upperBound] } }
            spearmanGtnInterval = interval(gtn)
            spearmanReal32Interval = interval(real32)
            spearmanReal128Interval = interval(real128)
            kendallGtn = RankCorrelation.kendallTauB(gtn, truth)
            kendallReal32 = RankCorrelation.kendallTauB(real32, truth)
            kendallReal128 = RankCorrelation.kendallTauB(real128, truth)
            top5GroundTruthRanksGtn = RankCorrelation.groundTruthRanks(ofTop: 5, proxy: gtn, groundTruth: truth)
            top5GroundTruthRanksReal32 = RankCorrelation.groundTruthRanks(ofTop: 5, proxy: real32, groundTruth: truth)
            top5GroundTruthRanksReal128 = RankCorrelation.groundTruthRanks(ofTop: 5, proxy: real128, groundTruth: truth)
            bestByGtnGroundTruthRank = RankCorrelation.groundTruthRanks(ofTop: 1, proxy: gtn, groundTruth: truth).first
            let best = truth.indices.max { truth[$0] != truth[$1] ? truth[$0] < truth[$1] : $0 > $1 } ?? 0
            bestCandidate = rows[best].candidate
            bestSelectedBy = "ground_truth"
            bestValidationAccuracy = truth[best]
        } else {
            bestCandidate = bestByGtn
            bestSelectedBy = "gtn_proxy"
            bestValidationAccuracy = rows.isEmpty ? 0 : gtn[gtnBest]
        }
    }

    /// Records the final training of the best candidate.
    public mutating func record(_ final: FinalTraining) {
        finalTraining = final
        bestTestAccuracy = final.testAccuracy
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
