import XCTest
@testable import TensorEngine

/// Misuse fails with a message naming the op and the shapes.
final class MisuseTests: XCTestCase {
    func testBroadcastMismatchNamesOpAndShapes() {
        XCTAssertThrowsError(try ShapeRules.broadcast([2, 3], [4, 3], op: "add")) { error in
            XCTAssertEqual("\(error)", "add: shapes [2, 3] and [4, 3] cannot be broadcast (dimension 0: 2 vs 4)")
        }
    }

    func testConvolutionChannelMismatch() {
        XCTAssertThrowsError(try ConvGeometry(input: [1, 3, 5, 5], weight: [2, 4, 3, 3], padding: 1, op: "conv2d")) { error in
            XCTAssertTrue("\(error)".hasPrefix("conv2d: input has 3 channels but weight [2, 4, 3, 3] expects 4"), "\(error)")
        }
        XCTAssertThrowsError(try ConvGeometry(input: [1, 3, 2, 2], weight: [2, 3, 5, 5], padding: 0, op: "conv2d")) { error in
            XCTAssertTrue("\(error)".contains("does not fit input [1, 3, 2, 2]"), "\(error)")
        }
    }

    func testNonScalarWithoutSeed() {
        let x = Tensor(shape: [3], scalars: [1, 2, 3]).requiringGradient()
        XCTAssertThrowsError(try gradients(of: x * x, wrt: [x])) { error in
            XCTAssertEqual("\(error)", "gradients(of:wrt:): output of shape [3] is not a scalar; pass a seed of that shape")
        }
        XCTAssertNoThrow(try gradients(of: x * x, wrt: [x], seed: Tensor.ones([3])))
        XCTAssertThrowsError(try gradients(of: x * x, wrt: [x], seed: Tensor.ones([2])))
    }

    func testFreedGraphIsReported() throws {
        let x = Tensor(shape: [2], scalars: [1, 2]).requiringGradient()
        let y = exp(x).sum()
        _ = try gradients(of: y, wrt: [x])
        XCTAssertThrowsError(try gradients(of: y, wrt: [x])) { error in
            XCTAssertTrue("\(error)".contains("was freed by an earlier gradients call"), "\(error)")
            XCTAssertTrue("\(error)".hasPrefix("sum:") || "\(error)".hasPrefix("exp:"), "\(error)")
        }
        let z = exp(x).sum()
        _ = try gradients(of: z, wrt: [x], retainGraph: true)
        XCTAssertNoThrow(try gradients(of: z, wrt: [x]))
    }

    func testInputNotRequiringGradient() {
        let x = Tensor(shape: [2], scalars: [1, 2])
        XCTAssertThrowsError(try gradients(of: x.sum(), wrt: [x])) { error in
            XCTAssertTrue("\(error)".contains("does not require a gradient"), "\(error)")
        }
    }
}

/// The opt-in finiteness check names the op where non-finite values start, not the ops that
/// merely pass them on.
final class FiniteCheckTests: XCTestCase {
    override func tearDown() {
        FiniteCheck.isEnabled = false
        FiniteCheck.reset()
    }

    func testNamesTheOriginInTheForwardPass() {
        FiniteCheck.reset()
        FiniteCheck.isEnabled = true
        let x = Tensor(shape: [3], doubles: [1, 0, 2])
        let y = log(x) * 2 + 1
        XCTAssertFalse(y.doubles[1].isFinite)
        let violation = FiniteCheck.firstViolation
        XCTAssertEqual(violation?.op, "log")
        XCTAssertEqual(violation?.outputShape, [3])
        XCTAssertEqual(violation?.nonFiniteCount, 1)
        XCTAssertTrue(violation?.description.contains("'log'") ?? false)
    }

    func testFindsOriginsInTheBackwardPassAndStaysQuietWhenOff() throws {
        let x = Tensor(shape: [2], doubles: [0, 4]).requiringGradient()
        FiniteCheck.reset()
        _ = try gradients(of: sqrt(x).sum(), wrt: [x])
        XCTAssertNil(FiniteCheck.firstViolation, "disabled by default")
        FiniteCheck.isEnabled = true
        let g = try gradients(of: sqrt(x).sum(), wrt: [x])[0]
        XCTAssertFalse(g.doubles[0].isFinite)
        XCTAssertNotNil(FiniteCheck.firstViolation)
        XCTAssertEqual(FiniteCheck.firstViolation?.outputShape, [2])
    }
}
