import FileFormats
import Foundation
import NeuralNet
import Support
import TensorEngine

public struct CheckpointError: Error, CustomStringConvertible {
    public let description: String
}

/// A meta-training checkpoint: one safetensors file with the teacher's parameters (generator,
/// curriculum, learned inner optimizer) and Adam's moments, its metadata holding the
/// configuration and the rest of the state as JSON. One file, written atomically, so a killed run
/// leaves either the previous checkpoint or the new one. `config.json` beside it is for people.
public enum Checkpoint {
    public static let fileName = "checkpoint.safetensors"
    public static let configurationFileName = "config.json"
    static let format = "gtn-checkpoint/1"

    struct Scalars: Codable {
        var iteration: Int
        var adamStep: Int
        var clippedCount: Int
        var skippedCount: Int
        var consecutiveFailures: Int
        /// Absent in checkpoints written before runs had time budgets.
        var elapsedSeconds: Double?
    }

    public static func url(in directory: URL) -> URL { directory.appendingPathComponent(fileName) }

    public static func exists(in directory: URL) -> Bool {
        FileManager.default.fileExists(atPath: url(in: directory).path)
    }

    /// Refuses to write a state holding non-finite values: a checkpoint is what a resume trusts,
    /// and the previous one stays in place.
    public static func save(_ state: TrainingState, configuration: TrainingConfiguration, to directory: URL) throws {
        let p = state.teacher.parameters
        for (group, names, tensors) in [("parameter", p.names, p.tensors), ("Adam first moment of", p.names, state.adam.firstMoments),
                                        ("Adam second moment of", p.names, state.adam.secondMoments)] {
            for (name, t) in zip(names, tensors) where !t.doubles.allSatisfy(\.isFinite) {
                throw CheckpointError(description: "\(url(in: directory).path): not written: the \(group) '\(name)' holds non-finite values (the previous checkpoint is kept)")
            }
        }
        try Directory.create(directory, role: "checkpoint directory")
        let (tensors, metadata) = try contents(state, configuration: configuration)
        try SafeTensors.write(tensors, metadata: metadata, to: url(in: directory))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try AtomicFile.write(try encoder.encode(configuration), to: directory.appendingPathComponent(configurationFileName))
    }

    /// Copies the checkpoint in `source` (both files, each atomically) to `destination`: how a run
    /// keeps a snapshot of the checkpoint it has just saved without checking and encoding the
    /// state a second time.
    public static func copy(from source: URL, to destination: URL) throws {
        try Directory.create(destination, role: "checkpoint directory")
        for name in [fileName, configurationFileName] {
            let file = source.appendingPathComponent(name)
            let data: Data
            do {
                data = try Data(contentsOf: file)
            } catch {
                throw CheckpointError(description: "\(file.path): cannot be read to copy it to \(destination.path): \(error.localizedDescription)")
            }
            try AtomicFile.write(data, to: destination.appendingPathComponent(name))
        }
    }

    /// A checkpoint's bytes, as `save` would write them (without its finiteness check): how rank 0
    /// hands its state to the other ranks.
    public static func encode(_ state: TrainingState, configuration: TrainingConfiguration) throws -> Data {
        let (tensors, metadata) = try contents(state, configuration: configuration)
        return try SafeTensors.encode(tensors, metadata: metadata)
    }

    private static func contents(_ state: TrainingState, configuration: TrainingConfiguration) throws
        -> (tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) {
        let p = state.teacher.parameters
        var tensors: [(name: String, tensor: Tensor)] = Array(zip(p.names, p.tensors))
        tensors += zip(p.names, state.adam.firstMoments).map { ("adam.m/" + $0, $1) }
        tensors += zip(p.names, state.adam.secondMoments).map { ("adam.v/" + $0, $1) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let scalars = Scalars(iteration: state.iteration, adamStep: state.adam.step,
                              clippedCount: state.clippedCount, skippedCount: state.skippedCount,
                              consecutiveFailures: state.consecutiveFailures, elapsedSeconds: state.elapsedSeconds)
        let configurationJSON = String(decoding: try encoder.encode(configuration), as: UTF8.self)
        let metadata = [
            "format": format,
            "configuration": configurationJSON,
            "state": String(decoding: try encoder.encode(scalars), as: UTF8.self),
        ]
        return (tensors, metadata)
    }

    public static func load(from directory: URL) throws -> (configuration: TrainingConfiguration, state: TrainingState) {
        let file = url(in: directory)
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw CheckpointError(description: "\(file.path): no checkpoint here (expected \(fileName) in \(directory.path))")
        }
        return try decode(try SafeTensors.read(from: file), source: file.path)
    }

    /// The configuration and state in a checkpoint's bytes (`encode`), validated as `load` does.
    public static func decode(_ data: Data, source: String) throws -> (configuration: TrainingConfiguration, state: TrainingState) {
        try decode(try SafeTensors.decode(data, source: source), source: source)
    }

    private static func decode(_ contents: SafeTensorsFile, source: String) throws -> (configuration: TrainingConfiguration, state: TrainingState) {
        func fail(_ what: String) -> CheckpointError { CheckpointError(description: "\(source): \(what)") }
        guard contents.metadata["format"] == format else {
            throw fail("not a GTN checkpoint (metadata format is \(contents.metadata["format"].map { "'\($0)'" } ?? "missing"), expected '\(format)')")
        }
        let decoder = JSONDecoder()
        let configuration: TrainingConfiguration
        let scalars: Scalars
        do {
            configuration = try decoder.decode(TrainingConfiguration.self, from: Data((contents.metadata["configuration"] ?? "").utf8))
            scalars = try decoder.decode(Scalars.self, from: Data((contents.metadata["state"] ?? "").utf8))
        } catch {
            throw fail("unreadable configuration or state in the metadata: \(error)")
        }
        do {
            try configuration.validate()
        } catch {
            throw fail("invalid configuration in the metadata: \(error)")
        }
        guard scalars.iteration >= 0, scalars.adamStep >= 0, scalars.clippedCount >= 0, scalars.skippedCount >= 0,
              scalars.consecutiveFailures >= 0, scalars.elapsedSeconds.map({ $0.isFinite && $0 >= 0 }) ?? true else {
            throw fail("invalid state in the metadata: iteration \(scalars.iteration), Adam step \(scalars.adamStep), clipped \(scalars.clippedCount), skipped \(scalars.skippedCount), failures \(scalars.consecutiveFailures), elapsed \(scalars.elapsedSeconds ?? 0) s (all must be ≥ 0 and finite)")
        }
        // The expected names and shapes come from a teacher built for the same configuration.
        var rng = SeededGenerator(seed: 0)
        let template = Teacher(preset: configuration.preset, curriculum: configuration.curriculum, using: &rng)
        func tensor(_ name: String, like expected: Tensor) throws -> Tensor {
            guard let t = contents.tensor(named: name) else { throw fail("missing tensor '\(name)'") }
            guard t.shape == expected.shape else {
                throw fail("tensor '\(name)' has shape \(t.shape), expected \(expected.shape) for preset \(configuration.preset.name.rawValue)")
            }
            guard t.dtype == .float32 else { throw fail("tensor '\(name)' is \(t.dtype), expected float32") }
            return t
        }
        let names = template.parameters.names
        let values = try zip(names, template.parameters.tensors).map { try tensor($0, like: $1) }
        let m = try zip(names, template.parameters.tensors).map { try tensor("adam.m/" + $0, like: $1) }
        let v = try zip(names, template.parameters.tensors).map { try tensor("adam.v/" + $0, like: $1) }
        let stored: [(String, Tensor)] = Array(zip(names, values)) + Array(zip(names.map { "adam.m/" + $0 }, m))
            + Array(zip(names.map { "adam.v/" + $0 }, v))
        for (name, t) in stored where !t.doubles.allSatisfy(\.isFinite) {
            throw fail("tensor '\(name)' holds non-finite values")
        }
        for (name, t) in zip(names, v) where t.doubles.contains(where: { $0 < 0 }) {
            throw fail("tensor 'adam.v/\(name)' holds negative values (a second moment cannot be negative)")
        }
        // A weight-normalized layer divides by each output row's norm: a zero row has no direction.
        for (name, t) in zip(names, values) where name.hasSuffix(".v") && t.rank >= 2 {
            let rowLength = t.scalarCount / t.shape[0], d = t.doubles
            if let row = (0..<t.shape[0]).first(where: { r in d[(r * rowLength)..<((r + 1) * rowLength)].allSatisfy { $0 == 0 } }) {
                throw fail("tensor '\(name)' has an all-zero row \(row): a weight-normalized direction must not be zero")
            }
        }
        let teacher = Teacher(preset: configuration.preset, curriculum: configuration.curriculum,
                              parameters: Parameters(names: names, tensors: values))
        let state = TrainingState(iteration: scalars.iteration, teacher: teacher,
                                  adam: Adam(step: scalars.adamStep, firstMoments: m, secondMoments: v),
                                  clippedCount: scalars.clippedCount, skippedCount: scalars.skippedCount,
                                  consecutiveFailures: scalars.consecutiveFailures, elapsedSeconds: scalars.elapsedSeconds ?? 0)
        return (configuration, state)
    }
}
