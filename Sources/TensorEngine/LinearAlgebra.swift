import Kernels

/// Row-major GEMM on tensors' storage, dispatched by dtype.
enum BLASDispatch {
    static func gemm<T: TensorScalar>(_: T.Type, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                                      alpha: T = 1, a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                      beta: T = 0, c: UnsafeMutablePointer<T>, ldc: Int) {
        if T.self == Float.self {
            GEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha as! Float,
                       a: UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), lda: lda,
                       b: UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), ldb: ldb, beta: beta as! Float,
                       c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc: ldc)
        } else {
            GEMM.dgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha as! Double,
                       a: UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), lda: lda,
                       b: UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), ldb: ldb, beta: beta as! Double,
                       c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), ldc: ldc)
        }
    }
}

/// Matrix product of rank-2 tensors, op(a) · op(b), where op transposes when asked. The
/// transposes are folded into the GEMM call rather than materialised.
public func matmul(_ a: Tensor, _ b: Tensor, transposingA: Bool = false, transposingB: Bool = false) -> Tensor {
    let (m, k, n) = checked { () throws -> (Int, Int, Int) in
        let op = "matmul"
        guard a.rank == 2, b.rank == 2 else {
            throw TensorError(op: op, "operands must be matrices, got \(describe(a.shape)) and \(describe(b.shape))")
        }
        guard a.dtype == b.dtype else { throw TensorError(op: op, "dtypes \(a.dtype) and \(b.dtype) differ") }
        let m = transposingA ? a.shape[1] : a.shape[0], ka = transposingA ? a.shape[0] : a.shape[1]
        let kb = transposingB ? b.shape[1] : b.shape[0], n = transposingB ? b.shape[0] : b.shape[1]
        guard ka == kb else {
            throw TensorError(op: op, "inner dimensions differ: \(describe(a.shape))\(transposingA ? "ᵀ" : "") · \(describe(b.shape))\(transposingB ? "ᵀ" : "") (\(ka) vs \(kb))")
        }
        return (m, ka, n)
    }
    func run<T: TensorScalar>(_: T.Type) -> Tensor {
        Tensor.make([m, n], T.self) { c in
            BLASDispatch.gemm(T.self, transA: transposingA, transB: transposingB, m: m, n: n, k: k,
                              a: a.storage.pointer(as: T.self), lda: a.shape[1],
                              b: b.storage.pointer(as: T.self), ldb: b.shape[1], c: c, ldc: n)
        }
    }
    let out = profiled("matmul", flops: 2.0 * Double(m * n * k)) { a.dtype == .float32 ? run(Float.self) : run(Double.self) }
    return record("matmul", out, inputs: [a, b]) { g, ctx in
        // C = op(A)·op(B): dA = g·op(B)ᵀ (then transposed back if A was), dB likewise.
        let da: Tensor? = !ctx.needsGradient[0] ? nil :
            (transposingA ? matmul(b, g, transposingA: transposingB, transposingB: true)
                          : matmul(g, b, transposingB: !transposingB))
        let db: Tensor? = !ctx.needsGradient[1] ? nil :
            (transposingB ? matmul(g, a, transposingA: true, transposingB: transposingA)
                          : matmul(a, g, transposingA: !transposingA))
        return [da, db]
    }
}
