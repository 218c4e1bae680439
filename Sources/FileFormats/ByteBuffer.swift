#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A malloc'd byte buffer. Used instead of `[UInt8]`/`Data` so that reading and inflating
/// 47 MB never zero-fills or copies it an extra time.
public final class ByteBuffer {
    public private(set) var base: UnsafeMutableRawPointer
    public private(set) var capacity: Int
    public var count: Int = 0

    public init(capacity: Int) {
        self.capacity = max(capacity, 1)
        // A failed malloc for a file we can hold in memory is not recoverable.
        guard let p = malloc(self.capacity) else { fatalError("out of memory allocating \(capacity) bytes") }
        base = p
    }

    deinit { free(base) }

    public func grow(to newCapacity: Int) {
        guard newCapacity > capacity else { return }
        guard let p = realloc(base, newCapacity) else { fatalError("out of memory allocating \(newCapacity) bytes") }
        base = p
        capacity = newCapacity
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}
