import Foundation

/// A reference-counted, uninitialised-by-default buffer of one dtype. Tensors share storage;
/// nothing mutates a storage after the op that produced it has returned, which is what makes
/// sharing safe and gives tensors value semantics.
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

/// Recycles buffers by exact byte size. The training loop allocates the same shapes every inner
/// step, so after the first outer iteration almost every request is served from the pool instead
/// of `malloc` plus page faults on fresh memory.
public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool()

    /// Bytes kept for reuse beyond which freed buffers go back to the system.
    public var capacityBytes: Int {
        get { lock.withLock { capacity } }
        set { lock.withLock { capacity = newValue } }
    }

    private let lock = NSLock()
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private var pooledBytes = 0
    private var capacity = 4 << 30
    private var liveBytes = 0
    private var peakLive = 0
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

    func take(bytes: Int) -> UnsafeMutableRawPointer {
        let size = Self.sizeClass(bytes)
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
            return nil
        }
        return reused ?? UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    }

    func give(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        let size = Self.sizeClass(bytes)
        let keep: Bool = lock.withLock {
            liveBytes -= size
            guard pooledBytes + size <= capacity else { return false }
            free[size, default: []].append(pointer)
            pooledBytes += size
            return true
        }
        if !keep { pointer.deallocate() }
    }

    /// Returns every pooled buffer to the system.
    public func drain() {
        let all: [UnsafeMutableRawPointer] = lock.withLock {
            defer { free = [:]; pooledBytes = 0 }
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
