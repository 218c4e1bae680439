import TensorEngine

/// An ordered, named collection of parameter tensors. Models are functions of a `Parameters`
/// value, so "the learner after step t" is just another `Parameters` with the same names.
public struct Parameters: Sendable {
    public private(set) var names: [String] = []
    public var tensors: [Tensor] = []
    private var positions: [String: Int] = [:]

    public init() {}

    public init(names: [String], tensors: [Tensor]) {
        precondition(names.count == tensors.count, "Parameters: \(names.count) names for \(tensors.count) tensors")
        for (name, tensor) in zip(names, tensors) { append(name, tensor) }
    }

    public var count: Int { names.count }

    public subscript(name: String) -> Tensor {
        get {
            guard let i = positions[name] else { fatalError("Parameters: no parameter named '\(name)' (have \(names))") }
            return tensors[i]
        }
        set {
            if let i = positions[name] { tensors[i] = newValue } else { append(name, newValue) }
        }
    }

    public func contains(_ name: String) -> Bool { positions[name] != nil }

    public mutating func append(_ name: String, _ tensor: Tensor) {
        precondition(positions[name] == nil, "Parameters: duplicate name '\(name)'")
        positions[name] = names.count
        names.append(name)
        tensors.append(tensor)
    }

    /// The same names with transformed tensors.
    public func map(_ transform: (Tensor) throws -> Tensor) rethrows -> Parameters {
        var copy = self
        copy.tensors = try tensors.map(transform)
        return copy
    }

    /// The same names with `transform` applied to matching pairs of tensors.
    public func zipMap(_ other: Parameters, _ transform: (Tensor, Tensor) throws -> Tensor) rethrows -> Parameters {
        precondition(other.names == names, "Parameters.zipMap: names differ")
        var copy = self
        copy.tensors = try zip(tensors, other.tensors).map(transform)
        return copy
    }

    /// Every tensor as a new leaf of differentiation.
    public func requiringGradient() -> Parameters { map { $0.requiringGradient() } }

    public func detached() -> Parameters { map { $0.detached() } }

    /// Total number of scalars.
    public var scalarCount: Int { tensors.reduce(0) { $0 + $1.scalarCount } }
}
