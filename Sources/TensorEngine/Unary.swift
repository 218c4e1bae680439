/// Elementwise primitives. Each derivative is written with differentiable ops, so it can be
/// differentiated again.

/// Applies a scalar function elementwise, dispatching on the dtype, under the profiler.
private func elementwise(_ op: String, _ x: Tensor, _ f32: (Float) -> Float, _ f64: (Double) -> Double) -> Tensor {
    profiled(op) {
        switch x.dtype {
        case .float32: return ElementwiseKernels.map(x, Float.self, f32)
        case .float64: return ElementwiseKernels.map(x, Double.self, f64)
        }
    }
}

public func exp(_ x: Tensor) -> Tensor {
    let out = elementwise("exp", x, { Float.exp($0) }, { Double.exp($0) })
    return record("exp", out, inputs: [x], savingOutput: true) { g, ctx in [g * ctx.output] }
}

public func log(_ x: Tensor) -> Tensor {
    let out = elementwise("log", x, { Float.log($0) }, { Double.log($0) })
    return record("log", out, inputs: [x]) { g, _ in [g / x] }
}

public func tanh(_ x: Tensor) -> Tensor {
    let out = elementwise("tanh", x, { Float.tanh($0) }, { Double.tanh($0) })
    return record("tanh", out, inputs: [x], savingOutput: true) { g, ctx in
        [g * (1 - ctx.output * ctx.output)]
    }
}

public func sqrt(_ x: Tensor) -> Tensor {
    let out = elementwise("sqrt", x, { Float.sqrt($0) }, { Double.sqrt($0) })
    return record("sqrt", out, inputs: [x], savingOutput: true) { g, ctx in [g * 0.5 / ctx.output] }
}

/// `x` for x > 0, `slope · x` otherwise. Its derivative is a constant mask (zero curvature
/// almost everywhere), so the VJP is a product with a non-differentiable tensor.
public func leakyReLU(_ x: Tensor, slope: Double = 0.1) -> Tensor {
    let s = Float(slope)
    let out = elementwise("leakyReLU", x, { $0 > 0 ? $0 : $0 * s }, { $0 > 0 ? $0 : $0 * slope })
    return record("leakyReLU", out, inputs: [x]) { g, _ in [scaledBySign(g, of: x, negativeScale: slope)] }
}

/// g where x > 0 and `negativeScale · g` elsewhere: leaky ReLU's VJP in one pass. Linear in g,
/// so its own VJP is itself; the mask is constant in x (zero curvature almost everywhere).
func scaledBySign(_ g: Tensor, of x: Tensor, negativeScale: Double) -> Tensor {
    let out: Tensor = profiled("leakyReLUBackward") {
        switch g.dtype {
        case .float32:
            let s = Float(negativeScale)
            return ElementwiseKernels.map2(g, x, Float.self) { $1 > 0 ? $0 : $0 * s }
        case .float64:
            return ElementwiseKernels.map2(g, x, Double.self) { $1 > 0 ? $0 : $0 * negativeScale }
        }
    }
    return record("leakyReLUBackward", out, inputs: [g]) { gg, _ in [scaledBySign(gg, of: x, negativeScale: negativeScale)] }
}

/// x².
public func square(_ x: Tensor) -> Tensor { x * x }
