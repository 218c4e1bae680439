import Support
import XCTest
@testable import Kernels

/// Shapes chosen to hit every edge: unit sizes, sizes that are not multiples of 6 or 16,
/// k == 0, single rows/columns, a K crossing the K block (384) and an N crossing the N block
/// (65536 / K columns: about 1600 at K = 37).
private let shapes: [(m: Int, n: Int, k: Int)] = [
    (1, 1, 1), (7, 13, 5), (37, 29, 61), (100, 3, 200), (3, 100, 17), (1, 300, 70), (50, 1, 90),
    (6, 16, 1), (12, 32, 8), (13, 47, 0), (20, 40, 400), (7, 2051, 37), (97, 50, 260),
]
/// (alpha, beta) variants: plain, scaled, accumulate, general.
private let scalars: [(alpha: Double, beta: Double)] = [(1, 0), (-0.5, 0), (1, 1), (0.75, -1.5), (0, 2)]

/// A deterministic pseudo-random matrix in [-1, 1).
private func randomValues(_ count: Int, seed: UInt64) -> [Double] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return Double(state >> 11) / Double(1 << 52) - 1
    }
}

/// Storage for one GEMM case with padded leading dimensions (ld = row length + pad).
private struct Case {
    let transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double, beta: Double
    let lda: Int, ldb: Int, ldc: Int
    let a: [Double], b: [Double], c: [Double]

    init(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double, beta: Double, pad: Int, seed: UInt64) {
        self.transA = transA; self.transB = transB; self.m = m; self.n = n; self.k = k
        self.alpha = alpha; self.beta = beta
        lda = max(1, transA ? m : k) + pad
        ldb = max(1, transB ? k : n) + pad
        ldc = n + pad
        a = randomValues((transA ? k : m) * lda, seed: seed)
        b = randomValues((transB ? n : k) * ldb, seed: seed + 1)
        c = randomValues(m * ldc, seed: seed + 2)
    }

    /// C in Double by the definition, leaving the padding of C untouched. Raw pointers keep
    /// this reference quick in debug builds.
    func expected() -> [Double] {
        var out = c
        let (m, n, k, lda, ldb, ldc, transA, transB) = (m, n, k, lda, ldb, ldc, transA, transB)
        let (alpha, beta) = (alpha, beta)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { out in
                    let sA = transA ? 1 : lda, tA = transA ? lda : 1
                    let sB = transB ? ldb : 1, tB = transB ? 1 : ldb
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum = 0.0
                            var ia = i * sA, ib = j * sB
                            for _ in 0..<k {
                                sum += a[ia] * b[ib]
                                ia += tA; ib += tB
                            }
                            out[i * ldc + j] = alpha * sum + (beta == 0 ? 0 : beta * out[i * ldc + j])
                        }
                    }
                }
            }
        }
        return out
    }

    /// Largest |got - want| relative to the scale of the products summed, so the tolerance
    /// does not depend on cancellation in one entry.
    func maxError(_ got: [Double], _ want: [Double]) -> Double {
        let scale = (abs(alpha) * Double(max(k, 1)) + abs(beta)) + 1e-30
        var worst = 0.0
        for idx in 0..<got.count {
            let diff = abs(got[idx] - want[idx])
            worst = max(worst, diff.isNaN ? .infinity : diff / scale)
        }
        return worst
    }

    var label: String { "\(transA ? "Aᵀ" : "A")\(transB ? "Bᵀ" : "B") m\(m) n\(n) k\(k) α\(alpha) β\(beta) lda\(lda) ldb\(ldb) ldc\(ldc)" }
}

private func runSgemm(_ t: Case, backend: GEMMBackend) -> [Double] {
    let a = t.a.map(Float.init), b = t.b.map(Float.init)
    var c = t.c.map(Float.init)
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                GEMM.sgemm(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k,
                           alpha: Float(t.alpha), a: pa.baseAddress!, lda: t.lda,
                           b: pb.baseAddress!, ldb: t.ldb,
                           beta: Float(t.beta), c: pc.baseAddress!, ldc: t.ldc, backend: backend)
            }
        }
    }
    return c.map(Double.init)
}

private func runDgemm(_ t: Case, backend: GEMMBackend) -> [Double] {
    var c = t.c
    t.a.withUnsafeBufferPointer { pa in
        t.b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                GEMM.dgemm(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k,
                           alpha: t.alpha, a: pa.baseAddress!, lda: t.lda,
                           b: pb.baseAddress!, ldb: t.ldb,
                           beta: t.beta, c: pc.baseAddress!, ldc: t.ldc, backend: backend)
            }
        }
    }
    return c
}

/// Every shape × transpose combination × scalar variant, with ld = row length on even
/// seeds and padded ld on odd ones, each with its reference result (computed once, shared by the
/// backends). The big shape runs with one scalar variant to keep debug tests quick.
private let allCases: [(Case, [Double])] = {
    var cases: [(Case, [Double])] = []
    var seed: UInt64 = 1
    for s in shapes {
        let big = s.m * s.n * s.k > 250_000
        for transA in [false, true] {
            for transB in [false, true] {
                for (variant, sc) in scalars.enumerated() where !big || variant == 3 {
                    seed += 1
                    let t = Case(transA: transA, transB: transB, m: s.m, n: s.n, k: s.k,
                                 alpha: sc.alpha, beta: sc.beta, pad: seed % 2 == 0 ? 0 : 3, seed: seed)
                    cases.append((t, t.expected()))
                }
            }
        }
    }
    return cases
}()

/// Two M blocks and two K blocks at one thread (260 rows × 200-deep blocks exceed the A block);
/// an N range split across threads; and an M range split across threads.
private let largeCases: [(Case, [Double])] = [(260, 20, 400), (13, 2100, 40), (40, 100, 300)].flatMap { s in
    [(false, false), (true, true), (false, true), (true, false)].map { ta, tb in
        let t = Case(transA: ta, transB: tb, m: s.0, n: s.1, k: s.2, alpha: 1.25, beta: 0.5, pad: 5, seed: 99)
        return (t, t.expected())
    }
}

private func forEachCase(_ body: (Case, [Double]) -> Void) {
    for (t, want) in allCases { body(t, want) }
}

final class GEMMTests: XCTestCase {
    func testSwiftSgemmMatchesNaive() {
        var count = 0
        forEachCase { t, want in
            let err = t.maxError(runSgemm(t, backend: .swift)
            , want)
            XCTAssertLessThan(err, 1e-5, t.label)
            count += 1
        }
        XCTAssertGreaterThan(count, 200)
    }

    /// The blocked path with one and two threads (split along N or M) and several K and M blocks.
    /// The 2100-column case also crosses the N block (about 1600 columns at K = 40).
    func testSwiftSgemmLargeBlocksAndThreads() {
        defer { Parallel.setThreadCount(nil) }
        for threads in [1, 2] {
            Parallel.setThreadCount(threads)
            for (t, want) in largeCases {
                let err = t.maxError(runSgemm(t, backend: .swift), want)
                XCTAssertLessThan(err, 1e-5, "\(threads) threads: \(t.label)")
            }
        }
    }

    func testOpenBLASSgemmMatchesNaive() throws {
        try XCTSkipUnless(OpenBLAS.isAvailable, "OpenBLAS not loadable")
        forEachCase { t, want in
            let err = t.maxError(runSgemm(t, backend: .openBLAS), want)
            XCTAssertLessThan(err, 1e-5, t.label)
        }
    }

    func testSwiftDgemmMatchesNaive() {
        forEachCase { t, want in
            let err = t.maxError(runDgemm(t, backend: .swift), want)
            XCTAssertLessThan(err, 1e-13, t.label)
        }
    }

    func testOpenBLASDgemmMatchesNaive() throws {
        try XCTSkipUnless(OpenBLAS.isAvailable, "OpenBLAS not loadable")
        forEachCase { t, want in
            let err = t.maxError(runDgemm(t, backend: .openBLAS), want)
            XCTAssertLessThan(err, 1e-13, t.label)
        }
    }

    /// beta == 0 must overwrite C without reading it, even where C holds NaN; padding stays untouched.
    func testBetaZeroIgnoresNaN() {
        let backends: [GEMMBackend] = OpenBLAS.isAvailable ? [.swift, .openBLAS] : [.swift]
        for backend in backends {
            for (m, n, k) in [(3, 5, 4), (40, 70, 30), (97, 130, 260), (5, 9, 0)] {
                let ldc = n + 2
                let a = [Float](repeating: 1, count: m * k + 1)
                let b = [Float](repeating: 2, count: k * n + 1)
                var c = [Float](repeating: .nan, count: m * ldc)
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            GEMM.sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1,
                                       a: pa.baseAddress!, lda: max(k, 1), b: pb.baseAddress!, ldb: n,
                                       beta: 0, c: pc.baseAddress!, ldc: ldc, backend: backend)
                        }
                    }
                }
                for i in 0..<m {
                    for j in 0..<ldc {
                        let v = c[i * ldc + j]
                        if j < n {
                            XCTAssertEqual(v, Float(2 * k), "\(backend) m\(m) n\(n) k\(k) at \(i),\(j)")
                        } else {
                            XCTAssertTrue(v.isNaN, "padding written at \(i),\(j)")
                        }
                    }
                }
            }
        }
    }

    /// Calls from several threads at once share the packing-buffer pool; results must not mix.
    func testConcurrentCallsAreIndependent() {
        let t = Case(transA: false, transB: true, m: 70, n: 90, k: 150, alpha: 1, beta: 0, pad: 1, seed: 7)
        let want = t.expected()
        let results = Locked<[Double]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let err = t.maxError(runSgemm(t, backend: .swift), want)
            results.withLock { $0.append(err) }
        }
        let errors = results.withLock { $0 }
        XCTAssertEqual(errors.count, 8)
        XCTAssertLessThan(errors.max() ?? .infinity, 1e-5)
    }

    func testDefaultBackendResolves() {
        XCTAssertNotEqual(GEMM.defaultBackend, .automatic)
        let requested = ProcessInfo.processInfo.environment["GTN_GEMM"]?.lowercased()
        XCTAssertEqual(GEMM.defaultBackend, requested == "openblas" && OpenBLAS.isAvailable ? .openBLAS : .swift)
        if !OpenBLAS.isAvailable {
            XCTAssertEqual(OpenBLAS.libraryDescription, "not found")
        } else {
            XCTAssertTrue(OpenBLAS.libraryDescription.hasPrefix("OpenBLAS"), OpenBLAS.libraryDescription)
        }
    }
}
