import Kernels
import Support

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
    /// The same for the algorithm the passes run with (Winograd does fewer).
    var executedFlops: Double { WinogradKernels.isPreferred(self) ? WinogradKernels.flops(self) : flops }

    /// How many chunks of `per` images the batch makes; the last may hold fewer.
    func chunkCount(imagesPerChunk per: Int) -> Int { (batch + per - 1) / per }

    /// The images of chunk `c`.
    func images(ofChunk c: Int, imagesPerChunk per: Int) -> Range<Int> {
        (c * per)..<Swift.min(batch, (c + 1) * per)
    }

    /// How many threads (or reduction groups, with `limit: Parallel.reductionGroups`) a pass over
    /// `pieces` pieces uses: one for a pass under 2 MFLOP, too small to split.
    func splitCount(_ pieces: Int, limit: Int = Parallel.threadCount) -> Int {
        flops >= 2e6 ? Swift.max(1, Swift.min(limit, pieces)) : 1
    }

    /// Runs `body(worker, images)` over the chunks of the batch, each of `workers` threads taking a
    /// contiguous run of chunks; kernels called inside run serially.
    func forEachChunk(imagesPerChunk per: Int, workers: Int, _ body: (Int, Range<Int>) -> Void) {
        let chunks = chunkCount(imagesPerChunk: per)
        Parallel.forEachChunk(workers) { w in
            for c in (chunks * w / workers)..<(chunks * (w + 1) / workers) {
                body(w, images(ofChunk: c, imagesPerChunk: per))
            }
        }
    }

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

/// im2col + GEMM convolution and its two adjoints. The batch is cut into chunks of a few
/// images; each worker thread runs im2col, one GEMM and the layout change on its own chunks, so
/// the im2col matrix stays in cache and no pass runs over the whole batch's columns.
enum ConvolutionKernels {
    /// Images per chunk: enough for a GEMM about a thousand columns wide.
    static func imagesPerChunk(_ g: ConvGeometry) -> Int {
        max(1, min(g.batch, (1024 + g.outPixels - 1) / g.outPixels))
    }

    /// Runs `body(worker, chunkImages)` over the chunks of the batch on as many threads as pay.
    static func forEachChunk(_ g: ConvGeometry, _ body: (Int, Range<Int>) -> Void) {
        let per = imagesPerChunk(g)
        g.forEachChunk(imagesPerChunk: per, workers: g.splitCount(g.chunkCount(imagesPerChunk: per)), body)
    }

    /// col[r, (n − first)·P + p] = x[n, c, oy + ky − pad, ox + kx − pad], r = (c·k + ky)·k + kx,
    /// for the images `images`; `ld` is the row length of col.
    static func im2col<T: TensorScalar>(_ x: UnsafePointer<T>, _ g: ConvGeometry, images: Range<Int>, _ col: UnsafeMutablePointer<T>, ld: Int) {
        let k = g.kernel, H = g.height, W = g.width, Ho = g.outHeight, Wo = g.outWidth, P = g.outPixels
        for r in 0..<g.patchSize {
            let c = r / (k * k), ky = (r / k) % k, kx = r % k
            let lo = Swift.max(0, g.padding - kx), hi = Swift.min(Wo, W + g.padding - kx)
            for n in images {
                let src = x + (n * g.inChannels + c) * H * W
                let dst = col + r * ld + (n - images.lowerBound) * P
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

    /// x[n, c, iy, ix] = Σ col[r, (n − first)·P + p] over the (r, p) that read it: the adjoint of
    /// im2col, for the images `images` (which it overwrites).
    static func col2im<T: TensorScalar>(_ col: UnsafePointer<T>, _ g: ConvGeometry, images: Range<Int>, ld: Int, _ x: UnsafeMutablePointer<T>) {
        let k = g.kernel, H = g.height, W = g.width, Ho = g.outHeight, Wo = g.outWidth, P = g.outPixels
        let planeSize = g.inChannels * H * W
        (x + images.lowerBound * planeSize).update(repeating: 0, count: images.count * planeSize)
        for r in 0..<g.patchSize {
            let c = r / (k * k), ky = (r / k) % k, kx = r % k
            let lo = Swift.max(0, g.padding - kx), hi = Swift.min(Wo, W + g.padding - kx)
            guard lo < hi else { continue }
            for n in images {
                let src = col + r * ld + (n - images.lowerBound) * P
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

    /// [A, B, P] → [B, A, P]: moves between the GEMM's channel-major layout and NCHW.
    static func swapLeadingAxes<T: TensorScalar>(_ src: UnsafePointer<T>, _ a: Int, _ b: Int, _ p: Int, _ dst: UnsafeMutablePointer<T>) {
        for j in 0..<b {
            for i in 0..<a { (dst + (j * a + i) * p).update(from: src + (i * b + j) * p, count: p) }
        }
    }

    /// Per-worker scratch: an im2col matrix and a channel-major block for one chunk.
    struct Scratch<T: TensorScalar> {
        let col: Storage
        let block: Storage

        init(_ g: ConvGeometry) {
            let columns = imagesPerChunk(g) * g.outPixels
            col = Storage(count: g.patchSize * columns, dtype: T.dtype)
            block = Storage(count: g.outChannels * columns, dtype: T.dtype)
        }
    }

    static func workerScratch<T: TensorScalar>(_: T.Type, _ g: ConvGeometry) -> [Scratch<T>] {
        (0..<Swift.min(Parallel.threadCount, g.batch)).map { _ in Scratch<T>(g) }
    }

    static func forward<T: TensorScalar>(_: T.Type, x: Tensor, w: Tensor, _ g: ConvGeometry) -> Tensor {
        if ThinConvolutionKernels.isPreferred(g) { return ThinConvolutionKernels.forward(T.self, x: x, w: w, g) }
        if WinogradKernels.isPreferred(g) { return WinogradKernels.forward(T.self, x: x, w: w, g) }
        return im2colForward(T.self, x: x, w: w, g)
    }

    static func inputGradient<T: TensorScalar>(_: T.Type, gy: Tensor, w: Tensor, _ g: ConvGeometry) -> Tensor {
        if ThinConvolutionKernels.isPreferred(g) { return ThinConvolutionKernels.inputGradient(T.self, gy: gy, w: w, g) }
        if WinogradKernels.isPreferred(g) { return WinogradKernels.inputGradient(T.self, gy: gy, w: w, g) }
        return im2colInputGradient(T.self, gy: gy, w: w, g)
    }

    static func weightGradient<T: TensorScalar>(_: T.Type, x: Tensor, gy: Tensor, _ g: ConvGeometry) -> Tensor {
        if ThinConvolutionKernels.isPreferred(g) { return ThinConvolutionKernels.weightGradient(T.self, x: x, gy: gy, g) }
        if WinogradKernels.isPreferred(g) { return WinogradKernels.weightGradient(T.self, x: x, gy: gy, g) }
        return im2colWeightGradient(T.self, x: x, gy: gy, g)
    }

    static func im2colForward<T: TensorScalar>(_: T.Type, x: Tensor, w: Tensor, _ g: ConvGeometry) -> Tensor {
        let scratch = workerScratch(T.self, g)
        let px = x.storage.pointer(as: T.self), pw = w.storage.pointer(as: T.self)
        let P = g.outPixels, O = g.outChannels
        return Tensor.make(g.outputShape, T.self) { out in
            forEachChunk(g) { worker, images in
                let col = scratch[worker].col.pointer(as: T.self), columns = images.count * P
                im2col(px, g, images: images, col, ld: columns)
                // One image: the GEMM writes its NCHW plane directly; more: via the block.
                let single = images.count == 1
                let target = single ? out + images.lowerBound * O * P : scratch[worker].block.pointer(as: T.self)
                BLASDispatch.gemm(T.self, transA: false, transB: false, m: O, n: columns, k: g.patchSize,
                                  a: pw, lda: g.patchSize, b: col, ldb: columns, c: target, ldc: columns)
                if !single { swapLeadingAxes(target, O, images.count, P, out + images.lowerBound * O * P) }
            }
        }
    }

    /// The adjoint with respect to the input: col2im(Wᵀ · gy).
    static func im2colInputGradient<T: TensorScalar>(_: T.Type, gy: Tensor, w: Tensor, _ g: ConvGeometry) -> Tensor {
        let scratch = workerScratch(T.self, g)
        let pg = gy.storage.pointer(as: T.self), pw = w.storage.pointer(as: T.self)
        let P = g.outPixels, O = g.outChannels
        return Tensor.make(g.inputShape, T.self) { out in
            forEachChunk(g) { worker, images in
                let col = scratch[worker].col.pointer(as: T.self), columns = images.count * P
                var source = pg + images.lowerBound * O * P
                if images.count > 1 {
                    let block = scratch[worker].block.pointer(as: T.self)
                    swapLeadingAxes(source, images.count, O, P, block)
                    source = block
                }
                BLASDispatch.gemm(T.self, transA: true, transB: false, m: g.patchSize, n: columns, k: O,
                                  a: pw, lda: g.patchSize, b: source, ldb: columns, c: col, ldc: columns)
                col2im(col, g, images: images, ld: columns, out)
            }
        }
    }

    /// The adjoint with respect to the weight: gy · im2col(x)ᵀ, summed over the chunks of each
    /// reduction group (`Parallel.reductionGroups`) and then over the groups in order, so it
    /// rounds the same on any number of threads.
    static func im2colWeightGradient<T: TensorScalar>(_: T.Type, x: Tensor, gy: Tensor, _ g: ConvGeometry) -> Tensor {
        let per = imagesPerChunk(g), chunks = g.chunkCount(imagesPerChunk: per)
        let groups = g.splitCount(chunks, limit: Parallel.reductionGroups)
        let scratch = (0..<groups).map { _ in Scratch<T>(g) }
        let px = x.storage.pointer(as: T.self), pg = gy.storage.pointer(as: T.self)
        let P = g.outPixels, O = g.outChannels, size = O * g.patchSize
        let partials = Storage(count: size * groups, dtype: T.dtype, zeroed: true)
        Parallel.forEachGroup(chunks, groups: groups) { group, chunkRange in
            for c in chunkRange {
                let images = g.images(ofChunk: c, imagesPerChunk: per)
                let col = scratch[group].col.pointer(as: T.self), columns = images.count * P
                im2col(px, g, images: images, col, ld: columns)
                var source = pg + images.lowerBound * O * P
                if images.count > 1 {
                    let block = scratch[group].block.pointer(as: T.self)
                    swapLeadingAxes(source, images.count, O, P, block)
                    source = block
                }
                BLASDispatch.gemm(T.self, transA: false, transB: true, m: O, n: g.patchSize, k: columns,
                                  a: source, lda: columns, b: col, ldb: columns, beta: 1,
                                  c: partials.pointer(as: T.self) + group * size, ldc: g.patchSize)
            }
        }
        return Tensor.make(g.weightShape, T.self) { out in
            ElementwiseKernels.addPartials(partials.pointer(as: T.self), size: size, groups: groups, into: out)
        }
    }
}
