/// 2-D convolution (stride 1, square kernel, zero padding) and its two adjoints. The three are
/// primitives whose VJPs are each other, so convolution can be differentiated any number of times.

/// Cross-correlation of `input` [N, C, H, W] with `weight` [O, C, k, k] → [N, O, H', W'].
public func conv2d(_ input: Tensor, _ weight: Tensor, padding: Int = 0) -> Tensor {
    let g = checked { try ConvGeometry(input: input.shape, weight: weight.shape, padding: padding, op: "conv2d") }
    check { try requireSameDType(input, weight, op: "conv2d") }
    let out = profiled("conv2d", flops: g.flops, executedFlops: g.executedFlops) {
        input.dtype == .float32
            ? ConvolutionKernels.forward(Float.self, x: input, w: weight, g)
            : ConvolutionKernels.forward(Double.self, x: input, w: weight, g)
    }
    return record("conv2d", out, inputs: [input, weight]) { gy, ctx in
        [ctx.needsGradient[0] ? conv2dInputGradient(gy, weight, inputShape: input.shape, padding: padding) : nil,
         ctx.needsGradient[1] ? conv2dWeightGradient(input, gy, weightShape: weight.shape, padding: padding) : nil]
    }
}

/// The gradient of a convolution's output with respect to its input (a transposed convolution).
public func conv2dInputGradient(_ outputGradient: Tensor, _ weight: Tensor, inputShape: [Int], padding: Int) -> Tensor {
    let op = "conv2dInputGradient"
    let g = checked { try ConvGeometry(input: inputShape, weight: weight.shape, padding: padding, op: op) }
    check {
        try requireSameDType(outputGradient, weight, op: op)
        guard outputGradient.shape == g.outputShape else {
            throw TensorError(op: op, "output gradient \(describe(outputGradient.shape)) does not match the convolution output \(describe(g.outputShape))")
        }
    }
    let out = profiled(op, flops: g.flops, executedFlops: g.executedFlops) {
        weight.dtype == .float32
            ? ConvolutionKernels.inputGradient(Float.self, gy: outputGradient, w: weight, g)
            : ConvolutionKernels.inputGradient(Double.self, gy: outputGradient, w: weight, g)
    }
    return record(op, out, inputs: [outputGradient, weight]) { gz, ctx in
        [ctx.needsGradient[0] ? conv2d(gz, weight, padding: padding) : nil,
         ctx.needsGradient[1] ? conv2dWeightGradient(gz, outputGradient, weightShape: weight.shape, padding: padding) : nil]
    }
}

/// The gradient of a convolution's output with respect to its weight.
public func conv2dWeightGradient(_ input: Tensor, _ outputGradient: Tensor, weightShape: [Int], padding: Int) -> Tensor {
    let op = "conv2dWeightGradient"
    let g = checked { try ConvGeometry(input: input.shape, weight: weightShape, padding: padding, op: op) }
    check {
        try requireSameDType(input, outputGradient, op: op)
        guard outputGradient.shape == g.outputShape else {
            throw TensorError(op: op, "output gradient \(describe(outputGradient.shape)) does not match the convolution output \(describe(g.outputShape))")
        }
    }
    let out = profiled(op, flops: g.flops, executedFlops: g.executedFlops) {
        input.dtype == .float32
            ? ConvolutionKernels.weightGradient(Float.self, x: input, gy: outputGradient, g)
            : ConvolutionKernels.weightGradient(Double.self, x: input, gy: outputGradient, g)
    }
    return record(op, out, inputs: [input, outputGradient]) { gu, ctx in
        [ctx.needsGradient[0] ? conv2dInputGradient(outputGradient, gu, inputShape: input.shape, padding: padding) : nil,
         ctx.needsGradient[1] ? conv2d(input, gu, padding: padding) : nil]
    }
}

func requireSameDType(_ a: Tensor, _ b: Tensor, op: String) throws {
    guard a.dtype == b.dtype else {
        throw TensorError(op: op, "dtypes differ: \(a.dtype) \(describe(a.shape)) and \(b.dtype) \(describe(b.shape))")
    }
}
