import Foundation
import Support

public enum GEMMBackend: String, Sendable, CaseIterable {
    /// `GEMM.defaultBackend`.
    case automatic
    /// The blocked SIMD Swift kernels of this module.
    case swift
    /// OpenBLAS through dlopen; falls back to `.swift` when the library is not loadable.
    case openBLAS
}

public enum GEMM {
    /// Row-major C = alpha * op(A) * op(B) + beta * C, op(A) is m×k, op(B) is k×n.
    /// transA: A is stored k×m (lda ≥ m) and used transposed; likewise transB (B stored n×k).
    /// beta == 0 ignores C's old contents (may be uninitialised/NaN).
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                             alpha: Float, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
                             backend: GEMMBackend = .automatic) {
        checkArguments(transA: transA, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc)
        if m == 0 || n == 0 { return }
        if k == 0 || alpha == 0 {
            scale(c, rows: m, cols: n, ldc: ldc, by: beta)
            return
        }
        let resolved = backend == .automatic ? defaultBackend : backend
        if resolved == .openBLAS, let lib = openBLASLibrary,
           fitsInt32(m, n, k, lda, ldb, ldc) {
            lib.sgemm(cblasRowMajor, transA ? cblasTrans : cblasNoTrans, transB ? cblasTrans : cblasNoTrans,
                      Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
            return
        }
        // One or two rows or columns would waste most of a 6×16 tile; the packed path measured
        // faster from three of each on, even at 8×8×8.
        if m <= 2 || n <= 2 {
            simpleGEMM(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                       b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, rows: 0..<m)
            return
        }
        blockedSGEMM(SGEMMOperands(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                                   a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc))
    }

    /// Same for Double: OpenBLAS dgemm when present, else a straightforward row-parallel Swift loop
    /// (used for Float64 finite-difference checks, where correctness matters more than speed).
    public static func dgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                             alpha: Double, a: UnsafePointer<Double>, lda: Int,
                             b: UnsafePointer<Double>, ldb: Int,
                             beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int,
                             backend: GEMMBackend = .automatic) {
        checkArguments(transA: transA, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc)
        if m == 0 || n == 0 { return }
        if k == 0 || alpha == 0 {
            scale(c, rows: m, cols: n, ldc: ldc, by: beta)
            return
        }
        let resolved = backend == .automatic ? defaultBackend : backend
        if resolved == .openBLAS, let lib = openBLASLibrary,
           fitsInt32(m, n, k, lda, ldb, ldc) {
            lib.dgemm(cblasRowMajor, transA ? cblasTrans : cblasNoTrans, transB ? cblasTrans : cblasNoTrans,
                      Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
            return
        }
        let threads = Parallel.threadCount
        let chunks = Double(m) * Double(n) * Double(k) >= 1_000_000 ? min(threads, m) : 1
        Parallel.forEachChunk(chunks) { i in
            simpleGEMM(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                       b: b, ldb: ldb, beta: beta, c: c, ldc: ldc,
                       rows: m * i / chunks ..< m * (i + 1) / chunks)
        }
    }

    /// The backend `.automatic` resolves to: the Swift kernels, unless `GTN_GEMM=openblas`
    /// asks for OpenBLAS and it loads (see `resolvedDefaultBackend` for why).
    public static var defaultBackend: GEMMBackend { resolvedDefaultBackend }
}

/// The Swift kernels unless `GTN_GEMM=openblas` asks for OpenBLAS (and it loads). Measured
/// here, OpenBLAS is no faster on the training loop's shapes, and its own thread pool, which
/// keeps spinning after each call, competes with the engine's threads and made whole outer
/// iterations slower (docs/performance.md §11).
private let resolvedDefaultBackend: GEMMBackend = {
    switch ProcessInfo.processInfo.environment["GTN_GEMM"]?.lowercased() {
    case "openblas": return OpenBLAS.isAvailable ? .openBLAS : .swift
    default: return .swift
    }
}()

/// Unlike BLAS, a leading dimension of 0 is accepted for an empty matrix (e.g. lda = k = 0):
/// such calls never reach OpenBLAS.
@inline(__always)
private func checkArguments(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int) {
    precondition(m >= 0 && n >= 0 && k >= 0, "GEMM: negative dimension")
    precondition(lda >= (transA ? m : k), "GEMM: lda smaller than a row of A")
    precondition(ldb >= (transB ? k : n), "GEMM: ldb smaller than a row of B")
    precondition(ldc >= n, "GEMM: ldc smaller than a row of C")
}

/// OpenBLAS takes 32-bit sizes; larger problems go to the Swift kernels.
@inline(__always)
private func fitsInt32(_ m: Int, _ n: Int, _ k: Int, _ lda: Int, _ ldb: Int, _ ldc: Int) -> Bool {
    max(m, n, k, lda, ldb, ldc) <= Int(Int32.max)
}

/// C = beta·C, with beta == 0 writing zeros without reading C.
private func scale<T: BinaryFloatingPoint>(_ c: UnsafeMutablePointer<T>, rows: Int, cols: Int, ldc: Int, by beta: T) {
    if beta == 1 { return }
    for i in 0..<rows {
        let row = c + i * ldc
        if beta == 0 {
            for j in 0..<cols { row[j] = 0 }
        } else {
            for j in 0..<cols { row[j] *= beta }
        }
    }
}

/// Unblocked GEMM on the given rows of C: row-axpy form when B is untransposed (contiguous inner
/// loop over C and B), dot-product form when B is stored n×k (contiguous over k).
@inline(__always)
func simpleGEMM<T: BinaryFloatingPoint>(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: T, a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
    beta: T, c: UnsafeMutablePointer<T>, ldc: Int, rows: Range<Int>
) {
    for i in rows {
        let ci = c + i * ldc
        if !transB {
            if beta == 0 {
                for j in 0..<n { ci[j] = 0 }
            } else if beta != 1 {
                for j in 0..<n { ci[j] *= beta }
            }
            for p in 0..<k {
                let s = alpha * (transA ? a[p * lda + i] : a[i * lda + p])
                let bp = b + p * ldb
                for j in 0..<n { ci[j] += s * bp[j] }
            }
        } else {
            for j in 0..<n {
                let bj = b + j * ldb
                // Four partial sums break the serial dependency chain of one accumulator.
                var s0: T = 0, s1: T = 0, s2: T = 0, s3: T = 0
                var p = 0
                if transA {
                    while p + 4 <= k {
                        s0 += a[p * lda + i] * bj[p]
                        s1 += a[(p + 1) * lda + i] * bj[p + 1]
                        s2 += a[(p + 2) * lda + i] * bj[p + 2]
                        s3 += a[(p + 3) * lda + i] * bj[p + 3]
                        p += 4
                    }
                    while p < k { s0 += a[p * lda + i] * bj[p]; p += 1 }
                } else {
                    let ai = a + i * lda
                    while p + 4 <= k {
                        s0 += ai[p] * bj[p]
                        s1 += ai[p + 1] * bj[p + 1]
                        s2 += ai[p + 2] * bj[p + 2]
                        s3 += ai[p + 3] * bj[p + 3]
                        p += 4
                    }
                    while p < k { s0 += ai[p] * bj[p]; p += 1 }
                }
                let sum = alpha * ((s0 + s1) + (s2 + s3))
                ci[j] = beta == 0 ? sum : sum + beta * ci[j]
            }
        }
    }
}
