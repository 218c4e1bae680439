import Support
import XCTest
@testable import TensorEngine

/// The Winograd F(2×2, 3×3) passes against the im2col ones they replace, on shapes that exercise
/// odd (clipped) tiles, several chunks per worker, and both element types. Their derivatives are
/// checked by finite differences in `OpDerivativeTests.testConvolutions`.
final class WinogradTests: XCTestCase {
    let shapes: [(x: [Int], w: [Int])] = [
        ([1, 16, 2, 2], [16, 16, 3, 3]),   // a single tile
        ([3, 16, 7, 5], [20, 16, 3, 3]),   // odd height and width
        ([21, 24, 14, 14], [32, 24, 3, 3]), // the learner's second conv: several chunks, both workers
        ([9, 32, 6, 9], [16, 32, 3, 3]),
    ]

    func testPassesMatchIm2col() throws {
        for dtype in [DType.float64, .float32] {
            var rng = SeededGenerator(seed: 7)
            for s in shapes {
                let g = try ConvGeometry(input: s.x, weight: s.w, padding: 1, op: "test")
                XCTAssertTrue(WinogradKernels.isPreferred(g), "\(s)")
                let x = Tensor.randomNormal(s.x, dtype: dtype, using: &rng)
                let w = Tensor.randomNormal(s.w, dtype: dtype, using: &rng)
                let gy = Tensor.randomNormal(g.outputShape, dtype: dtype, using: &rng)
                let pairs: [(String, Tensor, Tensor)] = dtype == .float64 ? [
                    ("forward", WinogradKernels.forward(Double.self, x: x, w: w, g), ConvolutionKernels.im2colForward(Double.self, x: x, w: w, g)),
                    ("input gradient", WinogradKernels.inputGradient(Double.self, gy: gy, w: w, g), ConvolutionKernels.im2colInputGradient(Double.self, gy: gy, w: w, g)),
                    ("weight gradient", WinogradKernels.weightGradient(Double.self, x: x, gy: gy, g), ConvolutionKernels.im2colWeightGradient(Double.self, x: x, gy: gy, g)),
                ] : [
                    ("forward", WinogradKernels.forward(Float.self, x: x, w: w, g), ConvolutionKernels.im2colForward(Float.self, x: x, w: w, g)),
                    ("input gradient", WinogradKernels.inputGradient(Float.self, gy: gy, w: w, g), ConvolutionKernels.im2colInputGradient(Float.self, gy: gy, w: w, g)),
                    ("weight gradient", WinogradKernels.weightGradient(Float.self, x: x, gy: gy, g), ConvolutionKernels.im2colWeightGradient(Float.self, x: x, gy: gy, g)),
                ]
                for (name, winograd, reference) in pairs {
                    XCTAssertEqual(winograd.shape, reference.shape, "\(name) \(s)")
                    let a = winograd.doubles, b = reference.doubles
                    let scale = b.map(abs).max() ?? 1
                    let error = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThan(error / scale, dtype == .float64 ? 1e-13 : 2e-6, "\(name) \(s) \(dtype)")
                }
            }
        }
    }

    func testDispatchTakesWinogradOnlyWhereItPays() throws {
        let preferred = { (x: [Int], w: [Int], pad: Int) in
            WinogradKernels.isPreferred(try ConvGeometry(input: x, weight: w, padding: pad, op: "test"))
        }
        XCTAssertTrue(try preferred([128, 64, 14, 14], [128, 64, 3, 3], 1))
        XCTAssertFalse(try preferred([128, 1, 28, 28], [64, 1, 3, 3], 1), "one input channel: im2col")
        XCTAssertFalse(try preferred([128, 64, 28, 28], [1, 64, 3, 3], 1), "one output channel: thin path")
        XCTAssertFalse(try preferred([8, 32, 14, 14], [32, 32, 5, 5], 2), "5×5 kernel")
        XCTAssertFalse(try preferred([8, 32, 14, 14], [32, 32, 3, 3], 0), "no padding")
    }
}
