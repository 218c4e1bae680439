import FileFormats
import Foundation
import TensorEngine

/// `Tensor`s in safetensors files. The format module knows nothing of tensors: these helpers
/// convert at the boundary, keeping float tensors and integer tensors (labels) apart as the
/// callers do.
extension SafeTensorsEntry {
    public init(name: String, tensor: Tensor) {
        let values: Values = switch tensor.dtype {
        case .float32: .float32(tensor.withUnsafeBufferPointer(as: Float.self) { Array($0) })
        case .float64: .float64(tensor.withUnsafeBufferPointer(as: Double.self) { Array($0) })
        }
        self.init(name: name, shape: tensor.shape, values: values)
    }

    /// The values as a tensor; nil for integer values, which `Tensor` cannot hold.
    public var tensor: Tensor? {
        switch values {
        case .float32(let values): Tensor(shape: shape, scalars: values)
        case .float64(let values): Tensor(shape: shape, doubles: values)
        case .int32: nil
        }
    }
}

extension SafeTensorsFile {
    /// The `F32`/`F64` tensors, in the order their bytes appear in the file.
    public var tensors: [(name: String, tensor: Tensor)] {
        entries.compactMap { entry in entry.tensor.map { (entry.name, $0) } }
    }

    /// The float tensor called `name`, if there is one.
    public func tensor(named name: String) -> Tensor? {
        entry(named: name)?.tensor
    }
}

extension SafeTensors {
    /// Writes the float tensors, then the integer tensors, atomically.
    public static func write(_ tensors: [(name: String, tensor: Tensor)],
                             integerTensors: [(name: String, shape: [Int], values: [Int32])] = [],
                             metadata: [String: String] = [:],
                             to url: URL) throws {
        try write(entries: entries(tensors, integerTensors), metadata: metadata, to: url)
    }

    /// The bytes `write` would write; `source` names the destination in errors.
    public static func encode(_ tensors: [(name: String, tensor: Tensor)],
                              integerTensors: [(name: String, shape: [Int], values: [Int32])] = [],
                              metadata: [String: String] = [:],
                              source: String = "<memory>") throws -> Data {
        try encode(entries: entries(tensors, integerTensors), metadata: metadata, source: source)
    }

    private static func entries(_ tensors: [(name: String, tensor: Tensor)],
                                _ integerTensors: [(name: String, shape: [Int], values: [Int32])]) -> [SafeTensorsEntry] {
        tensors.map { SafeTensorsEntry(name: $0.name, tensor: $0.tensor) }
            + integerTensors.map { SafeTensorsEntry(name: $0.name, shape: $0.shape, values: .int32($0.values)) }
    }
}
