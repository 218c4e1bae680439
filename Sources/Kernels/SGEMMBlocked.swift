import Support

// BLIS-style single-precision GEMM: packed panels around a 6×16 register-blocked micro-kernel
// (12 SIMD8<Float> accumulators). Blocking sizes are the fastest measured on the target cache
// sizes (below); KC and MC are rebalanced per problem so a K of 288 becomes one 288-deep block instead of 256 + 32.

/// Rows of C per micro-tile.
let gemmMR = 6
/// Columns of C per micro-tile (two SIMD8 vectors).
let gemmNR = 16
/// Largest K block: an A panel (MC×KC) stays in L2, a B micro-panel (KC×16) in L1.
let gemmKCMax = 384
/// Floats in a packed A block (MC×KC, 192 KiB): it must stay in L2 (512 KiB on Zen3) next to
/// the B panels streaming through. Sizing MC by bytes rather than rows lets the conv shapes
/// (m ≤ 128 at KC ≤ 384) run as a single M block.
let gemmABlockFloats = 48 * 1024
/// Floats in a packed B block (KC×NC, 256 KiB): NC is sized by bytes so the block stays in L2
/// next to the A block between being packed and being read (a 2048-wide block at K = 288
/// spilled to L3 and cost a fifth of the speed of the M64 K288 conv shape).
let gemmBBlockFloats = 64 * 1024

/// Per-thread packing storage, reused across calls through `packBufferPool`.
final class PackBuffer: @unchecked Sendable {
    let a: UnsafeMutablePointer<Float>
    let b: UnsafeMutablePointer<Float>
    /// Scratch for edge tiles that do not fill a whole 6×16 tile.
    let tile: UnsafeMutablePointer<Float>
    private let raw: UnsafeMutableRawPointer

    init() {
        let aCount = gemmABlockFloats
        let bCount = gemmBBlockFloats
        let tileCount = gemmMR * gemmNR
        raw = UnsafeMutableRawPointer.allocate(
            byteCount: (aCount + bCount + tileCount) * MemoryLayout<Float>.stride, alignment: 64)
        let base = raw.bindMemory(to: Float.self, capacity: aCount + bCount + tileCount)
        a = base
        b = base + aCount
        tile = base + aCount + bCount
    }

    deinit { raw.deallocate() }
}

/// Free buffers; grows to the largest number of concurrent users and then allocates nothing.
private let packBufferPool = Locked<[PackBuffer]>([])

@inline(__always)
private func withPackBuffer(_ body: (PackBuffer) -> Void) {
    let buffer = packBufferPool.withLock { $0.popLast() } ?? PackBuffer()
    body(buffer)
    packBufferPool.withLock { $0.append(buffer) }
}

/// The operands of one GEMM call; `alpha` is folded into the packed A panel.
struct SGEMMOperands {
    var transA: Bool, transB: Bool
    var m: Int, n: Int, k: Int
    var alpha: Float
    var a: UnsafePointer<Float>, lda: Int
    var b: UnsafePointer<Float>, ldb: Int
    var beta: Float
    var c: UnsafeMutablePointer<Float>, ldc: Int
}

/// Splits the problem across threads and runs the blocked loop nest on each part with its own
/// packing buffers. Splits N (in whole 16-column panels) when it is wide enough, else M (in whole
/// 6-row tiles). Wide problems get up to 4 parts per thread, handed out dynamically by
/// concurrentPerform, so a core shared with another process does not hold up the whole call.
func blockedSGEMM(_ op: SGEMMOperands) {
    let threads = Parallel.threadCount
    let work = Double(op.m) * Double(op.n) * Double(op.k)
    let nPanels = (op.n + gemmNR - 1) / gemmNR
    let mTiles = (op.m + gemmMR - 1) / gemmMR
    var nParts = 1, mParts = 1
    // Below about 100^3 multiply-adds the dispatch and duplicated packing cost more than they save.
    if threads > 1 && work >= 1_000_000 {
        // A part narrower than one N block would re-pack A more often than a serial run does.
        let kcBlock = balancedBlock(op.k, max: gemmKCMax, multiple: 8)
        let minPartPanels = max(8, gemmBBlockFloats / kcBlock / gemmNR)
        if nPanels >= 4 * threads {
            nParts = threads * min(4, max(1, nPanels / (threads * minPartPanels)))
        } else if mTiles >= 4 * threads {
            mParts = threads * min(4, max(1, mTiles / (threads * 8)))
        } else if nPanels >= 2 {
            nParts = min(threads, nPanels)
        }
    }
    let nChunk = (nPanels + nParts - 1) / nParts * gemmNR
    let mChunk = (mTiles + mParts - 1) / mParts * gemmMR
    nParts = (op.n + nChunk - 1) / nChunk
    mParts = (op.m + mChunk - 1) / mChunk
    Parallel.forEachChunk(nParts * mParts) { part in
        let i0 = (part % mParts) * mChunk
        let j0 = (part / mParts) * nChunk
        withPackBuffer { buffer in
            blockedSGEMMPart(op, rows: i0..<min(op.m, i0 + mChunk), cols: j0..<min(op.n, j0 + nChunk), buffer)
        }
    }
}

@inline(__always)
private func roundUp(_ x: Int, _ multiple: Int) -> Int { (x + multiple - 1) / multiple * multiple }

/// Splits `total` into the fewest blocks of at most `maxBlock`, of nearly equal size rounded up to `multiple`.
@inline(__always)
private func balancedBlock(_ total: Int, max maxBlock: Int, multiple: Int) -> Int {
    let blocks = (total + maxBlock - 1) / maxBlock
    return min(maxBlock, roundUp((total + blocks - 1) / blocks, multiple))
}

private func blockedSGEMMPart(_ op: SGEMMOperands, rows: Range<Int>, cols: Range<Int>, _ buffer: PackBuffer) {
    let kcBlock = balancedBlock(op.k, max: gemmKCMax, multiple: 8)
    let mcMax = max(gemmMR, gemmABlockFloats / kcBlock / gemmMR * gemmMR)
    let mcBlock = balancedBlock(rows.count, max: mcMax, multiple: gemmMR)
    let ncMax = max(gemmNR, gemmBBlockFloats / kcBlock / gemmNR * gemmNR)
    if rows.count <= mcBlock && op.k <= kcBlock {
        // A single A block (the forward conv shapes): pack it once and stream the N blocks past
        // it instead of re-packing it per N block. With several K blocks the N-outer order below
        // is faster (measured: M128 K576 lost 10%), as C's block stays in cache across K blocks.
        var pc = 0
        while pc < op.k {
            let kc = min(kcBlock, op.k - pc)
            packA(op, ic: rows.lowerBound, mc: rows.count, pc: pc, kc: kc, into: buffer.a)
            var jc = cols.lowerBound
            while jc < cols.upperBound {
                let nc = min(ncMax, cols.upperBound - jc)
                if !readsBInPlace(op) { packB(op, pc: pc, kc: kc, jc: jc, nc: nc, into: buffer.b) }
                macroKernel(op, ic: rows.lowerBound, mc: rows.count, jc: jc, nc: nc, pc: pc, kc: kc, buffer)
                jc += nc
            }
            pc += kc
        }
        return
    }
    var jc = cols.lowerBound
    while jc < cols.upperBound {
        let nc = min(ncMax, cols.upperBound - jc)
        var pc = 0
        while pc < op.k {
            let kc = min(kcBlock, op.k - pc)
            if !readsBInPlace(op) { packB(op, pc: pc, kc: kc, jc: jc, nc: nc, into: buffer.b) }
            var ic = rows.lowerBound
            while ic < rows.upperBound {
                let mc = min(mcBlock, rows.upperBound - ic)
                packA(op, ic: ic, mc: mc, pc: pc, kc: kc, into: buffer.a)
                macroKernel(op, ic: ic, mc: mc, jc: jc, nc: nc, pc: pc, kc: kc, buffer)
                ic += mc
            }
            pc += kc
        }
        jc += nc
    }
}

/// Whether the micro-kernel reads B's rows where they are instead of from a packed copy: for an
/// untransposed B the 16 values it loads per k are already contiguous, and packing cost a pass
/// over B per call (a tenth of the Winograd convolutions, whose K is small). Row strides that are
/// multiples of 256 bytes would map a panel's rows onto few L1 sets, so those are still packed.
@inline(__always)
private func readsBInPlace(_ op: SGEMMOperands) -> Bool { !op.transB && op.ldb % 64 != 0 }

/// All micro-tiles of C[ic..<ic+mc, jc..<jc+nc] from the packed A block and the B block (packed,
/// or read in place with only partial panels packed); each B micro-panel stays in L1 while the
/// A block streams past it from L2.
@inline(__always)
private func macroKernel(_ op: SGEMMOperands, ic: Int, mc: Int, jc: Int, nc: Int, pc: Int, kc: Int, _ buffer: PackBuffer) {
    // Only the first K block applies beta; later ones accumulate onto it.
    let beta: Float = pc == 0 ? op.beta : 1
    let inPlace = readsBInPlace(op)
    var jr = 0
    while jr < nc {
        let tileCols = min(gemmNR, nc - jr)
        var bPanel = UnsafePointer(buffer.b + jr * kc)
        var bStride = gemmNR
        if inPlace {
            if tileCols == gemmNR {
                bPanel = op.b + pc * op.ldb + jc + jr
                bStride = op.ldb
            } else {
                packB(op, pc: pc, kc: kc, jc: jc + jr, nc: tileCols, into: buffer.b + jr * kc)
            }
        }
        var ir = 0
        while ir < mc {
            microKernel6x16(
                kc: kc, a: UnsafePointer(buffer.a + ir * kc), b: bPanel, bStride: bStride,
                c: op.c + (ic + ir) * op.ldc + jc + jr, ldc: op.ldc, beta: beta,
                rows: min(gemmMR, mc - ir), cols: tileCols, tile: buffer.tile)
            ir += gemmMR
        }
        jr += gemmNR
    }
}

/// Packs alpha·op(A)[ic..<ic+mc, pc..<pc+kc] as MR-row panels, each laid out p-major
/// (MR consecutive values per p), zero-padding the last panel's missing rows.
@inline(never)
private func packA(_ op: SGEMMOperands, ic: Int, mc: Int, pc: Int, kc: Int, into ap: UnsafeMutablePointer<Float>) {
    let alpha = op.alpha
    var ir = 0
    while ir < mc {
        let rows = min(gemmMR, mc - ir)
        let dst = ap + ir * kc
        if !op.transA {
            if rows == gemmMR {
                let r0 = op.a + (ic + ir) * op.lda + pc
                let r1 = r0 + op.lda, r2 = r1 + op.lda, r3 = r2 + op.lda, r4 = r3 + op.lda, r5 = r4 + op.lda
                for p in 0..<kc {
                    let d = dst + p * gemmMR
                    d[0] = alpha * r0[p]; d[1] = alpha * r1[p]; d[2] = alpha * r2[p]
                    d[3] = alpha * r3[p]; d[4] = alpha * r4[p]; d[5] = alpha * r5[p]
                }
            } else {
                for r in 0..<gemmMR {
                    if r < rows {
                        let src = op.a + (ic + ir + r) * op.lda + pc
                        for p in 0..<kc { dst[p * gemmMR + r] = alpha * src[p] }
                    } else {
                        for p in 0..<kc { dst[p * gemmMR + r] = 0 }
                    }
                }
            }
        } else {
            // Stored k×m: the MR values for one p are contiguous.
            for p in 0..<kc {
                let src = op.a + (pc + p) * op.lda + ic + ir
                let d = dst + p * gemmMR
                if rows == gemmMR {
                    d[0] = alpha * src[0]; d[1] = alpha * src[1]; d[2] = alpha * src[2]
                    d[3] = alpha * src[3]; d[4] = alpha * src[4]; d[5] = alpha * src[5]
                } else {
                    for r in 0..<gemmMR { d[r] = r < rows ? alpha * src[r] : 0 }
                }
            }
        }
        ir += gemmMR
    }
}

/// Packs op(B)[pc..<pc+kc, jc..<jc+nc] as NR-column panels, each p-major (NR consecutive values
/// per p), zero-padding the last panel's missing columns.
@inline(never)
private func packB(_ op: SGEMMOperands, pc: Int, kc: Int, jc: Int, nc: Int, into bp: UnsafeMutablePointer<Float>) {
    var jr = 0
    while jr < nc {
        let cols = min(gemmNR, nc - jr)
        let dst = bp + jr * kc
        if !op.transB {
            for p in 0..<kc {
                let src = op.b + (pc + p) * op.ldb + jc + jr
                let d = dst + p * gemmNR
                if cols == gemmNR {
                    let raw = UnsafeRawPointer(src)
                    let out = UnsafeMutableRawPointer(d)
                    out.storeBytes(of: raw.loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                    out.storeBytes(of: raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self),
                                   toByteOffset: 32, as: SIMD8<Float>.self)
                } else {
                    for c in 0..<gemmNR { d[c] = c < cols ? src[c] : 0 }
                }
            }
        } else {
            // Stored n×k: each column of op(B) is a contiguous row of storage. Full 8×8 blocks are
            // transposed in registers (the scalar gather cost a third of the weight-gradient GEMM).
            let src = op.b + (jc + jr) * op.ldb + pc
            var c0 = 0
            while c0 + 8 <= cols {
                var p = 0
                while p + 8 <= kc {
                    transpose8x8(src + c0 * op.ldb + p, op.ldb, dst + p * gemmNR + c0, gemmNR)
                    p += 8
                }
                while p < kc {
                    for c in c0..<c0 + 8 { dst[p * gemmNR + c] = src[c * op.ldb + p] }
                    p += 1
                }
                c0 += 8
            }
            for c in c0..<gemmNR {
                if c < cols {
                    let s = src + c * op.ldb
                    for p in 0..<kc { dst[p * gemmNR + c] = s[p] }
                } else {
                    for p in 0..<kc { dst[p * gemmNR + c] = 0 }
                }
            }
        }
        jr += gemmNR
    }
}

/// dst[i][j] = src[j][i] for an 8×8 block, by three rounds of a perfect unshuffle: each round
/// rotates the 6-bit element index right by one bit, so three swap the row and column bits.
@inline(__always)
private func transpose8x8(_ src: UnsafePointer<Float>, _ lds: Int, _ dst: UnsafeMutablePointer<Float>, _ ldd: Int) {
    var v0 = load8(src), v1 = load8(src + lds), v2 = load8(src + 2 * lds), v3 = load8(src + 3 * lds)
    var v4 = load8(src + 4 * lds), v5 = load8(src + 5 * lds), v6 = load8(src + 6 * lds), v7 = load8(src + 7 * lds)
    for _ in 0..<3 {
        let p0 = SIMD16(lowHalf: v0, highHalf: v1), p1 = SIMD16(lowHalf: v2, highHalf: v3)
        let p2 = SIMD16(lowHalf: v4, highHalf: v5), p3 = SIMD16(lowHalf: v6, highHalf: v7)
        v0 = p0.evenHalf; v1 = p1.evenHalf; v2 = p2.evenHalf; v3 = p3.evenHalf
        v4 = p0.oddHalf; v5 = p1.oddHalf; v6 = p2.oddHalf; v7 = p3.oddHalf
    }
    store8(v0, dst); store8(v1, dst + ldd); store8(v2, dst + 2 * ldd); store8(v3, dst + 3 * ldd)
    store8(v4, dst + 4 * ldd); store8(v5, dst + 5 * ldd); store8(v6, dst + 6 * ldd); store8(v7, dst + 7 * ldd)
}

@inline(__always)
private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// C[row] = v0|v1 + beta·C[row]; beta == 0 never reads C (it may hold NaN).
@inline(__always)
private func updateRow(_ p: UnsafeMutablePointer<Float>, _ v0: SIMD8<Float>, _ v1: SIMD8<Float>, _ beta: Float) {
    if beta == 0 {
        store8(v0, p); store8(v1, p + 8)
    } else if beta == 1 {
        store8(v0 + load8(p), p); store8(v1 + load8(p + 8), p + 8)
    } else {
        let b = SIMD8<Float>(repeating: beta)
        store8(v0.addingProduct(b, load8(p)), p)
        store8(v1.addingProduct(b, load8(p + 8)), p + 8)
    }
}

/// One 6×16 tile of C from a packed A panel (kc×6) and a B panel of kc rows of 16 values,
/// `bStride` apart (16 when packed). Partial tiles (rows < 6 or cols < 16) go through `tile` so
/// the padding never touches C.
@inline(never)
private func microKernel6x16(
    kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, bStride: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float, rows: Int, cols: Int,
    tile: UnsafeMutablePointer<Float>
) {
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
    var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
    var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
    var pa = a, pb = b
    for _ in 0..<kc {
        let b0 = load8(pb), b1 = load8(pb + 8)
        var av = SIMD8<Float>(repeating: pa[0])
        c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
        av = SIMD8<Float>(repeating: pa[1])
        c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
        av = SIMD8<Float>(repeating: pa[2])
        c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
        av = SIMD8<Float>(repeating: pa[3])
        c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
        av = SIMD8<Float>(repeating: pa[4])
        c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
        av = SIMD8<Float>(repeating: pa[5])
        c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
        pa += gemmMR; pb += bStride
    }
    if rows == gemmMR && cols == gemmNR {
        updateRow(c, c00, c01, beta)
        updateRow(c + ldc, c10, c11, beta)
        updateRow(c + 2 * ldc, c20, c21, beta)
        updateRow(c + 3 * ldc, c30, c31, beta)
        updateRow(c + 4 * ldc, c40, c41, beta)
        updateRow(c + 5 * ldc, c50, c51, beta)
        return
    }
    store8(c00, tile); store8(c01, tile + 8)
    store8(c10, tile + 16); store8(c11, tile + 24)
    store8(c20, tile + 32); store8(c21, tile + 40)
    store8(c30, tile + 48); store8(c31, tile + 56)
    store8(c40, tile + 64); store8(c41, tile + 72)
    store8(c50, tile + 80); store8(c51, tile + 88)
    for r in 0..<rows {
        let src = tile + r * gemmNR
        let dst = c + r * ldc
        if beta == 0 {
            for j in 0..<cols { dst[j] = src[j] }
        } else {
            for j in 0..<cols { dst[j] = src[j] + beta * dst[j] }
        }
    }
}
