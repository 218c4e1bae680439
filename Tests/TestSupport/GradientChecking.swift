import Support
import TensorEngine
import XCTest

/// Finite-difference checks in Float64 of first derivatives (the gradient) and second derivatives
/// (Hessian-vector products, including the cross terms between inputs) of a function of tensors.
public struct GradientChecker {
    public var rng = SeededGenerator(seed: 42)
    public var epsilon = 1e-6
    public var tolerance = 1e-6

    public init() {}

    /// The scalar the checks differentiate: Σ r ⊙ tanh(f(x)) with fixed random weights r. The tanh
    /// gives every op, even a linear one, a non-zero second derivative to check through.
    private func objective(_ f: @escaping ([Tensor]) -> Tensor, _ weights: Tensor) -> ([Tensor]) -> Tensor {
        { xs in (weights * tanh(f(xs))).sum() }
    }

    public mutating func check(_ name: String, _ inputs: [Tensor], file: StaticString = #filePath, line: UInt = #line,
                        _ f: @escaping ([Tensor]) -> Tensor) throws {
        let xs = inputs.map { $0.converted(to: .float64) }
        let outShape = withoutGradientRecording { f(xs).shape }
        let weights = Tensor.randomNormal(outShape, dtype: .float64, using: &rng)
        let s = objective(f, weights)

        // First order: ∂s/∂x against central differences.
        let leaves = xs.map { $0.requiringGradient() }
        let grads = try gradients(of: s(leaves), wrt: leaves)
        for (i, x) in xs.enumerated() {
            let numeric = numericGradient(s, xs, input: i)
            assertClose(grads[i].doubles, numeric, "\(name): first derivative wrt input \(i) \(x.shape)", file: file, line: line)
        }

        // Second order: H·v through reverse over reverse, against differences of the gradient.
        let directions = xs.map { Tensor.randomNormal($0.shape, dtype: .float64, using: &rng) }
        let leaves2 = xs.map { $0.requiringGradient() }
        let g = try gradients(of: s(leaves2), wrt: leaves2, createGraph: true)
        var gv = Tensor.zeros([], dtype: .float64)
        for (gi, vi) in zip(g, directions) { gv = gv + (gi * vi).sum() }
        let hv = gv.requiresGradient ? try gradients(of: gv, wrt: leaves2) : xs.map { Tensor.zeros($0.shape, dtype: .float64) }
        let shifted = { (sign: Double) -> [[Double]] in
            let moved = zip(xs, directions).map { ($0 + $1 * (sign * 1e-5)).detached().requiringGradient() }
            return try! gradients(of: s(moved), wrt: moved).map(\.doubles)
        }
        let plus = shifted(1), minus = shifted(-1)
        for i in xs.indices {
            let numeric = zip(plus[i], minus[i]).map { ($0 - $1) / 2e-5 }
            assertClose(hv[i].doubles, numeric, "\(name): Hessian-vector product wrt input \(i) \(xs[i].shape)", file: file, line: line)
        }
    }

    private func numericGradient(_ s: ([Tensor]) -> Tensor, _ xs: [Tensor], input i: Int) -> [Double] {
        var values = xs[i].doubles
        var result = [Double](repeating: 0, count: values.count)
        for k in values.indices {
            let saved = values[k]
            values[k] = saved + epsilon
            var moved = xs
            moved[i] = Tensor(shape: xs[i].shape, doubles: values)
            let up = withoutGradientRecording { s(moved).item }
            values[k] = saved - epsilon
            moved[i] = Tensor(shape: xs[i].shape, doubles: values)
            let down = withoutGradientRecording { s(moved).item }
            values[k] = saved
            result[k] = (up - down) / (2 * epsilon)
        }
        return result
    }

    public func assertClose(_ a: [Double], _ b: [Double], _ message: String, file: StaticString, line: UInt) {
        XCTAssertEqual(a.count, b.count, message, file: file, line: line)
        let scale = max(1, b.map(abs).max() ?? 0)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(worst / scale, tolerance, "\(message): max error \(worst) at scale \(scale)", file: file, line: line)
    }
}

extension XCTestCase {
    /// Uniform Float64 values in [low, high), the same for the same seed.
    public func random(_ shape: [Int], seed: UInt64, low: Double = -1, high: Double = 1) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        return Tensor.randomUniform(shape, low: low, high: high, dtype: .float64, using: &rng)
    }
}
