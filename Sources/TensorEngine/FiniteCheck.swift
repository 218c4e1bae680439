import Foundation
import Support

/// An opt-in check that finds where non-finite values start: with it on, every differentiable
/// op (forward and backward, since backward passes are made of the same ops) scans its output,
/// and the first op that turns finite inputs into a NaN or an infinity is remembered with its
/// shapes. Off by default: the scan costs one pass over every op's output.
///
/// Turn it on with `GTN_CHECK_FINITE=1` or `FiniteCheck.isEnabled = true`; read the origin with
/// `FiniteCheck.firstViolation` (cleared by `reset()`).
public enum FiniteCheck {
    /// Where non-finite values first appeared.
    public struct Violation: Sendable, Equatable, CustomStringConvertible {
        public let op: String
        public let outputShape: [Int]
        public let inputShapes: [[Int]]
        /// How many of the output's elements are NaN or infinite.
        public let nonFiniteCount: Int

        public var description: String {
            "op '\(op)' produced \(nonFiniteCount) non-finite value\(nonFiniteCount == 1 ? "" : "s") in its output \(outputShape) from finite inputs \(inputShapes.map { "\($0)" }.joined(separator: ", "))"
        }
    }

    /// Read without a lock on every op, so that the disabled check is one load; the switch is
    /// flipped between runs, not during one.
    nonisolated(unsafe) private static var enabled = ProcessInfo.processInfo.environment["GTN_CHECK_FINITE"].map { $0 != "0" && !$0.isEmpty } ?? false
    private static let first = Locked<Violation?>(nil)

    public static var isEnabled: Bool {
        get { enabled }
        set { enabled = newValue }
    }

    /// The first violation since the last `reset()`, if any.
    public static var firstViolation: Violation? { first.withLock { $0 } }

    public static func reset() { first.withLock { $0 = nil } }

    /// Called by every differentiable op with its result; records the op when it is the origin.
    static func inspect(_ op: String, _ output: Tensor, inputs: [Tensor]) {
        guard enabled, firstViolation == nil else { return }
        let bad = nonFiniteCount(output)
        guard bad > 0, inputs.allSatisfy({ nonFiniteCount($0) == 0 }) else { return }
        let violation = Violation(op: op, outputShape: output.shape, inputShapes: inputs.map(\.shape), nonFiniteCount: bad)
        first.withLock { if $0 == nil { $0 = violation } }
    }

    private static func nonFiniteCount(_ t: Tensor) -> Int {
        switch t.dtype {
        case .float32: t.withUnsafeBufferPointer(as: Float.self) { $0.reduce(0) { $1.isFinite ? $0 : $0 + 1 } }
        case .float64: t.withUnsafeBufferPointer(as: Double.self) { $0.reduce(0) { $1.isFinite ? $0 : $0 + 1 } }
        }
    }
}
