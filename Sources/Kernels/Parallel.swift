import Foundation

/// Thread-count policy and the two fork-join helpers every kernel uses.
public enum Parallel {
    /// Active processor count, or `GTN_THREADS` when set to a positive integer.
    /// `setThreadCount` overrides both (used by benchmarks to measure one thread).
    /// Inside `serially` (and inside the chunks of `forEachChunk`) it is 1, so nested kernels run
    /// on their caller's thread instead of oversubscribing the cores.
    public static var threadCount: Int {
        if pthread_getspecific(serialKey) != nil { return 1 }
        return threadState.withLock { $0.override } ?? environmentThreadCount
    }

    /// Runs `body` with every kernel it calls on this thread kept serial.
    public static func serially<R>(_ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(serialKey)
        pthread_setspecific(serialKey, serialMarker)
        defer { pthread_setspecific(serialKey, previous) }
        return try body()
    }

    /// Overrides `threadCount` for the whole process; `nil` restores the default.
    public static func setThreadCount(_ n: Int?) {
        threadState.withLock { $0.override = n.map { max(1, $0) } }
    }

    /// Runs body(chunkIndex) for chunks 0..<chunks, concurrently when chunks > 1.
    /// The caller guarantees that concurrent calls of `body` touch disjoint data: the closure is
    /// deliberately not `@Sendable` so kernels can capture raw pointers.
    public static func forEachChunk(_ chunks: Int, _ body: (Int) -> Void) {
        if chunks <= 0 { return }
        if chunks == 1 { body(0); return }
        withoutActuallyEscaping(body) { escapable in
            let box = UncheckedSendableBox(value: escapable)
            DispatchQueue.concurrentPerform(iterations: chunks) { i in serially { box.value(i) } }
        }
    }

    /// Splits 0..<count into contiguous ranges, one per thread when count ≥ minParallel
    /// (below that, dispatch costs more than it saves), a single serial call otherwise.
    public static func forRanges(_ count: Int, minParallel: Int = 65_536, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let threads = threadCount
        if count < minParallel || threads <= 1 { body(0..<count); return }
        let chunks = min(threads, count)
        forEachChunk(chunks) { i in
            body(count * i / chunks ..< count * (i + 1) / chunks)
        }
    }
}

private let environmentThreadCount: Int = {
    if let s = ProcessInfo.processInfo.environment["GTN_THREADS"], let n = Int(s), n > 0 { return n }
    return max(1, ProcessInfo.processInfo.activeProcessorCount)
}()

private struct ThreadState { var override: Int? }

private let serialKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

/// Any non-nil value marks a thread as serial; the key owns no memory.
nonisolated(unsafe) private let serialMarker = UnsafeMutableRawPointer(bitPattern: 1)
private let threadState = LockedState(ThreadState())

/// A value guarded by an NSLock (Synchronization.Mutex needs macOS 15; the package targets 14).
final class LockedState<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

struct UncheckedSendableBox<Value>: @unchecked Sendable { let value: Value }
