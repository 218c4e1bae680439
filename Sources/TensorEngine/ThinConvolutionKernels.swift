import Kernels
import Support

/// Convolution for layers with few output channels (the generator's last conv has one). im2col
/// would copy k²·C values per output pixel to feed a GEMM with M = O, which is bound by memory.
/// Here the GEMM runs over the O·k² kernel taps instead, on unshifted image planes, and the k²
/// shifts are applied to planes afterwards (forward) or beforehand (the adjoints): per image
///   forward:      Z = Wᵀ·X,   y = Σ_taps shift(Z_tap)
///   input grad:   G = shifted copies of gy,   x̄ = W·G
///   weight grad:  w̄ += X·Gᵀ
/// with W arranged [C, O·k²]. The GEMMs have dimensions C, O·k² and H·W, none of them tiny.
enum ThinConvolutionKernels {
    static func isPreferred(_ g: ConvGeometry) -> Bool { g.outChannels <= 4 }

    /// dst[oy, ox] += src[oy + dy, ox + dx] over the outputs whose source lies inside the plane.
    @inline(__always)
    static func shiftedAdd<T: TensorScalar>(_ src: UnsafePointer<T>, srcH: Int, srcW: Int,
                                            _ dst: UnsafeMutablePointer<T>, dstH: Int, dstW: Int, dy: Int, dx: Int) {
        let y0 = Swift.max(0, -dy), y1 = Swift.min(dstH, srcH - dy)
        let x0 = Swift.max(0, -dx), x1 = Swift.min(dstW, srcW - dx)
        guard y0 < y1, x0 < x1 else { return }
        for y in y0..<y1 {
            let s = src + (y + dy) * srcW + dx, d = dst + y * dstW
            for x in x0..<x1 { d[x] += s[x] }
        }
    }

    /// W [O, C, k²] rearranged as [C, O·k²].
    static func channelMajorWeight<T: TensorScalar>(_ w: UnsafePointer<T>, _ g: ConvGeometry) -> Storage {
        let taps = g.kernel * g.kernel, O = g.outChannels, C = g.inChannels
        let storage = Storage(count: C * O * taps, dtype: T.dtype)
        let p = storage.pointer(as: T.self)
        for o in 0..<O { for c in 0..<C { for t in 0..<taps { p[(c * O + o) * taps + t] = w[(o * C + c) * taps + t] } } }
        return storage
    }

    /// G[(o, tap), iy, ix] = gy[o, iy − dy, ix − dx] (zero where that is outside gy): the output
    /// gradient of one image moved to where each tap reads the input.
    static func shiftedCopies<T: TensorScalar>(_ gy: UnsafePointer<T>, _ g: ConvGeometry, into G: UnsafeMutablePointer<T>) {
        let k = g.kernel, HW = g.height * g.width
        G.update(repeating: 0, count: g.outChannels * k * k * HW)
        for o in 0..<g.outChannels {
            for ky in 0..<k {
                for kx in 0..<k {
                    // Reading x[oy + dy, ox + dx] from output (oy, ox) means input (iy, ix) gets gy[iy − dy, ix − dx].
                    shiftedAdd(gy + o * g.outPixels, srcH: g.outHeight, srcW: g.outWidth,
                               G + ((o * k + ky) * k + kx) * HW, dstH: g.height, dstW: g.width,
                               dy: g.padding - ky, dx: g.padding - kx)
                }
            }
        }
    }

    /// Runs `body(worker, image)` for every image, workers taking contiguous runs.
    static func forEachImage(_ g: ConvGeometry, _ body: (Int, Int) -> Void) {
        g.forEachChunk(imagesPerChunk: 1, workers: g.splitCount(g.batch)) { worker, images in body(worker, images.lowerBound) }
    }

    static func workers(_ g: ConvGeometry) -> Int { Swift.max(1, Swift.min(Parallel.threadCount, g.batch)) }

    static func forward<T: TensorScalar>(_: T.Type, x: Tensor, w: Tensor, _ g: ConvGeometry) -> Tensor {
        let k = g.kernel, taps = k * k, O = g.outChannels, C = g.inChannels, HW = g.height * g.width
        let px = x.storage.pointer(as: T.self), pw = w.storage.pointer(as: T.self)
        let scratch = (0..<workers(g)).map { _ in Storage(count: taps * HW, dtype: T.dtype) }
        return Tensor.make(g.outputShape, T.self, zeroed: true) { out in
            forEachImage(g) { worker, n in
                let z = scratch[worker].pointer(as: T.self)
                for o in 0..<O {
                    // Z[tap, q] = Σ_c w[o, c, tap] · x[n, c, q]: W[o] is stored [C, taps], used transposed.
                    BLASDispatch.gemm(T.self, transA: true, transB: false, m: taps, n: HW, k: C,
                                      a: pw + o * C * taps, lda: taps, b: px + n * C * HW, ldb: HW, c: z, ldc: HW)
                    let dst = out + (n * O + o) * g.outPixels
                    for ky in 0..<k {
                        for kx in 0..<k {
                            shiftedAdd(z + (ky * k + kx) * HW, srcH: g.height, srcW: g.width, dst, dstH: g.outHeight,
                                       dstW: g.outWidth, dy: ky - g.padding, dx: kx - g.padding)
                        }
                    }
                }
            }
        }
    }

    static func inputGradient<T: TensorScalar>(_: T.Type, gy: Tensor, w: Tensor, _ g: ConvGeometry) -> Tensor {
        let taps = g.kernel * g.kernel, O = g.outChannels, C = g.inChannels, HW = g.height * g.width
        let pg = gy.storage.pointer(as: T.self)
        let weight = channelMajorWeight(w.storage.pointer(as: T.self), g)
        let scratch = (0..<workers(g)).map { _ in Storage(count: O * taps * HW, dtype: T.dtype) }
        return Tensor.make(g.inputShape, T.self) { out in
            forEachImage(g) { worker, n in
                let G = scratch[worker].pointer(as: T.self)
                shiftedCopies(pg + n * O * g.outPixels, g, into: G)
                BLASDispatch.gemm(T.self, transA: false, transB: false, m: C, n: HW, k: O * taps,
                                  a: weight.pointer(as: T.self), lda: O * taps, b: G, ldb: HW, c: out + n * C * HW, ldc: HW)
            }
        }
    }

    /// Summed over the images of each reduction group and then over the groups in order, so it
    /// rounds the same on any number of threads.
    static func weightGradient<T: TensorScalar>(_: T.Type, x: Tensor, gy: Tensor, _ g: ConvGeometry) -> Tensor {
        let taps = g.kernel * g.kernel, O = g.outChannels, C = g.inChannels, HW = g.height * g.width
        let px = x.storage.pointer(as: T.self), pg = gy.storage.pointer(as: T.self)
        let groups = g.splitCount(g.batch, limit: Parallel.reductionGroups), size = C * O * taps
        let scratch = (0..<groups).map { _ in Storage(count: O * taps * HW, dtype: T.dtype) }
        let partials = Storage(count: size * groups, dtype: T.dtype, zeroed: true)
        Parallel.forEachGroup(g.batch, groups: groups) { group, images in
            let G = scratch[group].pointer(as: T.self)
            for n in images {
                shiftedCopies(pg + n * O * g.outPixels, g, into: G)
                BLASDispatch.gemm(T.self, transA: false, transB: true, m: C, n: O * taps, k: HW,
                                  a: px + n * C * HW, lda: HW, b: G, ldb: HW, beta: 1,
                                  c: partials.pointer(as: T.self) + group * size, ldc: O * taps)
            }
        }
        return Tensor.make(g.weightShape, T.self) { out in
            let p = partials.pointer(as: T.self)
            ElementwiseKernels.addPartials(p, size: size, groups: groups, into: p)
            for o in 0..<O { for c in 0..<C { for t in 0..<taps { out[(o * C + c) * taps + t] = p[(c * O + o) * taps + t] } } }
        }
    }
}
