import Kernels

/// Direct convolution for thin layers: one input channel (a learner's first conv) or few output
/// channels (the generator's last conv). There im2col would write k²·C values per output pixel
/// to feed a GEMM with a tiny dimension, which is bound by memory; the direct loops instead
/// accumulate shifted rows of one image plane into another, which stays in L1.
enum DirectConvolutionKernels {
    /// Whether the direct kernels beat im2col + GEMM for this geometry.
    static func isPreferred(_ g: ConvGeometry) -> Bool {
        g.inChannels <= 2 || g.outChannels <= 4
    }

    /// dst[oy, ox] += w · src[oy + dy, ox + dx] over the outputs whose source lies inside the plane.
    @inline(__always)
    static func shiftedAxpy<T: TensorScalar>(_ w: T, _ src: UnsafePointer<T>, srcH: Int, srcW: Int,
                                             _ dst: UnsafeMutablePointer<T>, dstH: Int, dstW: Int, dy: Int, dx: Int) {
        let y0 = Swift.max(0, -dy), y1 = Swift.min(dstH, srcH - dy)
        let x0 = Swift.max(0, -dx), x1 = Swift.min(dstW, srcW - dx)
        guard y0 < y1, x0 < x1 else { return }
        for y in y0..<y1 {
            let s = src + (y + dy) * srcW + dx, d = dst + y * dstW
            for x in x0..<x1 { d[x] += w * s[x] }
        }
    }

    /// Σ dst[oy, ox] · src[oy + dy, ox + dx] over the same region as `shiftedAxpy`.
    @inline(__always)
    static func shiftedDot<T: TensorScalar>(_ a: UnsafePointer<T>, aH: Int, aW: Int, _ src: UnsafePointer<T>, srcH: Int, srcW: Int,
                                            dy: Int, dx: Int) -> T {
        let y0 = Swift.max(0, -dy), y1 = Swift.min(aH, srcH - dy)
        let x0 = Swift.max(0, -dx), x1 = Swift.min(aW, srcW - dx)
        guard y0 < y1, x0 < x1 else { return 0 }
        var acc: T = 0
        for y in y0..<y1 {
            let s = src + (y + dy) * srcW + dx, r = a + y * aW
            for x in x0..<x1 { acc += r[x] * s[x] }
        }
        return acc
    }

    static func forward<T: TensorScalar>(_: T.Type, x: Tensor, w: Tensor, _ g: ConvGeometry) -> Tensor {
        let px = x.storage.pointer(as: T.self), pw = w.storage.pointer(as: T.self)
        let (C, H, W, O, k, Ho, Wo) = (g.inChannels, g.height, g.width, g.outChannels, g.kernel, g.outHeight, g.outWidth)
        return Tensor.make(g.outputShape, T.self, zeroed: true) { out in
            Parallel.forRanges(g.batch * O, minParallel: g.flops >= 1e6 ? 2 : Int.max) { planes in
                for plane in planes {
                    let n = plane / O, o = plane % O
                    let dst = out + plane * Ho * Wo
                    for c in 0..<C {
                        let src = px + (n * C + c) * H * W
                        for ky in 0..<k {
                            for kx in 0..<k {
                                shiftedAxpy(pw[((o * C + c) * k + ky) * k + kx], src, srcH: H, srcW: W,
                                            dst, dstH: Ho, dstW: Wo, dy: ky - g.padding, dx: kx - g.padding)
                            }
                        }
                    }
                }
            }
        }
    }

    static func inputGradient<T: TensorScalar>(_: T.Type, gy: Tensor, w: Tensor, _ g: ConvGeometry) -> Tensor {
        let pg = gy.storage.pointer(as: T.self), pw = w.storage.pointer(as: T.self)
        let (C, H, W, O, k, Ho, Wo) = (g.inChannels, g.height, g.width, g.outChannels, g.kernel, g.outHeight, g.outWidth)
        return Tensor.make(g.inputShape, T.self, zeroed: true) { out in
            Parallel.forRanges(g.batch * C, minParallel: g.flops >= 1e6 ? 2 : Int.max) { planes in
                for plane in planes {
                    let n = plane / C, c = plane % C
                    let dst = out + plane * H * W
                    for o in 0..<O {
                        let src = pg + (n * O + o) * Ho * Wo
                        for ky in 0..<k {
                            for kx in 0..<k {
                                // x[iy, ix] receives gy[iy − dy, ix − dx]·w: the shift runs backwards.
                                shiftedAxpy(pw[((o * C + c) * k + ky) * k + kx], src, srcH: Ho, srcW: Wo,
                                            dst, dstH: H, dstW: W, dy: g.padding - ky, dx: g.padding - kx)
                            }
                        }
                    }
                }
            }
        }
    }

    static func weightGradient<T: TensorScalar>(_: T.Type, x: Tensor, gy: Tensor, _ g: ConvGeometry) -> Tensor {
        let px = x.storage.pointer(as: T.self), pg = gy.storage.pointer(as: T.self)
        let (C, H, W, O, k, Ho, Wo) = (g.inChannels, g.height, g.width, g.outChannels, g.kernel, g.outHeight, g.outWidth)
        return Tensor.make(g.weightShape, T.self) { out in
            Parallel.forRanges(O * C, minParallel: g.flops >= 1e6 ? 2 : Int.max) { pairs in
                for pair in pairs {
                    let o = pair / C, c = pair % C
                    for ky in 0..<k {
                        for kx in 0..<k {
                            var acc: T = 0
                            for n in 0..<g.batch {
                                acc += shiftedDot(pg + (n * O + o) * Ho * Wo, aH: Ho, aW: Wo, px + (n * C + c) * H * W,
                                                  srcH: H, srcW: W, dy: ky - g.padding, dx: kx - g.padding)
                            }
                            out[((o * C + c) * k + ky) * k + kx] = acc
                        }
                    }
                }
            }
        }
    }
}
