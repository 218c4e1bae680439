import Kernels

/// Geometry of a stride-1 2-D convolution with square kernels and zero padding.
struct ConvGeometry {
    let batch, inChannels, height, width: Int
    let outChannels, kernel, padding: Int
    var outHeight: Int { height + 2 * padding - kernel + 1 }
    var outWidth: Int { width + 2 * padding - kernel + 1 }
    var outPixels: Int { outHeight * outWidth }
    /// Rows of the im2col matrix: one per (input channel, kernel row, kernel column).
    var patchSize: Int { inChannels * kernel * kernel }
    /// Columns of the im2col matrix: one per (image, output pixel).
    var columns: Int { batch * outPixels }
    var inputShape: [Int] { [batch, inChannels, height, width] }
    var weightShape: [Int] { [outChannels, inChannels, kernel, kernel] }
    var outputShape: [Int] { [batch, outChannels, outHeight, outWidth] }
    /// Multiply-adds of each of the three passes, counted as two flops.
    var flops: Double { 2 * Double(outChannels) * Double(patchSize) * Double(columns) }

    init(input: [Int], weight: [Int], padding: Int, op: String) throws {
        guard input.count == 4, weight.count == 4 else {
            throw TensorError(op: op, "expects input [N, C, H, W] and weight [O, C, k, k], got \(describe(input)) and \(describe(weight))")
        }
        guard weight[2] == weight[3] else {
            throw TensorError(op: op, "kernel must be square, got \(weight[2])×\(weight[3]) in weight \(describe(weight))")
        }
        guard input[1] == weight[1] else {
            throw TensorError(op: op, "input has \(input[1]) channels but weight \(describe(weight)) expects \(weight[1]) (input \(describe(input)))")
        }
        guard padding >= 0 else { throw TensorError(op: op, "padding must be ≥ 0, got \(padding)") }
        batch = input[0]; inChannels = input[1]; height = input[2]; width = input[3]
        outChannels = weight[0]; kernel = weight[2]; self.padding = padding
        guard outHeight >= 1, outWidth >= 1 else {
            throw TensorError(op: op, "a \(kernel)×\(kernel) kernel with padding \(padding) does not fit input \(describe(input))")
        }
    }
}

/// im2col + GEMM convolution and its two adjoints. Every image of the batch goes into one
/// im2col matrix so that each pass is a single large GEMM.
enum ConvolutionKernels {
    /// col[r, n·P + p] = x[n, c, oy + ky − pad, ox + kx − pad], r = (c·k + ky)·k + kx.
    static func im2col<T: TensorScalar>(_ x: UnsafePointer<T>, _ g: ConvGeometry, _ col: UnsafeMutablePointer<T>) {
        let k = g.kernel, H = g.height, W = g.width, Ho = g.outHeight, Wo = g.outWidth, P = g.outPixels
        Parallel.forRanges(g.patchSize, minParallel: g.columns * g.patchSize >= 65_536 ? 2 : Int.max) { rows in
            for r in rows {
                let c = r / (k * k), ky = (r / k) % k, kx = r % k
                let dstRow = col + r * g.columns
                for n in 0..<g.batch {
                    let src = x + (n * g.inChannels + c) * H * W
                    let dst = dstRow + n * P
                    let lo = Swift.max(0, g.padding - kx), hi = Swift.min(Wo, W + g.padding - kx)
                    for oy in 0..<Ho {
                        let iy = oy + ky - g.padding
                        let d = dst + oy * Wo
                        guard iy >= 0 && iy < H && lo < hi else {
                            d.update(repeating: 0, count: Wo)
                            continue
                        }
                        if lo > 0 { d.update(repeating: 0, count: lo) }
                        (d + lo).update(from: src + iy * W + lo + kx - g.padding, count: hi - lo)
                        if hi < Wo { (d + hi).update(repeating: 0, count: Wo - hi) }
                    }
                }
            }
        }
    }

    /// x[n, c, iy, ix] = Σ col[r, n·P + p] over the (r, p) that read it; the adjoint of im2col.
    static func col2im<T: TensorScalar>(_ col: UnsafePointer<T>, _ g: ConvGeometry, _ x: UnsafeMutablePointer<T>) {
        let k = g.kernel, H = g.height, W = g.width, Ho = g.outHeight, Wo = g.outWidth, P = g.outPixels
        x.update(repeating: 0, count: g.batch * g.inChannels * H * W)
        // Channels write disjoint planes, so they can run in parallel.
        Parallel.forRanges(g.inChannels, minParallel: g.columns * g.patchSize >= 65_536 ? 2 : Int.max) { channels in
            for c in channels {
                for ky in 0..<k {
                    for kx in 0..<k {
                        let r = (c * k + ky) * k + kx
                        let lo = Swift.max(0, g.padding - kx), hi = Swift.min(Wo, W + g.padding - kx)
                        guard lo < hi else { continue }
                        for n in 0..<g.batch {
                            let src = col + r * g.columns + n * P
                            let dst = x + (n * g.inChannels + c) * H * W
                            for oy in 0..<Ho {
                                let iy = oy + ky - g.padding
                                guard iy >= 0 && iy < H else { continue }
                                let s = src + oy * Wo, d = dst + iy * W + kx - g.padding
                                for ox in lo..<hi { d[ox] += s[ox] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// [A, B, P] → [B, A, P]: moves between the GEMM's channel-major layout and NCHW.
    static func swapLeadingAxes<T: TensorScalar>(_ src: UnsafePointer<T>, _ a: Int, _ b: Int, _ p: Int, _ dst: UnsafeMutablePointer<T>) {
        Parallel.forRanges(b, minParallel: a * b * p >= 65_536 ? 2 : Int.max) { range in
            for j in range {
                for i in 0..<a { (dst + (j * a + i) * p).update(from: src + (i * b + j) * p, count: p) }
            }
        }
    }

    static func scratch<T: TensorScalar>(_: T.Type, _ count: Int) -> Storage { Storage(count: count, dtype: T.dtype) }

    static func forward<T: TensorScalar>(_: T.Type, x: Tensor, w: Tensor, _ g: ConvGeometry) -> Tensor {
        if DirectConvolutionKernels.isPreferred(g) { return DirectConvolutionKernels.forward(T.self, x: x, w: w, g) }
        return im2colForward(T.self, x: x, w: w, g)
    }

    static func inputGradient<T: TensorScalar>(_: T.Type, gy: Tensor, w: Tensor, _ g: ConvGeometry) -> Tensor {
        if DirectConvolutionKernels.isPreferred(g) { return DirectConvolutionKernels.inputGradient(T.self, gy: gy, w: w, g) }
        return im2colInputGradient(T.self, gy: gy, w: w, g)
    }

    static func weightGradient<T: TensorScalar>(_: T.Type, x: Tensor, gy: Tensor, _ g: ConvGeometry) -> Tensor {
        if DirectConvolutionKernels.isPreferred(g) { return DirectConvolutionKernels.weightGradient(T.self, x: x, gy: gy, g) }
        return im2colWeightGradient(T.self, x: x, gy: gy, g)
    }

    static func im2colForward<T: TensorScalar>(_: T.Type, x: Tensor, w: Tensor, _ g: ConvGeometry) -> Tensor {
        let col = scratch(T.self, g.patchSize * g.columns)
        im2col(x.storage.pointer(as: T.self), g, col.pointer(as: T.self))
        let gemmOut = scratch(T.self, g.outChannels * g.columns)
        BLASDispatch.gemm(T.self, transA: false, transB: false, m: g.outChannels, n: g.columns, k: g.patchSize,
                          a: w.storage.pointer(as: T.self), lda: g.patchSize,
                          b: col.pointer(as: T.self), ldb: g.columns, c: gemmOut.pointer(as: T.self), ldc: g.columns)
        return Tensor.make(g.outputShape, T.self) { out in
            swapLeadingAxes(gemmOut.pointer(as: T.self), g.outChannels, g.batch, g.outPixels, out)
        }
    }

    /// The adjoint with respect to the input: col2im(Wᵀ · gy).
    static func im2colInputGradient<T: TensorScalar>(_: T.Type, gy: Tensor, w: Tensor, _ g: ConvGeometry) -> Tensor {
        let gyT = scratch(T.self, g.outChannels * g.columns)
        swapLeadingAxes(gy.storage.pointer(as: T.self), g.batch, g.outChannels, g.outPixels, gyT.pointer(as: T.self))
        let col = scratch(T.self, g.patchSize * g.columns)
        BLASDispatch.gemm(T.self, transA: true, transB: false, m: g.patchSize, n: g.columns, k: g.outChannels,
                          a: w.storage.pointer(as: T.self), lda: g.patchSize,
                          b: gyT.pointer(as: T.self), ldb: g.columns, c: col.pointer(as: T.self), ldc: g.columns)
        return Tensor.make(g.inputShape, T.self) { out in col2im(col.pointer(as: T.self), g, out) }
    }

    /// The adjoint with respect to the weight: gy · im2col(x)ᵀ.
    static func im2colWeightGradient<T: TensorScalar>(_: T.Type, x: Tensor, gy: Tensor, _ g: ConvGeometry) -> Tensor {
        let gyT = scratch(T.self, g.outChannels * g.columns)
        swapLeadingAxes(gy.storage.pointer(as: T.self), g.batch, g.outChannels, g.outPixels, gyT.pointer(as: T.self))
        let col = scratch(T.self, g.patchSize * g.columns)
        im2col(x.storage.pointer(as: T.self), g, col.pointer(as: T.self))
        return Tensor.make(g.weightShape, T.self) { out in
            BLASDispatch.gemm(T.self, transA: false, transB: true, m: g.outChannels, n: g.patchSize, k: g.columns,
                              a: gyT.pointer(as: T.self), lda: g.columns,
                              b: col.pointer(as: T.self), ldb: g.columns, c: out, ldc: g.patchSize)
        }
    }
}
