import Foundation

/// Thread-count policy and the two fork-join helpers every kernel uses.
public enum Parallel {
    /// Active processor count (divided among the MPI ranks on this machine), or `GTN_THREADS`
    /// when set to a positive integer.
    /// `setThreadCount` overrides both (used by benchmarks to measure one thread).
    /// Inside `serially` (and inside the chunks of `forEachChunk`) it is 1, so nested kernels run
    /// on their caller's thread instead of oversubscribing the cores.
    public static var threadCount: Int {
        if isSerial { return 1 }
        return threadState.withLock { $0.override } ?? environmentThreadCount
    }

    /// Runs `body` with every kernel it calls on this thread kept serial.
    public static func serially<R>(_ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(serialKey)
        pthread_setspecific(serialKey, serialMarker)
        defer { pthread_setspecific(serialKey, previous) }
        return try body()
    }

    /// Partial results that a reduction split across threads keeps: two, whatever the thread
    /// count, so where it rounds, and with it a seeded run, is the same on any number of cores.
    /// Two is what the 2-core machines this project measures on always used, so runs made there
    /// replay bit for bit under any `GTN_THREADS`; the price is that a reduction (a convolution's
    /// weight gradient, `sum`) runs on at most two threads. Inside `serially` (an item of `map`,
    /// such as an evaluation learner or a NAS candidate) it is one, as nothing there runs side by
    /// side.
    public static var reductionGroups: Int { isSerial ? 1 : 2 }

    /// Whether this thread runs its kernels serially (inside `serially` or an item of `map`).
    static var isSerial: Bool { pthread_getspecific(serialKey) != nil }

    /// Cuts 0..<count into `groups` contiguous ranges and runs body(group, range) for each, the
    /// groups side by side on up to `threadCount` threads. A reduction that sums each group into
    /// its own partial and then adds the partials in group order rounds the same way whatever
    /// the thread count; the group count is the caller's (`reductionGroups`, at most `count`).
    public static func forEachGroup(_ count: Int, groups: Int, _ body: (_ group: Int, _ items: Range<Int>) -> Void) {
        guard count > 0, groups > 0 else { return }
        let workers = min(threadCount, groups)
        forEachChunk(workers) { w in
            for group in (groups * w / workers)..<(groups * (w + 1) / workers) {
                body(group, (count * group / groups)..<(count * (group + 1) / groups))
            }
        }
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

    /// body(0) … body(count − 1) on up to `workers` threads, items handed out one at a time, each
    /// run on one thread with its kernels serial (as inside `serially`). For many small
    /// independent computations (learners of an evaluation, NAS candidates), which use the cores
    /// far better side by side than one after the other with every op split across threads; and
    /// each result is then the same whatever the core count. Results come back in item order.
    /// `onResult(finished, index, value)` runs under a lock as each item ends. As with
    /// `forEachChunk`, the caller guarantees that concurrent calls of `body` do not share
    /// mutable state.
    public static func map<T>(_ count: Int, workers: Int = threadCount, _ body: (Int) -> T,
                              onResult: ((Int, Int, T) -> Void)? = nil) -> [T] {
        allComputed(mapUntilFailure(count, workers: workers, { Optional(body($0)) }, onResult: onResult))
    }

    /// The same for a throwing `body`: the first error stops the items not yet started and is
    /// rethrown.
    public static func map<T>(_ count: Int, workers: Int = threadCount, _ body: (Int) throws -> T,
                              onResult: ((Int, Int, T) -> Void)? = nil) throws -> [T] {
        let failure = Locked<Error?>(nil)
        let results = mapUntilFailure(count, workers: workers, { i -> T? in
            do {
                return try body(i)
            } catch {
                failure.withLock { if $0 == nil { $0 = error } }
                return nil
            }
        }, onResult: onResult)
        if let error = failure.withLock({ $0 }) { throw error }
        return allComputed(results)
    }

    /// The values of a `mapUntilFailure` in which no item failed: every one must be there.
    private static func allComputed<T>(_ results: [T?]) -> [T] {
        let values = results.compactMap { $0 }
        precondition(values.count == results.count, "Parallel.map: \(results.count - values.count) items were not computed")
        return values
    }

    /// The engine of `map`: an item whose body returns nil has failed, and no further items start.
    private static func mapUntilFailure<T>(_ count: Int, workers: Int, _ body: (Int) -> T?,
                                           onResult: ((Int, Int, T) -> Void)?) -> [T?] {
        guard count > 0 else { return [] }
        let state = Locked(MapState<T>(count))
        withoutActuallyEscaping(body) { body in
            let work = { (_: Int) in
                while true {
                    let next: Int? = state.withLock { s in
                        guard s.next < count, !s.failed else { return nil }
                        s.next += 1
                        return s.next - 1
                    }
                    guard let i = next else { return }
                    let value = serially { body(i) }
                    state.withLock { s in
                        guard let value else { s.failed = true; return }
                        s.results[i] = value
                        s.finished += 1
                        onResult?(s.finished, i, value)
                    }
                }
            }
            let threads = max(1, min(workers, count))
            if threads == 1 {
                work(0)
            } else {
                let box = UncheckedSendableBox(value: work)
                DispatchQueue.concurrentPerform(iterations: threads) { box.value($0) }
            }
        }
        return state.withLock { $0.results }
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

/// `GTN_THREADS`, else the cores shared among the MPI ranks on this machine (Open MPI's
/// `OMPI_COMM_WORLD_LOCAL_SIZE`, MPICH's `MPI_LOCALNRANKS`; 1 outside MPI).
private let environmentThreadCount: Int = {
    let environment = ProcessInfo.processInfo.environment
    if let s = environment["GTN_THREADS"], let n = Int(s), n > 0 { return n }
    let localRanks = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"].lazy.compactMap { environment[$0].flatMap { Int($0) } }
        .first { $0 > 0 } ?? 1
    return max(1, ProcessInfo.processInfo.activeProcessorCount / localRanks)
}()

private struct ThreadState { var override: Int? }

private let serialKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

/// Any non-nil value marks a thread as serial; the key owns no memory.
nonisolated(unsafe) private let serialMarker = UnsafeMutableRawPointer(bitPattern: 1)
private let threadState = Locked(ThreadState())

struct UncheckedSendableBox<Value>: @unchecked Sendable { let value: Value }

/// The shared state of one `Parallel.map`.
private struct MapState<T> {
    var next = 0
    var finished = 0
    var failed = false
    var results: [T?]
    init(_ count: Int) { results = Array(repeating: nil, count: count) }
}
