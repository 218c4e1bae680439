import Foundation
import NeuralNet
import Support
import TensorEngine
import XCTest

final class OptimizerTests: XCTestCase {
    func testAdamMatchesTheUpdateRule() {
        var adam = Adam(like: [Tensor.zeros([2])])
        var p = [Tensor(shape: [2], scalars: [1, -2])]
        let grads = [[0.5, -1.0], [0.25, 2.0]]
        var m = [0.0, 0.0], v = [0.0, 0.0], expected = [1.0, -2.0]
        for (t, g) in grads.enumerated() {
            p = adam.update(p, gradients: [Tensor(shape: [2], doubles: g).converted(to: .float32)], learningRate: 0.1)
            for i in 0..<2 {
                m[i] = 0.9 * m[i] + 0.1 * g[i]
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i]
                let mHat = m[i] / (1 - pow(0.9, Double(t + 1))), vHat = v[i] / (1 - pow(0.999, Double(t + 1)))
                expected[i] -= 0.1 * mHat / (vHat.squareRoot() + 1e-8)
            }
            for i in 0..<2 { XCTAssertEqual(Double(p[0].scalars[i]), expected[i], accuracy: 1e-5) }
        }
        XCTAssertEqual(adam.step, 2)
    }

    func testCosineScheduleEndsAtTheFloor() {
        XCTAssertEqual(cosineDecay(from: 0.02, progress: 0, finalFraction: 0.1), 0.02, accuracy: 1e-12)
        XCTAssertEqual(cosineDecay(from: 0.02, progress: 1, finalFraction: 0.1), 0.002, accuracy: 1e-12)
        XCTAssertEqual(cosineDecay(from: 0.02, progress: 0.5, finalFraction: 0.1), 0.011, accuracy: 1e-12)
        XCTAssertEqual(cosineDecay(from: 0.02, progress: 5, finalFraction: 0.1), 0.002, accuracy: 1e-12)
        XCTAssertEqual(cosineDecay(from: 0.02, progress: -1, finalFraction: 0.1), 0.02, accuracy: 1e-12)
        XCTAssertEqual(cosineDecay(from: 0.4, progress: 0.5), 0.2, accuracy: 1e-12)
    }

    func testGlobalNormClipping() {
        let t = [Tensor(shape: [2], scalars: [3, 0]), Tensor(shape: [1], scalars: [4])]
        XCTAssertEqual(globalNorm(t), 5, accuracy: 1e-6)
        let (clipped, norm) = clippedByGlobalNorm(t, maxNorm: 1)
        XCTAssertEqual(norm, 5, accuracy: 1e-6)
        XCTAssertEqual(globalNorm(clipped), 1, accuracy: 1e-6)
        XCTAssertEqual(clippedByGlobalNorm(t, maxNorm: 10).tensors.map(\.scalars), t.map(\.scalars))
    }
}

final class LayerTests: XCTestCase {
    func testWeightNormalizedLayersStartFromTheirInitialWeight() {
        var rng = SeededGenerator(seed: 1)
        var p = Parameters()
        let conv = Conv2dLayer("c", 3, 4)
        let fc = LinearLayer("f", 5, 6, bias: false)
        conv.initialize(into: &p, using: &rng)
        fc.initialize(into: &p, using: &rng)
        XCTAssertEqual(p.names, ["c.v", "c.g", "c.b", "f.v", "f.g"])
        for (layer, name) in [(conv.weight(p), "c"), (fc.weight(p), "f")] {
            let difference = zip(layer.scalars, p[name + ".v"].scalars).map { abs($0 - $1) }.max() ?? 1
            XCTAssertLessThan(difference, 1e-5, name)
        }
    }

    func testKaimingStandardDeviation() {
        var rng = SeededGenerator(seed: 2)
        let w = kaimingNormal([200, 50], fanIn: 50, slope: 0.1, using: &rng).doubles
        let std = (w.map { $0 * $0 }.reduce(0, +) / Double(w.count)).squareRoot()
        XCTAssertEqual(std, (2 / 1.01 / 50).squareRoot(), accuracy: 0.01)
    }

    func testParametersKeepOrderAndNames() {
        var p = Parameters()
        p.append("a", Tensor.zeros([1]))
        p["b"] = Tensor.ones([2])
        p["a"] = Tensor.ones([1])
        XCTAssertEqual(p.names, ["a", "b"])
        XCTAssertEqual(p["a"].scalars, [1])
        XCTAssertEqual(p.scalarCount, 3)
        let doubled = p.zipMap(p) { $0 + $1 }
        XCTAssertEqual(doubled["b"].scalars, [2, 2])
        XCTAssertTrue(p.requiringGradient().tensors.allSatisfy(\.requiresGradient))
    }

    func testBatchNormLayerNormalizesWithBatchStatistics() {
        var p = Parameters()
        let bn = BatchNormLayer("bn", 3)
        bn.initialize(into: &p)
        var rng = SeededGenerator(seed: 3)
        let x = Tensor.randomNormal([16, 3], mean: 5, standardDeviation: 2, using: &rng)
        let y = bn(x, p)
        let mean = y.mean(alongAxes: [0]).scalars, variance = square(y).mean(alongAxes: [0]).scalars
        for c in 0..<3 {
            XCTAssertEqual(mean[c], 0, accuracy: 1e-5)
            XCTAssertEqual(variance[c], 1, accuracy: 1e-3)
        }
    }
}
