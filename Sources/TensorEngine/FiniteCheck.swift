import Foundation

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

    private static let state = NSLock()
    nonisolated(unsafe) private static var enabled = ProcessInfo.processInfo.environment["GTN_CHECK_FINITE"].map { $0 != "0" && !$0.isEmpty } ?? false
    nonisolated(unsafe) private static var first: Violation?

    public static var isEnabled: Bool {
        get { state.lock(); defer { state.unlock() }; return enabled }
        set { state.lock(); enabled = newValue; state.unlock() }
    }

    /// The first violation since the last `reset()`, if any.
    public static var firstViolation: Violation? {
        state.lock(); defer { state.unlock() }
        return first
    }

    public static func reset() {
        state.lock(); first = nil; state.unlock()
    }

    /// Called by every differentiable op with its result; records the op when it is the origin.
    static func inspect(_ op: String, _ output: Tensor, inputs: [Tensor]) {
        // An unlocked read keeps the disabled check to one load per op; the switch is flipped
        // between runs, not during one.
        guard enabled, firstViolation == nil else { return }
        let bad = nonFiniteCount(output)
        guard bad > 0, inputs.allSatisfy({ nonFiniteCount($0) == 0 }) else { return }
        state.lock()
        if first == nil {
            first = Violation(op: op, outputShape: output.shape, inputShapes: inputs.map(\.shape), nonFiniteCount: bad)
        }
        state.unlock()
    }

    private static func nonFiniteCount(_ t: Tensor) -> Int {
        switch t.dtype {
        case .float32: t.withUnsafeBufferPointer(as: Float.self) { $0.reduce(0) { $1.isFinite ? $0 : $0 + 1 } }
        case .float64: t.withUnsafeBufferPointer(as: Double.self) { $0.reduce(0) { $1.isFinite ? $0 : $0 + 1 } }
        }
    }
}
