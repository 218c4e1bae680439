/// Elementwise primitives. Each derivative is written with differentiable ops, so it can be
/// differentiated again.

/// Applies a scalar function elementwise, dispatching on the dtype, under the profiler.
private func elementwise<F: ElementFunction>(_ op: String, _ x: Tensor, _ f: F) -> Tensor {
    profiled(op) {
        switch x.dtype {
        case .float32: return ElementwiseKernels.map(x, Float.self, f)
        case .float64: return ElementwiseKernels.map(x, Double.self, f)
        }
    }
}

private struct Exp: ElementFunction { func callAsFunction<T: TensorScalar>(_ x: T) -> T { T.exp(x) } }
private struct Log: ElementFunction { func callAsFunction<T: TensorScalar>(_ x: T) -> T { T.log(x) } }
private struct Tanh: ElementFunction { func callAsFunction<T: TensorScalar>(_ x: T) -> T { T.tanh(x) } }
private struct SquareRoot: ElementFunction { func callAsFunction<T: TensorScalar>(_ x: T) -> T { T.sqrt(x) } }

private struct LeakyReLU: ElementFunction {
    let slope: Double
    func callAsFunction<T: TensorScalar>(_ x: T) -> T { x > 0 ? x : x * T(slope) }
}

/// g where x > 0, `negativeScale · g` elsewhere.
private struct ScaledBySign: ElementPairFunction {
    let negativeScale: Double
    func callAsFunction<T: TensorScalar>(_ g: T, _ x: T) -> T { x > 0 ? g : g * T(negativeScale) }
}

public func exp(_ x: Tensor) -> Tensor {
    let out = elementwise("exp", x, Exp())
    return record("exp", out, inputs: [x], savingOutput: true) { g, ctx in [g * ctx.output] }
}

public func log(_ x: Tensor) -> Tensor {
    let out = elementwise("log", x, Log())
    return record("log", out, inputs: [x]) { g, _ in [g / x] }
}

public func tanh(_ x: Tensor) -> Tensor {
    let out = elementwise("tanh", x, Tanh())
    return record("tanh", out, inputs: [x], savingOutput: true) { g, ctx in
        [g * (1 - ctx.output * ctx.output)]
    }
}

public func sqrt(_ x: Tensor) -> Tensor {
    let out = elementwise("sqrt", x, SquareRoot())
    return record("sqrt", out, inputs: [x], savingOutput: true) { g, ctx in [g * 0.5 / ctx.output] }
}

/// `x` for x > 0, `slope · x` otherwise. Its derivative is a constant mask (zero curvature
/// almost everywhere), so the VJP is a product with a non-differentiable tensor.
public func leakyReLU(_ x: Tensor, slope: Double = 0.1) -> Tensor {
    let out = elementwise("leakyReLU", x, LeakyReLU(slope: slope))
    return record("leakyReLU", out, inputs: [x]) { g, _ in [scaledBySign(g, of: x, negativeScale: slope)] }
}

/// g where x > 0 and `negativeScale · g` elsewhere: leaky ReLU's VJP in one pass. Linear in g,
/// so its own VJP is itself; the mask is constant in x (zero curvature almost everywhere).
func scaledBySign(_ g: Tensor, of x: Tensor, negativeScale: Double) -> Tensor {
    let out: Tensor = profiled("leakyReLUBackward") {
        switch g.dtype {
        case .float32: return ElementwiseKernels.map2(g, x, Float.self, ScaledBySign(negativeScale: negativeScale))
        case .float64: return ElementwiseKernels.map2(g, x, Double.self, ScaledBySign(negativeScale: negativeScale))
        }
    }
    return record("leakyReLUBackward", out, inputs: [g]) { gg, _ in [scaledBySign(gg, of: x, negativeScale: negativeScale)] }
}

/// x².
public func square(_ x: Tensor) -> Tensor { x * x }
