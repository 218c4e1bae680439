import Foundation

/// A reference-counted, uninitialised-by-default buffer of one dtype. Tensors share storage, so
/// only two things write one: the op that allocated it, before it returns, and `gradients`
/// without `createGraph`, which adds later contributions into a gradient sum it allocated itself
/// and has not yet handed to a VJP or its caller (docs/engine.md §5). Nothing else does, which
/// is what makes sharing safe and gives tensors value semantics.
final class Storage: @unchecked Sendable {
    let dtype: DType
    let count: Int
    let raw: UnsafeMutableRawPointer

    init(count: Int, dtype: DType, zeroed: Bool = false) {
        self.dtype = dtype
        self.count = count
        self.raw = BufferPool.shared.take(bytes: count * dtype.byteCount)
        if zeroed { raw.initializeMemory(as: UInt8.self, repeating: 0, count: count * dtype.byteCount) }
    }

    deinit { BufferPool.shared.give(raw, bytes: count * dtype.byteCount) }

    @inline(__always) func pointer<T: TensorScalar>(as _: T.Type) -> UnsafeMutablePointer<T> {
        raw.assumingMemoryBound(to: T.self)
    }

    @inline(__always) func buffer<T: TensorScalar>(as _: T.Type) -> UnsafeMutableBufferPointer<T> {
        UnsafeMutableBufferPointer(start: raw.assumingMemoryBound(to: T.self), count: count)
    }
}

/// Recycles buffers by size class. The training loop allocates the same shapes every inner step,
/// so after the first outer iteration almost every request is served from the pool instead of
/// `malloc` plus page faults on fresh memory (for a full-unroll outer iteration, gigabytes of
/// them: seconds of kernel time per iteration).
///
/// The pool never holds the process above the memory it has already needed: freed buffers are
/// kept while live plus pooled bytes stay within the high-water mark of live bytes (or
/// `capacityBytes`, when larger), and a request the pool cannot serve first evicts buffers of
/// other sizes to stay within it.
public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool()

    /// Bytes the pool may keep even before live tensors have ever reached that much.
    public var capacityBytes: Int {
        get { lock.withLock { capacity } }
        set { lock.withLock { capacity = newValue } }
    }

    private let lock = NSLock()
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private var pooledBytes = 0
    private var capacity = 1 << 30
    private var liveBytes = 0
    private var peakLive = 0
    private var highWater = 0
    private var hits = 0
    private var misses = 0

    /// Requests are rounded up to one of four size classes per power of two (at most 25% waste),
    /// so that tensors of nearby sizes (learners of random widths) share buffers.
    static func sizeClass(_ bytes: Int) -> Int {
        let size = max(bytes, 64)
        let shift = max(Int.bitWidth - size.leadingZeroBitCount - 3, 0)
        let step = 1 << shift
        return (size + step - 1) & ~(step - 1)
    }

    private var limit: Int { max(capacity, highWater) }

    func take(bytes: Int) -> UnsafeMutableRawPointer {
        let size = Self.sizeClass(bytes)
        var evicted: [UnsafeMutableRawPointer] = []
        let reused: UnsafeMutableRawPointer? = lock.withLock {
            liveBytes += size
            peakLive = max(peakLive, liveBytes)
            if var list = free[size], let p = list.popLast() {
                free[size] = list
                pooledBytes -= size
                hits += 1
                return p
            }
            misses += 1
            // Make room for the new buffer by releasing pooled ones of other sizes.
            while pooledBytes > 0 && liveBytes + pooledBytes > limit,
                  let (victimSize, list) = free.first(where: { !$0.value.isEmpty }) {
                var rest = list
                evicted.append(rest.removeLast())
                free[victimSize] = rest.isEmpty ? nil : rest
                pooledBytes -= victimSize
            }
            highWater = max(highWater, liveBytes)
            return nil
        }
        evicted.forEach { $0.deallocate() }
        return reused ?? UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    }

    func give(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        let size = Self.sizeClass(bytes)
        let keep: Bool = lock.withLock {
            liveBytes -= size
            guard liveBytes + pooledBytes + size <= limit else { return false }
            free[size, default: []].append(pointer)
            pooledBytes += size
            return true
        }
        if !keep { pointer.deallocate() }
    }

    /// Returns every pooled buffer to the system and forgets the high-water mark.
    public func drain() {
        let all: [UnsafeMutableRawPointer] = lock.withLock {
            defer { free = [:]; pooledBytes = 0; highWater = liveBytes }
            return free.values.flatMap { $0 }
        }
        all.forEach { $0.deallocate() }
    }

    public struct Statistics: Sendable {
        public let liveBytes: Int, peakLiveBytes: Int, pooledBytes: Int, hits: Int, misses: Int
    }

    public var statistics: Statistics {
        lock.withLock { Statistics(liveBytes: liveBytes, peakLiveBytes: peakLive, pooledBytes: pooledBytes, hits: hits, misses: misses) }
    }

    /// Starts a new peak measurement from the current live size.
    public func resetPeak() { lock.withLock { peakLive = liveBytes } }
}
