import Foundation

/// A value guarded by a lock, shared between threads. An `NSLock` rather than
/// `Synchronization.Mutex`, which needs macOS 15 (the package targets 14).
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    /// Runs `body` with exclusive access to the value.
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
