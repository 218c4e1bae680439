import TestSupport
import XCTest
@testable import TensorEngine

/// First- and second-order finite-difference checks of every differentiable op, in Float64.
final class OpDerivativeTests: XCTestCase {
    var checker = GradientChecker()

    func testBroadcastingArithmetic() throws {
        let shapes: [([Int], [Int])] = [([2, 3, 4], [2, 3, 4]), ([2, 3, 4], [3, 1]), ([2, 3, 4], []), ([4], [2, 3, 4]), ([1, 3, 1, 1], [2, 3, 2, 2]), ([1], [1])]
        for (k, (sa, sb)) in shapes.enumerated() {
            let a = random(sa, seed: UInt64(k)), b = random(sb, seed: UInt64(k + 100), low: 0.5, high: 2)
            try checker.check("add \(sa)+\(sb)", [a, b]) { $0[0] + $0[1] }
            try checker.check("subtract \(sa)-\(sb)", [a, b]) { $0[0] - $0[1] }
            try checker.check("multiply \(sa)*\(sb)", [a, b]) { $0[0] * $0[1] }
            try checker.check("divide \(sa)/\(sb)", [a, b]) { $0[0] / $0[1] }
            try checker.check("divide \(sb)/\(sa)", [b, a.abs() + 0.5]) { $0[0] / $0[1] }
        }
        try checker.check("negate and scalar ops", [random([3, 2], seed: 9)]) { 2 - (-$0[0] * 3 + 1) / 4 }
    }

    func testReductionsAndShapes() throws {
        let x = random([2, 3, 4, 5], seed: 1)
        for axes in [[0], [1], [3], [0, 2, 3], [1, 2], [-1], [0, 1, 2, 3]] {
            try checker.check("sum \(axes)", [x]) { $0[0].sum(alongAxes: axes) }
            try checker.check("mean keepdims \(axes)", [x]) { $0[0].mean(alongAxes: axes, keepingDimensions: true) }
        }
        try checker.check("sum all", [x]) { $0[0].sum() }
        try checker.check("broadcast", [random([3, 1], seed: 2)]) { $0[0].broadcast(to: [2, 3, 4]) }
        try checker.check("summed(toShape:)", [x]) { $0[0].summed(toShape: [3, 1, 5]) }
        try checker.check("reshape", [x]) { $0[0].reshaped(to: [6, -1]) }
        try checker.check("flatten", [x]) { $0[0].flattened() }
        try checker.check("transpose 4d", [x]) { $0[0].transposed([2, 0, 3, 1]) }
        try checker.check("transpose 2d", [random([3, 5], seed: 3)]) { $0[0].transposed() }
        try checker.check("slice", [x]) { $0[0].slice(alongAxis: 2, 1..<3) }
        try checker.check("gatheringRows", [random([4, 3], seed: 10)]) { $0[0].gatheringRows([2, 0, 2, 3, 1]) }
        try checker.check("concat", [random([2, 3], seed: 4), random([2, 1], seed: 5), random([2, 2], seed: 6)]) {
            concat($0, alongAxis: 1)
        }
        try checker.check("concat axis 0", [random([1, 3], seed: 7), random([2, 3], seed: 8)]) { concat($0, alongAxis: 0) }
    }

    func testUnaryFunctions() throws {
        let x = random([3, 4], seed: 11, low: -2, high: 2)
        let positive = random([3, 4], seed: 12, low: 0.3, high: 3)
        try checker.check("exp", [x]) { exp($0[0]) }
        try checker.check("log", [positive]) { log($0[0]) }
        try checker.check("tanh", [x]) { tanh($0[0]) }
        try checker.check("sqrt", [positive]) { sqrt($0[0]) }
        try checker.check("leakyReLU", [x]) { leakyReLU($0[0], slope: 0.1) }
        try checker.check("square", [x]) { square($0[0]) }
    }

    func testMatmul() throws {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = random(ta ? [4, 3] : [3, 4], seed: 21), b = random(tb ? [5, 4] : [4, 5], seed: 22)
            try checker.check("matmul ta=\(ta) tb=\(tb)", [a, b]) { matmul($0[0], $0[1], transposingA: ta, transposingB: tb) }
        }
        try checker.check("matmul 1×1", [random([1, 1], seed: 23), random([1, 1], seed: 24)]) { matmul($0[0], $0[1]) }
        try checker.check("linear", [random([2, 3], seed: 25), random([4, 3], seed: 26), random([4], seed: 27)]) {
            linear($0[0], weight: $0[1], bias: $0[2])
        }
    }

    func testConvolutions() throws {
        let cases: [(x: [Int], w: [Int], pad: Int)] = [
            ([2, 3, 5, 4], [4, 3, 3, 3], 1), ([2, 3, 5, 4], [2, 3, 3, 3], 0), ([1, 1, 6, 6], [2, 1, 5, 5], 2),
            ([1, 1, 1, 1], [1, 1, 3, 3], 1), ([3, 2, 3, 3], [1, 2, 1, 1], 0),
            // Wide enough on both sides to take the im2col + GEMM path rather than the direct one.
            ([2, 3, 4, 4], [5, 3, 3, 3], 1), ([1, 4, 3, 3], [6, 4, 1, 1], 0),
            // 3×3, padding 1, ≥ 16 channels each side: the Winograd path, odd sizes clipping the tiles.
            ([1, 16, 3, 2], [16, 16, 3, 3], 1),
        ]
        for (k, c) in cases.enumerated() {
            let x = random(c.x, seed: UInt64(30 + k)), w = random(c.w, seed: UInt64(40 + k))
            try checker.check("conv2d \(c)", [x, w]) { conv2d($0[0], $0[1], padding: c.pad) }
            let outShape = conv2d(x, w, padding: c.pad).shape
            let gy = random(outShape, seed: UInt64(50 + k))
            try checker.check("conv2dInputGradient \(c)", [gy, w]) {
                conv2dInputGradient($0[0], $0[1], inputShape: c.x, padding: c.pad)
            }
            try checker.check("conv2dWeightGradient \(c)", [x, gy]) {
                conv2dWeightGradient($0[0], $0[1], weightShape: c.w, padding: c.pad)
            }
        }
    }

    func testSpatialOps() throws {
        let x = random([2, 3, 6, 6], seed: 60)
        try checker.check("maxPool 2", [x]) { maxPool2d($0[0], size: 2) }
        try checker.check("maxPool 3/2/1", [x]) { maxPool2d($0[0], size: 3, stride: 2, padding: 1) }
        try checker.check("maxPool odd size", [random([1, 1, 5, 7], seed: 61)]) { maxPool2d($0[0], size: 2) }
        try checker.check("maxPool 3/2/1 on 1×1", [random([1, 2, 1, 1], seed: 62)]) { maxPool2d($0[0], size: 3, stride: 2, padding: 1) }
        try checker.check("upsample", [random([2, 2, 3, 2], seed: 63)]) { upsampleNearest($0[0], factor: 2) }
        try checker.check("upsample 1×1", [random([1, 1, 1, 1], seed: 64)]) { upsampleNearest($0[0], factor: 2) }
        try checker.check("reflectionPad", [random([1, 2, 4, 3], seed: 65)]) { reflectionPad2d($0[0], padding: 2) }
    }

    func testSoftmax() throws {
        let logits = random([4, 5], seed: 70, low: -3, high: 3)
        try checker.check("logSoftmax", [logits]) { logSoftmax($0[0], alongAxis: 1) }
        try checker.check("softmax axis 0", [logits]) { softmax($0[0], alongAxis: 0) }
    }
}

extension Tensor {
    func abs() -> Tensor { sqrt(self * self) }
}
