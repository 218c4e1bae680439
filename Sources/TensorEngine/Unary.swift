/// Elementwise primitives. Each derivative is written with differentiable ops, so it can be
/// differentiated again.

public func exp(_ x: Tensor) -> Tensor {
    let out: Tensor
    switch x.dtype {
    case .float32: out = ElementwiseKernels.map(x, Float.self) { Float.exp($0) }
    case .float64: out = ElementwiseKernels.map(x, Double.self) { Double.exp($0) }
    }
    return record("exp", out, inputs: [x], savingOutput: true) { g, ctx in [g * ctx.output] }
}

public func log(_ x: Tensor) -> Tensor {
    let out: Tensor
    switch x.dtype {
    case .float32: out = ElementwiseKernels.map(x, Float.self) { Float.log($0) }
    case .float64: out = ElementwiseKernels.map(x, Double.self) { Double.log($0) }
    }
    return record("log", out, inputs: [x]) { g, _ in [g / x] }
}

public func tanh(_ x: Tensor) -> Tensor {
    let out: Tensor
    switch x.dtype {
    case .float32: out = ElementwiseKernels.map(x, Float.self) { Float.tanh($0) }
    case .float64: out = ElementwiseKernels.map(x, Double.self) { Double.tanh($0) }
    }
    return record("tanh", out, inputs: [x], savingOutput: true) { g, ctx in
        [g * (1 - ctx.output * ctx.output)]
    }
}

public func sqrt(_ x: Tensor) -> Tensor {
    let out: Tensor
    switch x.dtype {
    case .float32: out = ElementwiseKernels.map(x, Float.self) { Float.sqrt($0) }
    case .float64: out = ElementwiseKernels.map(x, Double.self) { Double.sqrt($0) }
    }
    return record("sqrt", out, inputs: [x], savingOutput: true) { g, ctx in [g * 0.5 / ctx.output] }
}

/// `x` for x > 0, `slope · x` otherwise. Its derivative is a constant mask (zero curvature
/// almost everywhere), so the VJP is a product with a non-differentiable tensor.
public func leakyReLU(_ x: Tensor, slope: Double = 0.1) -> Tensor {
    let out: Tensor
    switch x.dtype {
    case .float32:
        let s = Float(slope)
        out = ElementwiseKernels.map(x, Float.self) { $0 > 0 ? $0 : $0 * s }
    case .float64: out = ElementwiseKernels.map(x, Double.self) { $0 > 0 ? $0 : $0 * slope }
    }
    return record("leakyReLU", out, inputs: [x]) { g, _ in [g * leakyReLUSlopes(x, slope: slope)] }
}

/// 1 where x > 0, `slope` elsewhere: the derivative of leaky ReLU, as a constant.
func leakyReLUSlopes(_ x: Tensor, slope: Double) -> Tensor {
    switch x.dtype {
    case .float32:
        let s = Float(slope)
        return ElementwiseKernels.map(x.detached(), Float.self) { $0 > 0 ? 1 : s }
    case .float64: return ElementwiseKernels.map(x.detached(), Double.self) { $0 > 0 ? 1 : slope }
    }
}

/// x².
public func square(_ x: Tensor) -> Tensor { x * x }
