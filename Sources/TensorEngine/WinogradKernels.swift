import Foundation
import Kernels

/// Winograd F(2×2, 3×3) for the three passes of a 3×3, padding-1 convolution.
///
/// Each 2×2 output tile is `Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A` of its 4×4 input patch d, so a pass becomes
/// sixteen GEMMs (one per point ξ of the 4×4 transform domain) with 2.25× fewer multiply-adds than
/// im2col, plus cheap linear transforms in and out. The weight gradient is the same identity read
/// backwards: `dg = Gᵀ[Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)]G`. As with im2col, the batch is cut into chunks
/// of images that each worker transforms, multiplies and transforms back on its own, so the
/// transformed blocks stay in cache.
/// Switches for the convolution algorithms, for benchmarks that compare them.
public enum ConvolutionOptions {
    private static let state = WinogradSwitch()

    /// Whether 3×3 convolutions may use Winograd F(2×2, 3×3) (on by default); off, they use
    /// im2col + GEMM.
    public static var winogradEnabled: Bool {
        get { state.lock.withLock { state.enabled } }
        set { state.lock.withLock { state.enabled = newValue } }
    }

    private final class WinogradSwitch: @unchecked Sendable {
        let lock = NSLock()
        var enabled = true
    }
}

enum WinogradKernels {
    /// 3×3 kernels with padding 1 whose channel counts keep the per-point GEMMs worth their
    /// transforms; thinner convolutions go to im2col or the thin-output path.
    static func isPreferred(_ g: ConvGeometry) -> Bool {
        ConvolutionOptions.winogradEnabled && g.kernel == 3 && g.padding == 1 && Swift.min(g.inChannels, g.outChannels) >= 16 && g.height >= 2 && g.width >= 2
    }

    /// Tile layout of one image: 2×2 output tiles, the last row/column clipped when odd.
    struct Tiling {
        let tilesY, tilesX: Int
        var perImage: Int { tilesY * tilesX }
        /// Height and width of the zero-padded plane the 4×4 patches are read from.
        var paddedHeight: Int { 2 * tilesY + 2 }
        var paddedWidth: Int { 2 * tilesX + 2 }

        init(_ g: ConvGeometry) {
            tilesY = (g.height + 1) / 2
            tilesX = (g.width + 1) / 2
        }

        /// Images per chunk: about 400 tiles, so a chunk's sixteen transformed blocks fit in L2/L3.
        func imagesPerChunk(batch: Int) -> Int { Swift.max(1, Swift.min(batch, (400 + perImage - 1) / perImage)) }
    }

    // MARK: - Passes

    static func forward<T: TensorScalar>(_: T.Type, x: Tensor, w: Tensor, _ g: ConvGeometry) -> Tensor {
        let u = transformedFilters(T.self, w.storage.pointer(as: T.self), outer: g.outChannels, inner: g.inChannels, flipped: false)
        return Tensor.make(g.outputShape, T.self) { out in
            correlate(T.self, x.storage.pointer(as: T.self), channels: g.inChannels, filters: u.pointer(as: T.self),
                      outChannels: g.outChannels, g, out)
        }
    }

    /// The transposed convolution is a correlation of the output gradient with the filters
    /// flipped in space and transposed in channels.
    static func inputGradient<T: TensorScalar>(_: T.Type, gy: Tensor, w: Tensor, _ g: ConvGeometry) -> Tensor {
        let u = transformedFilters(T.self, w.storage.pointer(as: T.self), outer: g.outChannels, inner: g.inChannels, flipped: true)
        return Tensor.make(g.inputShape, T.self) { out in
            correlate(T.self, gy.storage.pointer(as: T.self), channels: g.outChannels, filters: u.pointer(as: T.self),
                      outChannels: g.inChannels, g, out)
        }
    }

    static func weightGradient<T: TensorScalar>(_: T.Type, x: Tensor, gy: Tensor, _ g: ConvGeometry) -> Tensor {
        let tiling = Tiling(g), C = g.inChannels, O = g.outChannels
        let per = tiling.imagesPerChunk(batch: g.batch), N = per * tiling.perImage
        let workers = workerCount(g, imagesPerChunk: per)
        let pointSize = O * C, partialSize = 16 * pointSize
        let partials = Storage(count: partialSize * workers, dtype: T.dtype, zeroed: true)
        let scratch = (0..<workers).map { _ in
            (v: Storage(count: 16 * C * N, dtype: T.dtype), m: Storage(count: 16 * O * N, dtype: T.dtype),
             plane: Storage(count: tiling.paddedHeight * tiling.paddedWidth, dtype: T.dtype))
        }
        let px = x.storage.pointer(as: T.self), pg = gy.storage.pointer(as: T.self)
        forEachChunk(g, imagesPerChunk: per, workers: workers) { worker, images in
            let v = scratch[worker].v.pointer(as: T.self), m = scratch[worker].m.pointer(as: T.self)
            let plane = scratch[worker].plane.pointer(as: T.self)
            let n = images.count * tiling.perImage
            inputTransform(px, channels: C, images: images, g, tiling, plane: plane, v, ld: n)
            outputGradientTransform(pg, channels: O, images: images, g, tiling, plane: plane, m, ld: n)
            let partial = partials.pointer(as: T.self) + worker * partialSize
            for xi in 0..<16 {
                BLASDispatch.gemm(T.self, transA: false, transB: true, m: O, n: C, k: n,
                                  a: m + xi * O * n, lda: n, b: v + xi * C * n, ldb: n, beta: 1,
                                  c: partial + xi * pointSize, ldc: C)
            }
        }
        let sum = partials.pointer(as: T.self)
        for worker in 1..<Swift.max(workers, 1) {
            let q = sum + worker * partialSize
            for i in 0..<partialSize { sum[i] += q[i] }
        }
        return Tensor.make(g.weightShape, T.self) { out in
            for o in 0..<O {
                for c in 0..<C { filterGradientTransform(sum + o * C + c, stride: pointSize, out + (o * C + c) * 9) }
            }
        }
    }

    // MARK: - Shared pipeline

    static func workerCount(_ g: ConvGeometry, imagesPerChunk per: Int) -> Int {
        let chunks = (g.batch + per - 1) / per
        return g.flops >= 2e6 ? Swift.max(1, Swift.min(Parallel.threadCount, chunks)) : 1
    }

    static func forEachChunk(_ g: ConvGeometry, imagesPerChunk per: Int, workers: Int, _ body: (Int, Range<Int>) -> Void) {
        let chunks = (g.batch + per - 1) / per
        Parallel.forEachChunk(workers) { w in
            for c in (chunks * w / workers)..<(chunks * (w + 1) / workers) {
                body(w, (c * per)..<Swift.min(g.batch, (c + 1) * per))
            }
        }
    }

    /// out[n, o] = Σ_c input[n, c] ⋆ filter[o, c] (3×3 correlation, padding 1) with `filters` already
    /// transformed to [16, outChannels, channels].
    static func correlate<T: TensorScalar>(_: T.Type, _ input: UnsafePointer<T>, channels C: Int, filters u: UnsafePointer<T>,
                                           outChannels O: Int, _ g: ConvGeometry, _ out: UnsafeMutablePointer<T>) {
        let tiling = Tiling(g)
        let per = tiling.imagesPerChunk(batch: g.batch), N = per * tiling.perImage
        let workers = workerCount(g, imagesPerChunk: per)
        let scratch = (0..<workers).map { _ in
            (v: Storage(count: 16 * C * N, dtype: T.dtype), m: Storage(count: 16 * O * N, dtype: T.dtype),
             plane: Storage(count: tiling.paddedHeight * tiling.paddedWidth, dtype: T.dtype))
        }
        forEachChunk(g, imagesPerChunk: per, workers: workers) { worker, images in
            let v = scratch[worker].v.pointer(as: T.self), m = scratch[worker].m.pointer(as: T.self)
            let plane = scratch[worker].plane.pointer(as: T.self)
            let n = images.count * tiling.perImage
            inputTransform(input, channels: C, images: images, g, tiling, plane: plane, v, ld: n)
            for xi in 0..<16 {
                BLASDispatch.gemm(T.self, transA: false, transB: false, m: O, n: n, k: C,
                                  a: u + xi * O * C, lda: C, b: v + xi * C * n, ldb: n, c: m + xi * O * n, ldc: n)
            }
            outputTransform(m, channels: O, images: images, g, tiling, plane: plane, out, ld: n)
        }
    }

    // MARK: - Transforms

    /// [16, rows, cols] transformed 3×3 filters, `G g Gᵀ`, for weights [outer, inner, 3, 3]: rows
    /// = outer, cols = inner; or, `flipped`, the spatially flipped filters with rows = inner,
    /// cols = outer (the transposed convolution's).
    static func transformedFilters<T: TensorScalar>(_: T.Type, _ w: UnsafePointer<T>, outer: Int, inner: Int, flipped: Bool) -> Storage {
        let u = Storage(count: 16 * outer * inner, dtype: T.dtype)
        let p = u.pointer(as: T.self), pointSize = outer * inner
        for o in 0..<outer {
            for c in 0..<inner {
                let k = w + (o * inner + c) * 9
                func f(_ i: Int, _ j: Int) -> T { flipped ? k[8 - 3 * i - j] : k[3 * i + j] }
                // Columns of G f, then G along each of their four rows.
                let c0 = timesG(f(0, 0), f(1, 0), f(2, 0)), c1 = timesG(f(0, 1), f(1, 1), f(2, 1)), c2 = timesG(f(0, 2), f(1, 2), f(2, 2))
                let dst = p + (flipped ? c * outer + o : o * inner + c)
                store(timesG(c0.0, c1.0, c2.0), dst, stride: pointSize)
                store(timesG(c0.1, c1.1, c2.1), dst + 4 * pointSize, stride: pointSize)
                store(timesG(c0.2, c1.2, c2.2), dst + 8 * pointSize, stride: pointSize)
                store(timesG(c0.3, c1.3, c2.3), dst + 12 * pointSize, stride: pointSize)
            }
        }
        return u
    }

    /// G (a, b, c)ᵀ with G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1].
    @inline(__always)
    static func timesG<T: TensorScalar>(_ a: T, _ b: T, _ c: T) -> (T, T, T, T) {
        let half: T = 0.5
        return (a, (a + b + c) * half, (a - b + c) * half, c)
    }

    @inline(__always)
    static func store<T: TensorScalar>(_ v: (T, T, T, T), _ dst: UnsafeMutablePointer<T>, stride: Int) {
        dst[0] = v.0; dst[stride] = v.1; dst[2 * stride] = v.2; dst[3 * stride] = v.3
    }

    /// v[ξ, c, tile] = (Bᵀ d B)[ξ] of each tile's 4×4 patch d of the zero-padded input, for the
    /// images `images`; `ld` is the tile count of the chunk.
    static func inputTransform<T: TensorScalar>(_ x: UnsafePointer<T>, channels C: Int, images: Range<Int>, _ g: ConvGeometry,
                                                _ tiling: Tiling, plane: UnsafeMutablePointer<T>,
                                                _ v: UnsafeMutablePointer<T>, ld: Int) {
        let H = g.height, W = g.width, Wp = tiling.paddedWidth, TY = tiling.tilesY, TX = tiling.tilesX
        let pointStride = C * ld
        plane.update(repeating: 0, count: tiling.paddedHeight * Wp)
        for c in 0..<C {
            for n in images {
                let src = x + (n * C + c) * H * W
                for y in 0..<H { (plane + (y + 1) * Wp + 1).update(from: src + y * W, count: W) }
                let base = v + c * ld + (n - images.lowerBound) * tiling.perImage
                for ty in 0..<TY {
                    let r0 = plane + 2 * ty * Wp, r1 = r0 + Wp, r2 = r1 + Wp, r3 = r2 + Wp
                    let row = base + ty * TX
                    for tx in 0..<TX {
                        let j = 2 * tx
                        // Bᵀ d: combine the four rows, column by column.
                        let a0 = r0[j] - r2[j], a1 = r0[j + 1] - r2[j + 1], a2 = r0[j + 2] - r2[j + 2], a3 = r0[j + 3] - r2[j + 3]
                        let b0 = r1[j] + r2[j], b1 = r1[j + 1] + r2[j + 1], b2 = r1[j + 2] + r2[j + 2], b3 = r1[j + 3] + r2[j + 3]
                        let c0 = r2[j] - r1[j], c1 = r2[j + 1] - r1[j + 1], c2 = r2[j + 2] - r1[j + 2], c3 = r2[j + 3] - r1[j + 3]
                        let d0 = r1[j] - r3[j], d1 = r1[j + 1] - r3[j + 1], d2 = r1[j + 2] - r3[j + 2], d3 = r1[j + 3] - r3[j + 3]
                        // … then B on the columns of each.
                        let o = row + tx
                        o[0] = a0 - a2; o[pointStride] = a1 + a2; o[2 * pointStride] = a2 - a1; o[3 * pointStride] = a1 - a3
                        o[4 * pointStride] = b0 - b2; o[5 * pointStride] = b1 + b2; o[6 * pointStride] = b2 - b1; o[7 * pointStride] = b1 - b3
                        o[8 * pointStride] = c0 - c2; o[9 * pointStride] = c1 + c2; o[10 * pointStride] = c2 - c1; o[11 * pointStride] = c1 - c3
                        o[12 * pointStride] = d0 - d2; o[13 * pointStride] = d1 + d2; o[14 * pointStride] = d2 - d1; o[15 * pointStride] = d1 - d3
                    }
                }
            }
        }
    }

    /// out[n, o] tiles = Aᵀ m A from m[ξ, o, tile], clipped to the plane when its size is odd.
    static func outputTransform<T: TensorScalar>(_ m: UnsafePointer<T>, channels O: Int, images: Range<Int>, _ g: ConvGeometry,
                                                 _ tiling: Tiling, plane: UnsafeMutablePointer<T>,
                                                 _ out: UnsafeMutablePointer<T>, ld: Int) {
        let H = g.height, W = g.width, TY = tiling.tilesY, TX = tiling.tilesX
        let pointStride = O * ld
        let exact = H % 2 == 0 && W % 2 == 0
        for o in 0..<O {
            for n in images {
                let dst = out + (n * O + o) * H * W
                // Even planes are written in place; odd ones through the padded plane, then clipped.
                let target = exact ? dst : plane
                let rowLength = exact ? W : 2 * TX
                let base = m + o * ld + (n - images.lowerBound) * tiling.perImage
                for ty in 0..<TY {
                    let y0 = target + 2 * ty * rowLength, y1 = y0 + rowLength
                    let row = base + ty * TX
                    for tx in 0..<TX {
                        let s = row + tx
                        let m0 = s[0], m1 = s[pointStride], m2 = s[2 * pointStride], m3 = s[3 * pointStride]
                        let m4 = s[4 * pointStride], m5 = s[5 * pointStride], m6 = s[6 * pointStride], m7 = s[7 * pointStride]
                        let m8 = s[8 * pointStride], m9 = s[9 * pointStride], m10 = s[10 * pointStride], m11 = s[11 * pointStride]
                        let m12 = s[12 * pointStride], m13 = s[13 * pointStride], m14 = s[14 * pointStride], m15 = s[15 * pointStride]
                        // Aᵀ m: rows 0+1+2 and 1−2−3, column by column.
                        let p0 = m0 + m4 + m8, p1 = m1 + m5 + m9, p2 = m2 + m6 + m10, p3 = m3 + m7 + m11
                        let q0 = m4 - m8 - m12, q1 = m5 - m9 - m13, q2 = m6 - m10 - m14, q3 = m7 - m11 - m15
                        let j = 2 * tx
                        y0[j] = p0 + p1 + p2; y0[j + 1] = p1 - p2 - p3
                        y1[j] = q0 + q1 + q2; y1[j + 1] = q1 - q2 - q3
                    }
                }
                if !exact {
                    for y in 0..<H { (dst + y * W).update(from: plane + y * rowLength, count: W) }
                }
            }
        }
    }

    /// m[ξ, o, tile] = (A dY Aᵀ)[ξ] of each tile's 2×2 output gradient dY (zero beyond the plane):
    /// the adjoint of `outputTransform`.
    static func outputGradientTransform<T: TensorScalar>(_ gy: UnsafePointer<T>, channels O: Int, images: Range<Int>, _ g: ConvGeometry,
                                                         _ tiling: Tiling, plane: UnsafeMutablePointer<T>,
                                                         _ m: UnsafeMutablePointer<T>, ld: Int) {
        let H = g.height, W = g.width, TY = tiling.tilesY, TX = tiling.tilesX
        let pointStride = O * ld
        let exact = H % 2 == 0 && W % 2 == 0, rowLength = exact ? W : 2 * TX
        if !exact { plane.update(repeating: 0, count: 2 * TY * rowLength) }
        for o in 0..<O {
            for n in images {
                let src = gy + (n * O + o) * H * W
                if !exact {
                    for y in 0..<H { (plane + y * rowLength).update(from: src + y * W, count: W) }
                }
                let source = exact ? src : UnsafePointer(plane)
                let base = m + o * ld + (n - images.lowerBound) * tiling.perImage
                for ty in 0..<TY {
                    let y0 = source + 2 * ty * rowLength, y1 = y0 + rowLength
                    let row = base + ty * TX
                    for tx in 0..<TX {
                        let j = 2 * tx
                        let a = y0[j], b = y0[j + 1], c = y1[j], d = y1[j + 1]
                        // A dY: rows (a b), (a+c b+d), (a−c b−d), (−c −d); then the same on columns.
                        let s = row + tx
                        let rows = (a, b, a + c, b + d, a - c, b - d, -c, -d)
                        s[0] = rows.0; s[pointStride] = rows.0 + rows.1; s[2 * pointStride] = rows.0 - rows.1; s[3 * pointStride] = -rows.1
                        s[4 * pointStride] = rows.2; s[5 * pointStride] = rows.2 + rows.3; s[6 * pointStride] = rows.2 - rows.3; s[7 * pointStride] = -rows.3
                        s[8 * pointStride] = rows.4; s[9 * pointStride] = rows.4 + rows.5; s[10 * pointStride] = rows.4 - rows.5; s[11 * pointStride] = -rows.5
                        s[12 * pointStride] = rows.6; s[13 * pointStride] = rows.6 + rows.7; s[14 * pointStride] = rows.6 - rows.7; s[15 * pointStride] = -rows.7
                    }
                }
            }
        }
    }

    /// out (3×3) = Gᵀ D G for the 4×4 D whose ξ-th entry is d[ξ · stride].
    static func filterGradientTransform<T: TensorScalar>(_ d: UnsafePointer<T>, stride: Int, _ out: UnsafeMutablePointer<T>) {
        func column(_ j: Int) -> (T, T, T) {
            timesGTransposed(d[j * stride], d[(4 + j) * stride], d[(8 + j) * stride], d[(12 + j) * stride])
        }
        // Gᵀ D column by column (3×4), then Gᵀ along each of its three rows.
        let e0 = column(0), e1 = column(1), e2 = column(2), e3 = column(3)
        let r0 = timesGTransposed(e0.0, e1.0, e2.0, e3.0)
        let r1 = timesGTransposed(e0.1, e1.1, e2.1, e3.1)
        let r2 = timesGTransposed(e0.2, e1.2, e2.2, e3.2)
        out[0] = r0.0; out[1] = r0.1; out[2] = r0.2
        out[3] = r1.0; out[4] = r1.1; out[5] = r1.2
        out[6] = r2.0; out[7] = r2.1; out[8] = r2.2
    }

    /// Gᵀ (a, b, c, d)ᵀ, the adjoint of `timesG`.
    @inline(__always)
    static func timesGTransposed<T: TensorScalar>(_ a: T, _ b: T, _ c: T, _ d: T) -> (T, T, T) {
        let half: T = 0.5
        return (a + (b + c) * half, (b - c) * half, (b + c) * half + d)
    }
}
