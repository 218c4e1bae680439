import Foundation
import Kernels
import Support

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

/// Winograd F(2×2, 3×3) for the three passes of a 3×3, padding-1 convolution.
///
/// Each 2×2 output tile is `Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A` of its 4×4 input patch d, so a pass becomes
/// sixteen GEMMs (one per point ξ of the 4×4 transform domain) with 2.25× fewer multiply-adds than
/// im2col, plus cheap linear transforms in and out. The weight gradient is the same identity read
/// backwards: `dg = Gᵀ[Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)]G`. As with im2col, the batch is cut into chunks
/// of images that each worker transforms, multiplies and transforms back on its own, so the
/// transformed blocks stay in cache.
enum WinogradKernels {
    /// 3×3 kernels with padding 1 whose channel counts keep the per-point GEMMs worth their
    /// transforms; thinner convolutions go to im2col or the thin-output path.
    static func isPreferred(_ g: ConvGeometry) -> Bool {
        ConvolutionOptions.winogradEnabled && g.kernel == 3 && g.padding == 1
            && Swift.min(g.inChannels, g.outChannels) >= 16 && g.height >= 2 && g.width >= 2
    }

    /// Tiles transformed at once, one per SIMD lane.
    static let lanes = 8

    /// Tile layout of one image: 2×2 output tiles, the last row/column clipped when odd.
    struct Tiling {
        let tilesY, tilesX: Int
        var perImage: Int { tilesY * tilesX }
        /// Length of one deinterleaved row (even or odd columns): whole vector blocks of tiles,
        /// plus one vector of slack for the loads shifted by one tile.
        var rowSpan: Int { (tilesX + lanes - 1) / lanes * lanes + lanes }
        /// Scalars of per-worker scratch: the deinterleaved rows of one zero-padded input plane.
        var scratchCount: Int { (2 * tilesY + 2) * 2 * rowSpan }
        /// Leading dimension of a chunk's transformed rows: vector stores of the last block of a
        /// row may run up to one vector past its last tile.
        static func leadingDimension(tiles: Int) -> Int { tiles + lanes }
        /// Distance between the blocks of two transform points (`channels` rows of `ld`): one
        /// cache line more than they need. The transforms touch all sixteen blocks at once, and
        /// with power-of-two channel counts their starts would otherwise often be a multiple of
        /// 4 KiB apart and share one L1 set (an 8-image chunk at 64 channels: 25 × 4096 bytes).
        static func pointStride(channels: Int, ld: Int) -> Int { channels * ld + 16 }

        init(_ g: ConvGeometry) {
            tilesY = (g.height + 1) / 2
            tilesX = (g.width + 1) / 2
        }

        /// Images per chunk: about 400 tiles, so a chunk's sixteen transformed blocks fit in L2/L3,
        /// evened out so that the weight gradient's reduction groups (`Parallel.reductionGroups`,
        /// one per thread on two cores) get as many chunks: 128 images of 49 tiles make 16 chunks
        /// of 8 rather than 15 of 9, which left one core idle for a fifteenth of every pass. The
        /// chunks must not depend on the thread count, as the weight gradient sums over them.
        func imagesPerChunk(batch: Int, groups: Int = Parallel.reductionGroups) -> Int {
            let target = Swift.max(1, Swift.min(batch, (400 + perImage - 1) / perImage))
            let chunks = (batch + target - 1) / target
            let rounds = (chunks + groups - 1) / groups
            let balanced = Swift.min(batch, rounds * groups)
            return (batch + balanced - 1) / balanced
        }
    }

    /// Multiply-adds (×2) of a pass's sixteen GEMMs, against `ConvGeometry.flops` for im2col.
    static func flops(_ g: ConvGeometry) -> Double {
        2 * 16 * Double(g.outChannels) * Double(g.inChannels) * Double(Tiling(g).perImage) * Double(g.batch)
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

    /// Summed over the chunks of each reduction group and then over the groups in order, so it
    /// rounds the same on any number of threads.
    static func weightGradient<T: TensorScalar>(_: T.Type, x: Tensor, gy: Tensor, _ g: ConvGeometry) -> Tensor {
        let tiling = Tiling(g), C = g.inChannels, O = g.outChannels
        let per = tiling.imagesPerChunk(batch: g.batch), N = per * tiling.perImage
        let chunks = g.chunkCount(imagesPerChunk: per)
        let groups = g.splitCount(chunks, limit: Parallel.reductionGroups)
        let pointSize = O * C, partialSize = 16 * pointSize
        let partials = Storage(count: partialSize * groups, dtype: T.dtype, zeroed: true)
        let ldMax = Tiling.leadingDimension(tiles: N)
        let scratch = (0..<groups).map { _ in
            (v: Storage(count: 16 * Tiling.pointStride(channels: C, ld: ldMax), dtype: T.dtype),
             m: Storage(count: 16 * Tiling.pointStride(channels: O, ld: ldMax), dtype: T.dtype),
             rows: Storage(count: tiling.scratchCount, dtype: T.dtype))
        }
        let px = x.storage.pointer(as: T.self), pg = gy.storage.pointer(as: T.self)
        Parallel.forEachGroup(chunks, groups: groups) { group, chunkRange in
            let v = scratch[group].v.pointer(as: T.self), m = scratch[group].m.pointer(as: T.self)
            let rows = scratch[group].rows.pointer(as: T.self)
            let partial = partials.pointer(as: T.self) + group * partialSize
            for c in chunkRange {
                let images = g.images(ofChunk: c, imagesPerChunk: per)
                let n = images.count * tiling.perImage, ld = Tiling.leadingDimension(tiles: n)
                inputTransform(px, channels: C, images: images, g, tiling, rows: rows, v, ld: ld)
                outputGradientTransform(pg, channels: O, images: images, g, tiling, rows: rows, m, ld: ld)
                let vStride = Tiling.pointStride(channels: C, ld: ld), mStride = Tiling.pointStride(channels: O, ld: ld)
                for xi in 0..<16 {
                    BLASDispatch.gemm(T.self, transA: false, transB: true, m: O, n: C, k: n,
                                      a: m + xi * mStride, lda: ld, b: v + xi * vStride, ldb: ld, beta: 1,
                                      c: partial + xi * pointSize, ldc: C)
                }
            }
        }
        let sum = partials.pointer(as: T.self)
        ElementwiseKernels.addPartials(sum, size: partialSize, groups: groups, into: sum)
        return Tensor.make(g.weightShape, T.self) { out in
            for o in 0..<O {
                for c in 0..<C { filterGradientTransform(sum + o * C + c, stride: pointSize, out + (o * C + c) * 9) }
            }
        }
    }

    // MARK: - Shared pipeline

    /// out[n, o] = Σ_c input[n, c] ⋆ filter[o, c] (3×3 correlation, padding 1) with `filters` already
    /// transformed to [16, outChannels, channels].
    static func correlate<T: TensorScalar>(_: T.Type, _ input: UnsafePointer<T>, channels C: Int, filters u: UnsafePointer<T>,
                                           outChannels O: Int, _ g: ConvGeometry, _ out: UnsafeMutablePointer<T>) {
        let tiling = Tiling(g)
        let per = tiling.imagesPerChunk(batch: g.batch), N = per * tiling.perImage
        let workers = g.splitCount(g.chunkCount(imagesPerChunk: per))
        let ldMax = Tiling.leadingDimension(tiles: N)
        let scratch = (0..<workers).map { _ in
            (v: Storage(count: 16 * Tiling.pointStride(channels: C, ld: ldMax), dtype: T.dtype),
             m: Storage(count: 16 * Tiling.pointStride(channels: O, ld: ldMax), dtype: T.dtype),
             rows: Storage(count: tiling.scratchCount, dtype: T.dtype))
        }
        g.forEachChunk(imagesPerChunk: per, workers: workers) { worker, images in
            let v = scratch[worker].v.pointer(as: T.self), m = scratch[worker].m.pointer(as: T.self)
            let rows = scratch[worker].rows.pointer(as: T.self)
            let n = images.count * tiling.perImage, ld = Tiling.leadingDimension(tiles: n)
            inputTransform(input, channels: C, images: images, g, tiling, rows: rows, v, ld: ld)
            let vStride = Tiling.pointStride(channels: C, ld: ld), mStride = Tiling.pointStride(channels: O, ld: ld)
            for xi in 0..<16 {
                BLASDispatch.gemm(T.self, transA: false, transB: false, m: O, n: n, k: C,
                                  a: u + xi * O * C, lda: C, b: v + xi * vStride, ldb: ld, c: m + xi * mStride, ldc: ld)
            }
            outputTransform(m, channels: O, images: images, g, tiling, rows: rows, out, ld: ld)
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

    // The tile transforms run on eight horizontally adjacent tiles at once, one per SIMD lane.
    // A tile's four input columns 2t…2t+3 (of the zero-padded plane) are the even and odd
    // columns at t and t + 1, so each row is first split into its even and odd columns; after
    // that every operand is a plain vector load at a unit-stride offset, with no lane shuffles.

    @inline(__always)
    static func load<T: TensorScalar>(_ p: UnsafePointer<T>) -> SIMD8<T> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<T>.self)
    }

    @inline(__always)
    static func store<T: TensorScalar>(_ v: SIMD8<T>, _ p: UnsafeMutablePointer<T>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<T>.self)
    }

    /// v[ξ, c, tile] = (Bᵀ d B)[ξ] of each tile's 4×4 patch d of the zero-padded input, for the
    /// images `images`; `ld` (≥ tiles + lanes) is the row length of v.
    static func inputTransform<T: TensorScalar>(_ x: UnsafePointer<T>, channels C: Int, images: Range<Int>, _ g: ConvGeometry,
                                                _ tiling: Tiling, rows: UnsafeMutablePointer<T>,
                                                _ v: UnsafeMutablePointer<T>, ld: Int) {
        let H = g.height, W = g.width, TY = tiling.tilesY, TX = tiling.tilesX, span = tiling.rowSpan
        let ps = Tiling.pointStride(channels: C, ld: ld)
        // Padded row r holds input row r − 1; its even columns 2i are input columns 2i − 1, its
        // odd columns input columns 2i. Entries never written stay zero: the padding.
        rows.update(repeating: 0, count: tiling.scratchCount)
        for c in 0..<C {
            for n in images {
                let src = x + (n * C + c) * H * W
                for y in 0..<H {
                    let even = rows + (y + 1) * 2 * span, odd = even + span, line = src + y * W
                    var i = 1
                    while 2 * i - 1 < W { even[i] = line[2 * i - 1]; i += 1 }
                    i = 0
                    while 2 * i < W { odd[i] = line[2 * i]; i += 1 }
                }
                let base = v + c * ld + (n - images.lowerBound) * tiling.perImage
                for ty in 0..<TY {
                    let r0 = UnsafePointer(rows + 2 * ty * 2 * span), r1 = r0 + 2 * span, r2 = r1 + 2 * span, r3 = r2 + 2 * span
                    for tx in stride(from: 0, to: TX, by: lanes) {
                        // Columns 0…3 of eight patches in each row: even, odd, even + 1, odd + 1.
                        let a0 = load(r0 + tx), b0 = load(r0 + span + tx), c0 = load(r0 + tx + 1), d0 = load(r0 + span + tx + 1)
                        let a1 = load(r1 + tx), b1 = load(r1 + span + tx), c1 = load(r1 + tx + 1), d1 = load(r1 + span + tx + 1)
                        let a2 = load(r2 + tx), b2 = load(r2 + span + tx), c2 = load(r2 + tx + 1), d2 = load(r2 + span + tx + 1)
                        let a3 = load(r3 + tx), b3 = load(r3 + span + tx), c3 = load(r3 + tx + 1), d3 = load(r3 + span + tx + 1)
                        // Bᵀ d (rows 0−2, 1+2, 2−1, 1−3), then B along each row: (a−c, b+c, c−b, b−d).
                        let o = base + ty * TX + tx
                        rowTimesB(a0 - a2, b0 - b2, c0 - c2, d0 - d2, o, stride: ps)
                        rowTimesB(a1 + a2, b1 + b2, c1 + c2, d1 + d2, o + 4 * ps, stride: ps)
                        rowTimesB(a2 - a1, b2 - b1, c2 - c1, d2 - d1, o + 8 * ps, stride: ps)
                        rowTimesB(a1 - a3, b1 - b3, c1 - c3, d1 - d3, o + 12 * ps, stride: ps)
                    }
                }
            }
        }
    }

    @inline(__always)
    static func rowTimesB<T: TensorScalar>(_ a: SIMD8<T>, _ b: SIMD8<T>, _ c: SIMD8<T>, _ d: SIMD8<T>,
                                           _ dst: UnsafeMutablePointer<T>, stride: Int) {
        store(a - c, dst)
        store(b + c, dst + stride)
        store(c - b, dst + 2 * stride)
        store(b - d, dst + 3 * stride)
    }

    /// out[n, o] tiles = Aᵀ m A from m[ξ, o, tile] (row length `ld` ≥ tiles + lanes), clipped to
    /// the plane when its size is odd.
    static func outputTransform<T: TensorScalar>(_ m: UnsafePointer<T>, channels O: Int, images: Range<Int>, _ g: ConvGeometry,
                                                 _ tiling: Tiling, rows: UnsafeMutablePointer<T>,
                                                 _ out: UnsafeMutablePointer<T>, ld: Int) {
        let H = g.height, W = g.width, TY = tiling.tilesY, TX = tiling.tilesX, span = tiling.rowSpan
        let ps = Tiling.pointStride(channels: O, ld: ld)
        // The even and odd columns of the two output rows of a tile row, interleaved at the end.
        let topEven = rows, topOdd = rows + span, bottomEven = rows + 2 * span, bottomOdd = rows + 3 * span
        for o in 0..<O {
            for n in images {
                let base = m + o * ld + (n - images.lowerBound) * tiling.perImage
                let dst = out + (n * O + o) * H * W
                for ty in 0..<TY {
                    for tx in stride(from: 0, to: TX, by: lanes) {
                        let s = base + ty * TX + tx
                        // Aᵀ m: rows 0+1+2 and 1−2−3, for each of the four columns …
                        let p0 = load(s) + load(s + 4 * ps) + load(s + 8 * ps)
                        let p1 = load(s + ps) + load(s + 5 * ps) + load(s + 9 * ps)
                        let p2 = load(s + 2 * ps) + load(s + 6 * ps) + load(s + 10 * ps)
                        let p3 = load(s + 3 * ps) + load(s + 7 * ps) + load(s + 11 * ps)
                        let q0 = load(s + 4 * ps) - load(s + 8 * ps) - load(s + 12 * ps)
                        let q1 = load(s + 5 * ps) - load(s + 9 * ps) - load(s + 13 * ps)
                        let q2 = load(s + 6 * ps) - load(s + 10 * ps) - load(s + 14 * ps)
                        let q3 = load(s + 7 * ps) - load(s + 11 * ps) - load(s + 15 * ps)
                        // … then A along the columns: even output columns 0+1+2, odd 1−2−3.
                        store(p0 + p1 + p2, topEven + tx); store(p1 - p2 - p3, topOdd + tx)
                        store(q0 + q1 + q2, bottomEven + tx); store(q1 - q2 - q3, bottomOdd + tx)
                    }
                    let y = 2 * ty
                    interleave(topEven, topOdd, into: dst + y * W, width: W)
                    if y + 1 < H { interleave(bottomEven, bottomOdd, into: dst + (y + 1) * W, width: W) }
                }
            }
        }
    }

    /// row[2i] = even[i], row[2i + 1] = odd[i], for the `width` columns of the row.
    @inline(__always)
    static func interleave<T: TensorScalar>(_ even: UnsafePointer<T>, _ odd: UnsafePointer<T>, into row: UnsafeMutablePointer<T>, width: Int) {
        for i in 0..<width / 2 {
            row[2 * i] = even[i]
            row[2 * i + 1] = odd[i]
        }
        if width % 2 == 1 { row[width - 1] = even[width / 2] }
    }

    /// m[ξ, o, tile] = (A dY Aᵀ)[ξ] of each tile's 2×2 output gradient dY (zero beyond the plane):
    /// the adjoint of `outputTransform`.
    static func outputGradientTransform<T: TensorScalar>(_ gy: UnsafePointer<T>, channels O: Int, images: Range<Int>, _ g: ConvGeometry,
                                                         _ tiling: Tiling, rows: UnsafeMutablePointer<T>,
                                                         _ m: UnsafeMutablePointer<T>, ld: Int) {
        let H = g.height, W = g.width, TY = tiling.tilesY, TX = tiling.tilesX, span = tiling.rowSpan
        let ps = Tiling.pointStride(channels: O, ld: ld)
        let topEven = rows, topOdd = rows + span, bottomEven = rows + 2 * span, bottomOdd = rows + 3 * span
        // Columns beyond an odd width stay zero; the row beyond an odd height is cleared below.
        rows.update(repeating: 0, count: 4 * span)
        for o in 0..<O {
            for n in images {
                let src = gy + (n * O + o) * H * W
                let base = m + o * ld + (n - images.lowerBound) * tiling.perImage
                for ty in 0..<TY {
                    let y = 2 * ty
                    deinterleave(src + y * W, width: W, even: topEven, odd: topOdd)
                    if y + 1 < H {
                        deinterleave(src + (y + 1) * W, width: W, even: bottomEven, odd: bottomOdd)
                    } else {
                        bottomEven.update(repeating: 0, count: 2 * span)
                    }
                    for tx in stride(from: 0, to: TX, by: lanes) {
                        let a = load(topEven + tx), b = load(topOdd + tx), c = load(bottomEven + tx), d = load(bottomOdd + tx)
                        // A dY: rows (a b), (a+c b+d), (a−c b−d), (−c −d); then (e, e+f, e−f, −f) along each.
                        let s = base + ty * TX + tx
                        rowTimesAT(a, b, s, stride: ps)
                        rowTimesAT(a + c, b + d, s + 4 * ps, stride: ps)
                        rowTimesAT(a - c, b - d, s + 8 * ps, stride: ps)
                        rowTimesAT(-c, -d, s + 12 * ps, stride: ps)
                    }
                }
            }
        }
    }

    /// even[i] = row[2i], odd[i] = row[2i + 1], for the `width` columns of the row.
    @inline(__always)
    static func deinterleave<T: TensorScalar>(_ row: UnsafePointer<T>, width: Int, even: UnsafeMutablePointer<T>, odd: UnsafeMutablePointer<T>) {
        for i in 0..<width / 2 {
            even[i] = row[2 * i]
            odd[i] = row[2 * i + 1]
        }
        if width % 2 == 1 { even[width / 2] = row[width - 1] }
    }

    @inline(__always)
    static func rowTimesAT<T: TensorScalar>(_ e: SIMD8<T>, _ f: SIMD8<T>, _ dst: UnsafeMutablePointer<T>, stride: Int) {
        store(e, dst)
        store(e + f, dst + stride)
        store(e - f, dst + 2 * stride)
        store(-f, dst + 3 * stride)
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
