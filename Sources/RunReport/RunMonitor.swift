import FileFormats
import Foundation
import GTN

/// Follows a training run's events and keeps what a person watches up to date: TensorBoard
/// event files in `RUN/tensorboard/` (scalars every iteration, the curriculum grid at each
/// evaluation) and `RUN/report.html`, rewritten after each evaluation.
///
/// ```swift
/// let monitor = try RunMonitor(run: run)
/// try run.run { event in try? monitor.record(event) }
/// ```
public final class RunMonitor {
    public let run: TrainingRun
    public let events: TensorBoardEventWriter?
    public let writesReport: Bool

    public static let tensorBoardDirectoryName = "tensorboard"

    /// TensorBoard tags, one per `metrics.jsonl` field they plot.
    public enum Tag {
        public static let metaLoss = "train/meta_loss"
        public static let finalLoss = "train/final_loss"
        public static let gradientNorm = "train/gradient_norm"
        public static let outerLearningRate = "train/outer_learning_rate"
        /// Test-set accuracy (the tags predate `--eval-split`, so resumed runs keep one curve).
        public static let accuracyMean = "eval/gtn_accuracy_mean"
        public static let accuracyStd = "eval/gtn_accuracy_std"
        public static let validationAccuracyMean = "eval/gtn_validation_accuracy_mean"
        public static let validationAccuracyStd = "eval/gtn_validation_accuracy_std"
        public static let curriculum = "eval/curriculum"
    }

    public init(run: TrainingRun, tensorBoard: Bool = true, report: Bool = true) throws {
        self.run = run
        events = tensorBoard ? try TensorBoardEventWriter(directory: run.directory.appendingPathComponent(Self.tensorBoardDirectoryName)) : nil
        writesReport = report
    }

    public var reportURL: URL { run.directory.appendingPathComponent(RunReport.fileName) }

    public func record(_ event: TrainingRun.Event) throws {
        switch event {
        case .iterationFinished(let m):
            try events?.addScalar(Tag.metaLoss, m.metaLoss, step: m.iteration)
            if let finalLoss = m.finalLoss { try events?.addScalar(Tag.finalLoss, finalLoss, step: m.iteration) }
            try events?.addScalar(Tag.gradientNorm, m.gradientNorm, step: m.iteration)
            try events?.addScalar(Tag.outerLearningRate, m.outerLearningRate, step: m.iteration)
        case .evaluationFinished(let record, _, _):
            let (mean, std) = record.scoredOn == .test ? (Tag.accuracyMean, Tag.accuracyStd)
                : (Tag.validationAccuracyMean, Tag.validationAccuracyStd)
            try events?.addScalar(mean, record.gtnAccuracyMean, step: record.iteration)
            try events?.addScalar(std, record.gtnAccuracyStd, step: record.iteration)
            // One rendering of the current teacher's curriculum serves both views.
            let grid = CurriculumGrid.render(run.state.teacher)
            try events?.addImage(Tag.curriculum, png: grid.pngData(), width: grid.size.width, height: grid.size.height,
                                 step: record.iteration)
            if writesReport { try writeReport(grid: grid) }
        case .evaluationProgress, .checkpointWritten, .snapshotWritten, .stopped:
            break
        }
    }

    /// Rewrites `report.html` from the run's files and its current teacher (which may be newer
    /// than the last checkpoint).
    public func writeReport(grid: ImageGrid? = nil) throws {
        var report = RunReport(history: try RunHistory(directory: run.directory), teacher: run.state.teacher)
        report.curriculumGrid = grid
        try report.write(to: reportURL)
    }
}
