// TEMPORARY: replaced by helper's real kernels.
import Foundation
public enum GEMMBackend: String, Sendable, CaseIterable { case automatic, swift, openBLAS }
public enum GEMM {
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                             alpha: Float, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
                             backend: GEMMBackend = .automatic) {
        naive(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
    public static func dgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                             alpha: Double, a: UnsafePointer<Double>, lda: Int,
                             b: UnsafePointer<Double>, ldb: Int,
                             beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int,
                             backend: GEMMBackend = .automatic) {
        naive(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
    static func naive<T: BinaryFloatingPoint>(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                             alpha: T, a: UnsafePointer<T>, lda: Int,
                             b: UnsafePointer<T>, ldb: Int,
                             beta: T, c: UnsafeMutablePointer<T>, ldc: Int) {
        for i in 0..<m { for j in 0..<n {
            var s: T = 0
            for p in 0..<k { s += (transA ? a[p*lda+i] : a[i*lda+p]) * (transB ? b[j*ldb+p] : b[p*ldb+j]) }
            c[i*ldc+j] = alpha * s + (beta == 0 ? 0 : beta * c[i*ldc+j])
        } }
    }
}
public enum Parallel {
    public static var threadCount: Int { ProcessInfo.processInfo.activeProcessorCount }
    public static func forEachChunk(_ chunks: Int, _ body: (Int) -> Void) {
        if chunks <= 1 { if chunks == 1 { body(0) }; return }
        withoutActuallyEscaping(body) { b in nonisolated(unsafe) let f = b; DispatchQueue.concurrentPerform(iterations: chunks) { f($0) } }
    }
    public static func forRanges(_ count: Int, minParallel: Int = 65_536, _ body: (Range<Int>) -> Void) {
        let t = threadCount
        if count < minParallel || t < 2 { if count > 0 { body(0..<count) }; return }
        forEachChunk(t) { i in body(count * i / t ..< count * (i + 1) / t) }
    }
}
