import CMemory
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
///
/// Buffers of at least `mappingThreshold` bytes are pages mapped from the kernel, and what the
/// pool lets go leaves the process. A request of a size the pool does not hold is made of the
/// pages of pooled buffers of other sizes, moved into place (`mremap`) rather than copied or
/// faulted in afresh; only a request beyond everything pooled maps fresh pages. Learners of
/// random widths ask for other sizes at every outer iteration: from `malloc`, a `cpu` run's heap
/// held 9.9 GiB resident for 6.1 GiB of live tensors, and fresh pages for every new size cost a
/// third more time per iteration (docs/performance.md §6).
public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool()

    /// Bytes the pool may keep even before live tensors have ever reached that much.
    public var capacityBytes: Int {
        get { lock.withLock { capacity } }
        set { lock.withLock { capacity = newValue } }
    }

    /// The smallest size class served by mapped pages rather than `malloc`.
    static let mappingThreshold = 256 << 10

    private let lock = NSLock()
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private var pooledBytes = 0
    private var capacity = 1 << 30
    private var liveBytes = 0
    private var peakLive = 0
    private var highWater = 0
    private var hits = 0
    private var misses = 0
    private var remaps = 0
    /// The sizes of the kernel mappings that make up each mapped buffer assembled from several
    /// (absent: one mapping), in order: moving pages works one mapping at a time.
    private var pieceSizes: [UnsafeMutableRawPointer: [Int]] = [:]
    /// The sizes of at least `mappingThreshold` that the pool holds buffers of, ascending: a miss
    /// looks for pages here, and remainders of split buffers make many distinct sizes.
    private var mappedSizes: [Int] = []

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
        var evicted: [Pages] = [], donors: [Pages] = [], scrap: Pages?
        let reused: UnsafeMutableRawPointer? = lock.withLock {
            liveBytes += size
            peakLive = max(peakLive, liveBytes)
            if let p = popFree(size) {
                hits += 1
                return p
            }
            misses += 1
            if size >= Self.mappingThreshold { (donors, scrap) = takePages(size) }
            // Make room for the new buffer by releasing pooled ones of other sizes.
            while pooledBytes > 0 && liveBytes + pooledBytes > limit,
                  let victimSize = free.keys.first, let p = popFree(victimSize) {
                pieceSizes[p] = nil
                evicted.append(Pages(start: p, size: victimSize))
            }
            highWater = max(highWater, liveBytes)
            return nil
        }
        evicted.forEach { Self.release($0.start, size: $0.size) }
        if let scrap { munmap(scrap.start, scrap.size) }
        if let reused { return reused }
        if donors.isEmpty { return Self.allocate(size: size) }
        if donors.count == 1 && donors[0].size == size { return donors[0].start }
        let p = Self.assemble(size: size, from: donors)
        let pieces = donors.map(\.size) + (donors.reduce(0) { $0 + $1.size } < size ? [size - donors.reduce(0) { $0 + $1.size }] : [])
        lock.withLock { pieceSizes[p] = pieces }
        return p
    }

    /// A run of pages within one kernel mapping.
    private struct Pages {
        var start: UnsafeMutableRawPointer
        var size: Int
    }

    /// Pages of pooled buffers that will make up a new buffer of `size` bytes, removed from the
    /// pool (called under the lock): from the largest pooled buffers that fit in what is still
    /// missing, else from the smallest larger one, whose pages beyond the need stay pooled as a
    /// smaller buffer (a `scrap` below `mappingThreshold` is unmapped instead). A buffer
    /// assembled before is several mappings, so its pages are handed out piece by piece.
    private func takePages(_ size: Int) -> (donors: [Pages], scrap: Pages?) {
        var donors: [Pages] = [], scrap: Pages?
        var missing = size
        while missing > 0 {
            let fitting = mappedSizes.partitioningIndex { $0 > missing }
            guard let bufferSize = fitting > 0 ? mappedSizes[fitting - 1] : mappedSizes.first, let p = popFree(bufferSize) else { break }
            var offset = 0
            var pieces = pieceSizes.removeValue(forKey: p) ?? [bufferSize]
            while missing > 0, !pieces.isEmpty {
                let used = min(pieces[0], missing)
                donors.append(Pages(start: p + offset, size: used))
                offset += used
                missing -= used
                if used == pieces[0] { pieces.removeFirst() } else { pieces[0] -= used }
            }
            if offset < bufferSize {
                let rest = Pages(start: p + offset, size: bufferSize - offset)
                if rest.size >= Self.mappingThreshold {
                    putFree(rest.start, size: rest.size)
                    if pieces.count > 1 { pieceSizes[rest.start] = pieces }
                } else {
                    scrap = rest
                }
            }
        }
        if !donors.isEmpty { remaps += 1 }
        return (donors, scrap)
    }

    /// A buffer of `size` bytes whose first pages are the donors', moved in order into a new
    /// mapping without being copied or faulted in; pages beyond them are fresh.
    private static func assemble(size: Int, from donors: [Pages]) -> UnsafeMutableRawPointer {
        let p = allocate(size: size)
        var offset = 0
        for donor in donors {
            guard let moved = cmemory_move(donor.start, donor.size, p + offset), moved != MAP_FAILED else {
                fatalError("BufferPool: the system refused to move \(donor.size) bytes of pages (mremap: \(String(cString: strerror(errno))))")
            }
            offset += donor.size
        }
        return p
    }

    func give(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        let size = Self.sizeClass(bytes)
        let keep: Bool = lock.withLock {
            liveBytes -= size
            guard liveBytes + pooledBytes + size <= limit else {
                pieceSizes[pointer] = nil
                return false
            }
            putFree(pointer, size: size)
            return true
        }
        if !keep { Self.release(pointer, size: size) }
    }

    /// A pooled buffer of exactly `size` bytes, removed from the pool (called under the lock).
    private func popFree(_ size: Int) -> UnsafeMutableRawPointer? {
        guard var list = free[size], let p = list.popLast() else { return nil }
        free[size] = list.isEmpty ? nil : list
        pooledBytes -= size
        if list.isEmpty && size >= Self.mappingThreshold { mappedSizes.remove(at: mappedSizes.partitioningIndex { $0 >= size }) }
        return p
    }

    /// Pools a buffer of `size` bytes (called under the lock).
    private func putFree(_ pointer: UnsafeMutableRawPointer, size: Int) {
        free[size, default: []].append(pointer)
        pooledBytes += size
        if free[size]?.count == 1 && size >= Self.mappingThreshold { mappedSizes.insert(size, at: mappedSizes.partitioningIndex { $0 >= size }) }
    }

    /// Returns every pooled buffer to the system and forgets the high-water mark.
    public func drain() {
        let all: [(pointer: UnsafeMutableRawPointer, size: Int)] = lock.withLock {
            defer { free = [:]; mappedSizes = []; pooledBytes = 0; highWater = liveBytes }
            let all = free.flatMap { size, list in list.map { ($0, size) } }
            for (p, _) in all { pieceSizes[p] = nil }
            return all
        }
        all.forEach { Self.release($0.pointer, size: $0.size) }
    }

    public struct Statistics: Sendable {
        public let liveBytes: Int, peakLiveBytes: Int, pooledBytes: Int, hits: Int, misses: Int
        /// Misses served by the pages of pooled buffers of other sizes.
        public let remaps: Int
    }

    public var statistics: Statistics {
        lock.withLock {
            Statistics(liveBytes: liveBytes, peakLiveBytes: peakLive, pooledBytes: pooledBytes, hits: hits, misses: misses, remaps: remaps)
        }
    }

    /// Starts a new peak measurement from the current live size.
    public func resetPeak() { lock.withLock { peakLive = liveBytes } }

    private static func allocate(size: Int) -> UnsafeMutableRawPointer {
        guard size >= mappingThreshold else { return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64) }
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            fatalError("BufferPool: the system refused to map \(size) bytes (mmap: \(String(cString: strerror(errno))))")
        }
        return p
    }

    private static func release(_ pointer: UnsafeMutableRawPointer, size: Int) {
        if size >= mappingThreshold { munmap(pointer, size) } else { pointer.deallocate() }
    }
}

extension Array where Element == Int {
    /// The first index whose element satisfies `belongs`, for a predicate that is false up to
    /// some index and true from there on (binary search).
    fileprivate func partitioningIndex(where belongs: (Int) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if belongs(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
