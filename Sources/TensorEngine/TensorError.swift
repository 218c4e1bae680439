/// Misuse of the engine: the message names the op and the shapes involved.
public struct TensorError: Error, CustomStringConvertible, Equatable {
    public let op: String
    public let message: String

    public init(op: String, _ message: String) {
        self.op = op
        self.message = message
    }

    public var description: String { "\(op): \(message)" }
}

/// Shape errors inside an op are programming errors, like an out-of-bounds index, so the op traps;
/// but the check itself is a throwing function, which keeps the message testable.
@inline(__always)
func check(_ body: () throws -> Void) {
    do { try body() } catch { fatalError("\(error)") }
}

@inline(__always)
func checked<R>(_ body: () throws -> R) -> R {
    do { return try body() } catch { fatalError("\(error)") }
}

func describe(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }

extension TensorError {
    /// `check` for ops composed outside the engine (losses, normalization): they trap on misuse
    /// with a message just like the engine's own.
    public static func check(_ body: () throws -> Void) { TensorEngine.check(body) }

    /// A shape as the messages spell it, e.g. `[2, 3]`.
    public static func describe(_ shape: [Int]) -> String { TensorEngine.describe(shape) }
}
