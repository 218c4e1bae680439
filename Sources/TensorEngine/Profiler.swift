import Foundation

/// Per-op wall time and call counts, off by default (one branch per op when off). Ops that run
/// inside another profiled op are counted once, by the outermost.
public final class OpProfiler: @unchecked Sendable {
    public static let shared = OpProfiler()

    public struct Entry: Sendable {
        public let op: String
        public let calls: Int
        public let seconds: Double
        public let flops: Double
    }

    public var isEnabled: Bool {
        get { lock.withLock { enabled } }
        set { lock.withLock { enabled = newValue } }
    }

    private let lock = NSLock()
    private var enabled = false
    private var totals: [String: (calls: Int, seconds: Double, flops: Double)] = [:]
    private var totalFlops = 0.0
    private var totalExecutedFlops = 0.0

    /// Floating-point operations counted since the last reset (GEMM-based ops, each counted as
    /// its direct algorithm needs: 2·M·N·K for a product, 2·O·C·k²·pixels for a convolution pass),
    /// counted whether or not timing is enabled.
    public var flops: Double { lock.withLock { totalFlops } }

    /// The multiply-adds (×2) the kernels actually ran for the same ops: fewer than `flops` where
    /// a convolution ran as Winograd F(2×2, 3×3), which trades multiplies for cheap transforms.
    public var executedFlops: Double { lock.withLock { totalExecutedFlops } }

    public func reset() {
        lock.withLock {
            totals = [:]
            totalFlops = 0
            totalExecutedFlops = 0
        }
    }

    public var entries: [Entry] {
        lock.withLock { totals.map { Entry(op: $0.key, calls: $0.value.calls, seconds: $0.value.seconds, flops: $0.value.flops) } }
            .sorted { $0.seconds > $1.seconds }
    }

    func addFlops(_ count: Double, executed: Double) {
        lock.withLock {
            totalFlops += count
            totalExecutedFlops += executed
        }
    }

    private func add(_ op: String, seconds: Double, flops: Double) {
        lock.withLock {
            let old = totals[op] ?? (0, 0, 0)
            totals[op] = (old.calls + 1, old.seconds + seconds, old.flops + flops)
        }
    }

    @inline(__always)
    func measure<R>(_ op: String, flops: Double = 0, executedFlops: Double? = nil, _ body: () -> R) -> R {
        if flops > 0 { addFlops(flops, executed: executedFlops ?? flops) }
        guard enabled else { return body() }
        let state = threadState()
        guard !state.insideProfiledOp else { return body() }
        state.insideProfiledOp = true
        defer { state.insideProfiledOp = false }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body()
        add(op, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9, flops: flops)
        return result
    }
}

/// Runs an op's forward computation under the profiler.
@inline(__always)
func profiled<R>(_ op: String, flops: Double = 0, executedFlops: Double? = nil, _ body: () -> R) -> R {
    OpProfiler.shared.measure(op, flops: flops, executedFlops: executedFlops, body)
}
