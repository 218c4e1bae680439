/// Broadcasting arithmetic: the four binary primitives, broadcasting and its adjoint (summing
/// back to a shape). Each VJP reduces the output gradient to the input's shape.

extension Tensor {
    private static func binary<F: BinaryFunction>(_ f: F.Type, _ op: String, _ a: Tensor, _ b: Tensor) -> (Tensor, [Int]) {
        let shape = checked { () throws -> [Int] in
            guard a.dtype == b.dtype else {
                throw TensorError(op: op, "dtypes \(a.dtype) and \(b.dtype) differ (shapes \(describe(a.shape)), \(describe(b.shape)))")
            }
            return try ShapeRules.broadcast(a.shape, b.shape, op: op)
        }
        return profiled(op) {
            switch a.dtype {
            case .float32: return (ElementwiseKernels.binary(f, Float.self, a, b, shape: shape), shape)
            case .float64: return (ElementwiseKernels.binary(f, Double.self, a, b, shape: shape), shape)
            }
        }
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let (out, _) = binary(AddFunction.self, "add", a, b)
        return record("add", out, inputs: [a, b]) { g, ctx in
            [ctx.needsGradient[0] ? g.summed(toShape: a.shape) : nil,
             ctx.needsGradient[1] ? g.summed(toShape: b.shape) : nil]
        }
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let (out, _) = binary(SubtractFunction.self, "subtract", a, b)
        return record("subtract", out, inputs: [a, b]) { g, ctx in
            [ctx.needsGradient[0] ? g.summed(toShape: a.shape) : nil,
             ctx.needsGradient[1] ? (-g).summed(toShape: b.shape) : nil]
        }
    }

    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let (out, _) = binary(MultiplyFunction.self, "multiply", a, b)
        return record("multiply", out, inputs: [a, b]) { g, ctx in
            [ctx.needsGradient[0] ? (g * b).summed(toShape: a.shape) : nil,
             ctx.needsGradient[1] ? (g * a).summed(toShape: b.shape) : nil]
        }
    }

    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let (out, _) = binary(DivideFunction.self, "divide", a, b)
        return record("divide", out, inputs: [a, b]) { g, ctx in
            let ga = g / b
            return [ctx.needsGradient[0] ? ga.summed(toShape: a.shape) : nil,
                    ctx.needsGradient[1] ? (-(ga * a) / b).summed(toShape: b.shape) : nil]
        }
    }

    public static prefix func - (x: Tensor) -> Tensor { x * -1 }

    /// `self += other` into this tensor's own storage, for a buffer nothing else can see (the
    /// backward pass's gradient sums); not recorded, like any in-place update.
    func accumulateInPlace(_ other: Tensor) {
        precondition(shape == other.shape && dtype == other.dtype && node == nil,
                     "accumulateInPlace: \(describe(shape)) += \(describe(other.shape))")
        profiled("add") {
            switch dtype {
            case .float32: ElementwiseKernels.addInPlace(storage.pointer(as: Float.self), UnsafePointer(other.storage.pointer(as: Float.self)), count: scalarCount)
            case .float64: ElementwiseKernels.addInPlace(storage.pointer(as: Double.self), UnsafePointer(other.storage.pointer(as: Double.self)), count: scalarCount)
            }
        }
    }

    public static func + (a: Tensor, b: Double) -> Tensor { a + Tensor(b, dtype: a.dtype) }
    public static func - (a: Tensor, b: Double) -> Tensor { a - Tensor(b, dtype: a.dtype) }
    public static func * (a: Tensor, b: Double) -> Tensor { a * Tensor(b, dtype: a.dtype) }
    public static func / (a: Tensor, b: Double) -> Tensor { a * Tensor(1 / b, dtype: a.dtype) }
    public static func + (a: Double, b: Tensor) -> Tensor { Tensor(a, dtype: b.dtype) + b }
    public static func - (a: Double, b: Tensor) -> Tensor { Tensor(a, dtype: b.dtype) - b }
    public static func * (a: Double, b: Tensor) -> Tensor { Tensor(a, dtype: b.dtype) * b }
    public static func / (a: Double, b: Tensor) -> Tensor { Tensor(a, dtype: b.dtype) / b }

    /// The values repeated along broadcast dimensions to `shape` (NumPy's `broadcast_to`).
    public func broadcast(to target: [Int]) -> Tensor {
        check {
            let s = try ShapeRules.broadcast(shape, target, op: "broadcast(to:)")
            guard s == target else {
                throw TensorError(op: "broadcast(to:)", "shape \(describe(shape)) cannot be broadcast to \(describe(target))")
            }
        }
        if target == shape { return self }
        let zero = Tensor.zeros([], dtype: dtype)
        let out = profiled("broadcast") {
            switch dtype {
            case .float32: return ElementwiseKernels.binary(AddFunction.self, Float.self, self, zero, shape: target)
            case .float64: return ElementwiseKernels.binary(AddFunction.self, Double.self, self, zero, shape: target)
            }
        }
        let source = shape
        return record("broadcast", out, inputs: [self]) { g, _ in [g.summed(toShape: source)] }
    }

    /// The adjoint of broadcasting: sums over the dimensions along which `target` was broadcast.
    public func summed(toShape target: [Int]) -> Tensor {
        if target == shape { return self }
        check {
            let s = try ShapeRules.broadcast(target, shape, op: "summed(toShape:)")
            guard s == shape else {
                throw TensorError(op: "summed(toShape:)", "shape \(describe(shape)) cannot be summed to \(describe(target))")
            }
        }
        let keep = Array(repeating: 1, count: rank - target.count) + target
        let out = profiled("sum") {
            switch dtype {
            case .float32: return ElementwiseKernels.sum(self, Float.self, to: keep)
            case .float64: return ElementwiseKernels.sum(self, Double.self, to: keep)
            }
        }
        let result = Tensor(shape: target, storage: out.storage)
        let source = shape
        return record("sum", result, inputs: [self]) { g, _ in [g.broadcast(to: source)] }
    }
}
