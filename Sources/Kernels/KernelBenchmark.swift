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
