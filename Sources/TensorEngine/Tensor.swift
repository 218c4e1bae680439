import Foundation

/// An n-dimensional, contiguous, row-major array of `Float` or `Double` with value semantics.
///
/// Tensors do not change once an op has handed them out: every op returns a new tensor, sharing
/// storage where it can (reshape); `Storage` says which buffers are written in place, and when. A tensor that takes part in differentiation carries a node of the graph that
/// produced it; see `gradients(of:wrt:seed:createGraph:retainGraph:)`.
public struct Tensor: @unchecked Sendable {
    public let shape: [Int]
    let storage: Storage
    let node: GradNode?

    init(shape: [Int], storage: Storage, node: GradNode? = nil) {
        self.shape = shape
        self.storage = storage
        self.node = node
    }

    public var dtype: DType { storage.dtype }
    public var rank: Int { shape.count }
    public var scalarCount: Int { storage.count }

    /// Whether gradients can flow to this tensor (it is a leaf marked with `requiringGradient()`
    /// or the result of an op on one).
    public var requiresGradient: Bool { node != nil }

    /// The same values, cut from the graph: gradients stop here.
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

    /// The same values as a new leaf of differentiation.
    public func requiringGradient() -> Tensor {
        Tensor(shape: shape, storage: storage, node: GradNode(leafShape: shape))
    }
}

// MARK: - Creation

extension Tensor {
    public init(shape: [Int], scalars: [Float]) {
        self.init(shape: shape, copying: scalars)
    }

    public init(shape: [Int], doubles: [Double]) {
        self.init(shape: shape, copying: doubles)
    }

    init<T: TensorScalar>(shape: [Int], copying values: [T]) {
        let n = ShapeRules.count(shape)
        precondition(values.count == n,
                     "Tensor(shape:scalars:): \(values.count) values do not fill shape \(describe(shape)) (\(n) elements)")
        let storage = Storage(count: n, dtype: T.dtype)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { storage.pointer(as: T.self).update(from: base, count: n) }
        }
        self.init(shape: shape, storage: storage)
    }

    /// A rank-0 tensor.
    public init(_ value: Double, dtype: DType = .float32) {
        self.init(filling: value, shape: [], dtype: dtype)
    }

    public init(filling value: Double, shape: [Int], dtype: DType = .float32) {
        let storage = Storage(count: ShapeRules.count(shape), dtype: dtype)
        switch dtype {
        case .float32: storage.buffer(as: Float.self).update(repeating: Float(value))
        case .float64: storage.buffer(as: Double.self).update(repeating: value)
        }
        self.init(shape: shape, storage: storage)
    }

    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        Tensor(shape: shape, storage: Storage(count: ShapeRules.count(shape), dtype: dtype, zeroed: true))
    }

    public static func ones(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        Tensor(filling: 1, shape: shape, dtype: dtype)
    }

    /// Creates a tensor by filling fresh storage of the given type; used by kernels.
    static func make<T: TensorScalar>(_ shape: [Int], _: T.Type, zeroed: Bool = false,
                                      _ fill: (UnsafeMutablePointer<T>) -> Void) -> Tensor {
        let storage = Storage(count: ShapeRules.count(shape), dtype: T.dtype, zeroed: zeroed)
        fill(storage.pointer(as: T.self))
        return Tensor(shape: shape, storage: storage)
    }
}

// MARK: - Reading values

extension Tensor {
    /// The values as `Float` (converted if the tensor holds `Double`).
    public var scalars: [Float] {
        switch dtype {
        case .float32: return Array(storage.buffer(as: Float.self))
        case .float64: return storage.buffer(as: Double.self).map(Float.init)
        }
    }

    /// The values as `Double` (converted if the tensor holds `Float`).
    public var doubles: [Double] {
        switch dtype {
        case .float32: return storage.buffer(as: Float.self).map(Double.init)
        case .float64: return Array(storage.buffer(as: Double.self))
        }
    }

    /// The single value of a one-element tensor.
    public var item: Double {
        precondition(scalarCount == 1, "item: tensor of shape \(describe(shape)) has \(scalarCount) elements, not 1")
        switch dtype {
        case .float32: return Double(storage.pointer(as: Float.self)[0])
        case .float64: return storage.pointer(as: Double.self)[0]
        }
    }

    /// Read-only access to the raw values without copying.
    public func withUnsafeBufferPointer<T: TensorScalar, R>(as _: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(T.dtype == dtype, "withUnsafeBufferPointer: tensor holds \(dtype), not \(T.dtype)")
        return try body(UnsafeBufferPointer(storage.buffer(as: T.self)))
    }

    /// Creates a tensor by writing its values directly into fresh storage.
    public init<T: TensorScalar>(shape: [Int], _: T.Type, initializingWith body: (UnsafeMutableBufferPointer<T>) throws -> Void) rethrows {
        let storage = Storage(count: ShapeRules.count(shape), dtype: T.dtype)
        try body(storage.buffer(as: T.self))
        self.init(shape: shape, storage: storage)
    }

    /// A copy with another element type (differentiable).
    public func converted(to target: DType) -> Tensor {
        if target == dtype { return self }
        let out: Tensor
        switch target {
        case .float64:
            out = Tensor.make(shape, Double.self) { dst in
                let src = storage.pointer(as: Float.self)
                for i in 0..<scalarCount { dst[i] = Double(src[i]) }
            }
        case .float32:
            out = Tensor.make(shape, Float.self) { dst in
                let src = storage.pointer(as: Double.self)
                for i in 0..<scalarCount { dst[i] = Float(src[i]) }
            }
        }
        let source = dtype
        return record("convert", out, inputs: [self]) { g, _ in [g.converted(to: source)] }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let values = doubles
        let shown = values.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        let more = values.count > 8 ? ", …" : ""
        return "Tensor<\(dtype)>\(describe(shape))[\(shown)\(more)]"
    }
}
