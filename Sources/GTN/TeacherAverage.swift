import FileFormats
import Foundation
import NeuralNet
import TensorEngine

public struct TeacherAverageError: Error, CustomStringConvertible, LocalizedError {
    public let description: String
    public var errorDescription: String? { description }
}

/// Teacher weight averaging: the mean of the teacher parameters of several snapshots of a run,
/// as stochastic weight averaging does for networks and checkpoint averaging for translation
/// models. Snapshots taken a little apart late in a run sit around a good teacher; in the `paper`
/// runs of docs/results.md their mean taught a little better than the last of them.
public enum TeacherAverage {
    /// The element-wise mean of `teachers`' parameters, summed in Float64 and stored in the first
    /// teacher's dtype. Every learned tensor is averaged as it is stored: the generator's weights,
    /// the curriculum, soft-label logits, and the logarithms of the inner learning rates and
    /// momenta (so those average geometrically). The teachers must share preset and curriculum.
    public static func mean(_ teachers: [Teacher]) throws -> Teacher {
        guard let first = teachers.first else { throw TeacherAverageError(description: "nothing to average: no teachers given") }
        for (i, teacher) in teachers.enumerated().dropFirst() {
            guard teacher.preset == first.preset, teacher.curriculum == first.curriculum else {
                throw TeacherAverageError(description: "teacher \(i + 1) has preset \(teacher.preset.name.rawValue) and curriculum \(teacher.curriculum.rawValue) with other settings than teacher 1 (\(first.preset.name.rawValue), \(first.curriculum.rawValue)); only teachers of one configuration can be averaged")
            }
        }
        let n = Double(teachers.count)
        var parameters = first.parameters
        for (index, name) in first.parameters.names.enumerated() {
            let tensor = first.parameters.tensors[index]
            var sum = [Double](repeating: 0, count: tensor.scalarCount)
            for teacher in teachers {
                for (j, x) in teacher.parameters[name].doubles.enumerated() { sum[j] += x }
            }
            parameters.tensors[index] = Tensor(shape: tensor.shape, doubles: sum.map { $0 / n }).converted(to: tensor.dtype)
        }
        return Teacher(preset: first.preset, curriculum: first.curriculum, parameters: parameters)
    }

    /// One averaged source: where it was read from and how many outer iterations it had done.
    public struct Source: Sendable, Equatable {
        public var directory: URL
        public var iteration: Int
    }

    /// Averages the checkpoints in `sources` (run directories, or the snapshots of
    /// `TrainingRun.Policy.snapshotEvery`) into a new checkpoint in `destination`. Its teacher is
    /// the mean; the rest (configuration, iteration, Adam's moments, counters) is the latest
    /// source's, so `gtn eval`, `gtn sample` and `gtn nas` read it as any run, and a resume would
    /// continue training from the average. `destination` must not hold a checkpoint yet.
    @discardableResult
    public static func write(averaging sources: [URL], to destination: URL) throws -> [Source] {
        guard !sources.isEmpty else { throw TeacherAverageError(description: "nothing to average: no checkpoints given") }
        if Checkpoint.exists(in: destination) {
            throw TeacherAverageError(description: "\(destination.path) already holds a checkpoint; choose another directory for the average")
        }
        let loaded = try sources.map { try Checkpoint.load(from: $0) }
        let teacher = try mean(loaded.map(\.state.teacher))
        // The latest source gives the rest of the state; on ties, the last given.
        let latest = loaded.indices.reduce(0) { loaded[$1].state.iteration >= loaded[$0].state.iteration ? $1 : $0 }
        var state = loaded[latest].state
        state.teacher = teacher
        try Checkpoint.save(state, configuration: loaded[latest].configuration, to: destination)
        return zip(sources, loaded).map { Source(directory: $0, iteration: $1.state.iteration) }
    }
}
