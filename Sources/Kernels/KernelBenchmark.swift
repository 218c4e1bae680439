import Foundation
import Support

public struct GEMMBenchmarkRow: Sendable {
    public let label: String
    public let m, n, k: Int
    public let transA, transB: Bool
    public let backend: GEMMBackend
    public let threads: Int
    public let gflops: Double
    public let seconds: Double
}

public enum KernelBenchmark {
    public typealias Shape = (label: String, m: Int, n: Int, k: Int, transA: Bool, transB: Bool)

    /// Times sgemm (median of several reps after warm-up) for the given shapes and backends.
    /// `threads` is what each backend runs with: `Parallel.threadCount` for swift, OpenBLAS's own count.
    public static func gemm(shapes: [Shape], backends: [GEMMBackend], minSeconds: Double = 0.3) -> [GEMMBenchmarkRow] {
        var rows: [GEMMBenchmarkRow] = []
        for shape in shapes {
            let (m, n, k) = (shape.m, shape.n, shape.k)
            let a = randomMatrix(m * k, seed: 1)
            let b = randomMatrix(k * n, seed: 2)
            var c = [Float](repeating: 0, count: m * n)
            let lda = shape.transA ? m : k
            let ldb = shape.transB ? k : n
            // One backend after the other, each after a pause: OpenBLAS's idle threads spin for a
            // while after a call and would steal a core from whatever runs right after them.
            let resolved = backends.map(resolve)
            var times = [[Double]](repeating: [], count: resolved.count)
            for (i, backend) in resolved.enumerated() {
                let run = {
                    a.withUnsafeBufferPointer { pa in
                        b.withUnsafeBufferPointer { pb in
                            c.withUnsafeMutableBufferPointer { pc in
                                guard let ap = pa.baseAddress, let bp = pb.baseAddress, let cp = pc.baseAddress else { return }
                                GEMM.sgemm(transA: shape.transA, transB: shape.transB, m: m, n: n, k: k,
                                           alpha: 1, a: ap, lda: lda, b: bp, ldb: ldb,
                                           beta: 0, c: cp, ldc: n, backend: backend)
                            }
                        }
                    }
                }
                Thread.sleep(forTimeInterval: 0.2)
                run()  // warm-up: page faults, packing buffers, OpenBLAS thread start
                let start = DispatchTime.now().uptimeNanoseconds
                repeat {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    run()
                    times[i].append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
                } while times[i].count < 5 || (Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
                                                  < minSeconds && times[i].count < 10_000)
            }
            for (i, backend) in resolved.enumerated() {
                let sorted = times[i].sorted()
                let median = sorted[sorted.count / 2]
                let threads = backend == .openBLAS ? (OpenBLAS.threadCount ?? 1) : Parallel.threadCount
                rows.append(GEMMBenchmarkRow(
                    label: shape.label, m: m, n: n, k: k, transA: shape.transA, transB: shape.transB,
                    backend: backend, threads: threads, gflops: 2 * Double(m) * Double(n) * Double(k) / median * 1e-9,
                    seconds: median))
            }
        }
        return rows
    }

    /// The FP32 fused multiply-add throughput this binary reaches on this host, in GFLOP/s, on
    /// `Parallel.threadCount` threads: the denominator of `gtn bench`'s fraction of peak. It is
    /// measured, not a constant, because the project's hosts differ in clock and vector units
    /// (Zen 3, Zen 4 and Zen 5 have been seen) and the binary uses 8-lane AVX2 FMAs on all of them.
    /// Each thread runs twelve independent accumulator chains, more than an FMA's latency times
    /// its issue width on these cores, so the loop is bound by throughput; the best of three
    /// timings is kept, as a peak should be.
    public static func fmaPeakGflops(iterations: Int = 40_000_000) -> Double {
        let threads = Parallel.threadCount
        var best = 0.0
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            let sums = Parallel.map(threads, workers: threads) { worker in fmaChains(iterations: iterations, seed: Float(worker)) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            // The sums are used so that the loop cannot be removed; they are finite by construction.
            precondition(sums.allSatisfy(\.isFinite), "fmaPeakGflops: the accumulators overflowed")
            best = max(best, Double(threads * iterations * 12 * 8 * 2) / seconds * 1e-9)
        }
        return best
    }

    @inline(never)
    private static func fmaChains(iterations: Int, seed: Float) -> Float {
        let a = SIMD8<Float>(repeating: 1e-7), b = SIMD8<Float>(repeating: 1 + seed * 1e-3)
        var c0 = SIMD8<Float>(repeating: seed), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0
        var c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0
        for _ in 0..<iterations {
            c0 = c0.addingProduct(a, b); c1 = c1.addingProduct(a, b); c2 = c2.addingProduct(a, b); c3 = c3.addingProduct(a, b)
            c4 = c4.addingProduct(a, b); c5 = c5.addingProduct(a, b); c6 = c6.addingProduct(a, b); c7 = c7.addingProduct(a, b)
            c8 = c8.addingProduct(a, b); c9 = c9.addingProduct(a, b); c10 = c10.addingProduct(a, b); c11 = c11.addingProduct(a, b)
        }
        let total = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11))
        return total.sum()
    }

    /// The GEMMs that dominate training, im2col shapes at batch 128, plus square 512 for comparison.
    public static let noteShapes: [Shape] = [
        ("conv1 M32 K9 N100352", 32, 100_352, 9, false, false),
        ("conv M64 K288 N25088", 64, 25_088, 288, false, false),
        ("conv M128 K576 N6272", 128, 6_272, 576, false, false),
        ("weight-grad (B^T) M64 N288 K25088", 64, 288, 25_088, false, true),
        ("input-grad (A^T) M288 N25088 K64", 288, 25_088, 64, true, false),
        ("square 512", 512, 512, 512, false, false),
    ]

    private static func resolve(_ backend: GEMMBackend) -> GEMMBackend {
        let b = backend == .automatic ? GEMM.defaultBackend : backend
        return b == .openBLAS && !OpenBLAS.isAvailable ? .swift : b
    }

    private static func randomMatrix(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Float(state >> 40) / Float(1 << 24) - 0.5
        }
    }
}
