import NeuralNet
import Support
import TensorEngine
import TestSupport
import XCTest

/// Second-order checks on whole computations: a convnet's Hessian-vector product, and the
/// meta-gradient through unrolled SGD with momentum, both against finite differences.
final class SecondOrderTests: XCTestCase {
    /// A small weight-normed convnet in the learner's style: conv → pool → mean-only BN → LReLU → linear.
    static func convnet(_ p: [Tensor], _ x: Tensor) -> Tensor {
        var h = conv2d(x, weightNormalized(direction: p[0], gain: p[1]), padding: 1) + p[2].reshaped(to: [1, -1, 1, 1])
        h = leakyReLU(meanOnlyBatchNorm(maxPool2d(h, size: 2)), slope: 0.1)
        return linear(h.flattened(), weight: p[3], bias: p[4])
    }

    static func convnetParameters(seed: UInt64) -> [Tensor] {
        var rng = SeededGenerator(seed: seed)
        return [
            Tensor.randomNormal([3, 1, 3, 3], standardDeviation: 0.5, dtype: .float64, using: &rng),
            Tensor.randomUniform([3], low: 0.5, high: 1.5, dtype: .float64, using: &rng),
            Tensor.randomNormal([3], standardDeviation: 0.1, dtype: .float64, using: &rng),
            Tensor.randomNormal([4, 3 * 2 * 2], standardDeviation: 0.5, dtype: .float64, using: &rng),
            Tensor.randomNormal([4], standardDeviation: 0.1, dtype: .float64, using: &rng),
        ]
    }

    func testConvnetHessianVectorProductMatchesFiniteDifferences() throws {
        let params = Self.convnetParameters(seed: 1)
        var rng = SeededGenerator(seed: 2)
        let x = Tensor.randomNormal([3, 1, 4, 4], dtype: .float64, using: &rng)
        let labels = [0, 3, 1]
        let loss = { (p: [Tensor]) in crossEntropy(logits: Self.convnet(p, x), labels: labels) }
        let v = params.map { Tensor.randomNormal($0.shape, dtype: .float64, using: &rng) }

        let leaves = params.map { $0.requiringGradient() }
        let g = try gradients(of: loss(leaves), wrt: leaves, createGraph: true)
        let gv = zip(g, v).map { ($0 * $1).sum() }.reduce(Tensor.zeros([], dtype: .float64), +)
        let hv = try gradients(of: gv, wrt: leaves)

        let h = 1e-5
        func grad(at sign: Double) throws -> [[Double]] {
            let moved = zip(params, v).map { ($0 + $1 * (sign * h)).requiringGradient() }
            return try gradients(of: loss(moved), wrt: moved).map(\.doubles)
        }
        let plus = try grad(at: 1), minus = try grad(at: -1)
        var maxError = 0.0, maxValue = 0.0
        for i in params.indices {
            for (k, analytic) in hv[i].doubles.enumerated() {
                let numeric = (plus[i][k] - minus[i][k]) / (2 * h)
                maxError = max(maxError, abs(analytic - numeric))
                maxValue = max(maxValue, abs(numeric))
            }
        }
        XCTAssertGreaterThan(maxValue, 1e-3, "the Hessian-vector product should not be trivially zero")
        XCTAssertLessThan(maxError / maxValue, 1e-6)
    }

    /// Real-data loss after two SGD-with-momentum steps on synthetic inputs, as a function of the
    /// synthetic inputs and the log learning rates and momenta: the GTN meta-objective in miniature.
    static func unrolledLoss(synthetic: [Tensor], logLR: Tensor, logMomentum: Tensor, initial: [Tensor],
                             real: Tensor, realLabels: [Int]) throws -> Tensor {
        var theta = initial.map { $0.requiringGradient() }
        var buffers = initial.map { Tensor.zeros($0.shape, dtype: $0.dtype) }
        for (t, x) in synthetic.enumerated() {
            let loss = crossEntropy(logits: convnet(theta, x), labels: [0, 1, 2])
            let g = try gradients(of: loss, wrt: theta, createGraph: true)
            let lr = exp(logLR.slice(alongAxis: 0, t..<t + 1))
            let momentum = exp(logMomentum.slice(alongAxis: 0, t..<t + 1))
            buffers = zip(buffers, g).map { momentum * $0 + $1 }
            theta = zip(theta, buffers).map { $0 - lr * $1 }
        }
        return crossEntropy(logits: convnet(theta, real), labels: realLabels)
    }

    func testMetaGradientThroughTwoMomentumStepsMatchesFiniteDifferences() throws {
        var rng = SeededGenerator(seed: 5)
        let initial = Self.convnetParameters(seed: 3)
        let synthetic = (0..<2).map { _ in Tensor.randomNormal([3, 1, 4, 4], dtype: .float64, using: &rng) }
        let logLR = Tensor(shape: [2], doubles: [log(0.3), log(0.2)])
        let logMomentum = Tensor(shape: [2], doubles: [log(0.5), log(0.6)])
        let real = Tensor.randomNormal([5, 1, 4, 4], dtype: .float64, using: &rng)
        let realLabels = [3, 1, 0, 2, 1]

        let metaInputs = synthetic + [logLR, logMomentum]
        let leaves = metaInputs.map { $0.requiringGradient() }
        let loss = try Self.unrolledLoss(synthetic: Array(leaves[0..<2]), logLR: leaves[2], logMomentum: leaves[3],
                                         initial: initial, real: real, realLabels: realLabels)
        let analytic = try gradients(of: loss, wrt: leaves)

        let h = 1e-6
        for (i, input) in metaInputs.enumerated() {
            var values = input.doubles
            var numeric = [Double](repeating: 0, count: values.count)
            for k in values.indices {
                func lossAt(_ delta: Double) throws -> Double {
                    var inputs = metaInputs
                    var moved = values
                    moved[k] += delta
                    inputs[i] = Tensor(shape: input.shape, doubles: moved)
                    return try Self.unrolledLoss(synthetic: Array(inputs[0..<2]), logLR: inputs[2], logMomentum: inputs[3],
                                                 initial: initial, real: real, realLabels: realLabels).item
                }
                numeric[k] = (try lossAt(h) - lossAt(-h)) / (2 * h)
                values[k] = input.doubles[k]
            }
            let a = analytic[i].doubles
            let scale = max(numeric.map(abs).max() ?? 0, 1e-3)
            let worst = zip(a, numeric).map { abs($0 - $1) }.max() ?? 0
            XCTAssertGreaterThan(numeric.map(abs).max() ?? 0, 1e-6, "meta-input \(i) should influence the loss")
            XCTAssertLessThan(worst / scale, 1e-5, "meta-gradient wrt meta-input \(i) \(input.shape)")
        }
    }

    /// A first-order shortcut would give the synthetic data zero gradient; check ours is not that.
    func testSyntheticInputsGetGradientOnlyThroughSecondOrder() throws {
        var rng = SeededGenerator(seed: 9)
        let initial = Self.convnetParameters(seed: 4)
        let x = Tensor.randomNormal([3, 1, 4, 4], dtype: .float64, using: &rng).requiringGradient()
        let theta = initial.map { $0.requiringGradient() }
        // Without createGraph the step's gradient is a constant: the first-order shortcut.
        let g = try gradients(of: crossEntropy(logits: Self.convnet(theta, x), labels: [0, 1, 2]), wrt: theta, retainGraph: true)
        let gFull = try gradients(of: crossEntropy(logits: Self.convnet(theta, x), labels: [0, 1, 2]), wrt: theta, createGraph: true)
        let real = Tensor.randomNormal([2, 1, 4, 4], dtype: .float64, using: &rng)
        let metaFirstOrder = crossEntropy(logits: Self.convnet(zip(theta, g).map { $0 - $1 * 0.1 }, real), labels: [1, 2])
        let metaSecondOrder = crossEntropy(logits: Self.convnet(zip(theta, gFull).map { $0 - $1 * 0.1 }, real), labels: [1, 2])
        let dxFirst = try gradients(of: metaFirstOrder, wrt: [x])[0]
        let dxSecond = try gradients(of: metaSecondOrder, wrt: [x])[0]
        XCTAssertEqual(dxFirst.doubles.map(abs).max(), 0)
        XCTAssertGreaterThan(dxSecond.doubles.map(abs).max() ?? 0, 1e-6)
    }
}
