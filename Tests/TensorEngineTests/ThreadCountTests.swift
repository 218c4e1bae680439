import Support
import XCTest
@testable import TensorEngine

/// The kernels that reduce across threads (a convolution's weight gradient sums over the batch,
/// `sum` over runs) give the same bits on any number of threads: each sums fixed groups of the
/// work (`Parallel.reductionGroups`) and adds the groups in order, so a seeded run does not
/// depend on the machine's core count. Shapes are just above the sizes at which the kernels split
/// their work, one for each convolution path.
final class ThreadCountTests: XCTestCase {
    override func tearDown() {
        Parallel.setThreadCount(nil)
        super.tearDown()
    }

    /// `body` with 1 to 4 threads: the same bits as with 2 (the count this project measures on).
    func assertSameBitsOnAnyThreadCount(_ name: String, _ body: () throws -> Tensor) rethrows {
        Parallel.setThreadCount(2)
        let reference = try body().scalars.map(\.bitPattern)
        for threads in [1, 3, 4] {
            Parallel.setThreadCount(threads)
            let bits = try body().scalars.map(\.bitPattern)
            XCTAssertEqual(bits.count, reference.count, name)
            let differing = zip(bits, reference).filter { $0 != $1 }.count
            XCTAssertEqual(differing, 0, "\(name): \(differing) of \(bits.count) values differ with \(threads) threads")
        }
    }

    func testConvolutionWeightGradientsDoNotDependOnTheThreadCount() throws {
        let cases: [(name: String, x: [Int], w: [Int], padding: Int)] = [
            ("winograd", [16, 16, 8, 8], [16, 16, 3, 3], 1),
            ("im2col", [32, 4, 8, 8], [8, 4, 5, 5], 2),
            ("thin", [16, 32, 16, 16], [1, 32, 3, 3], 1),
        ]
        var rng = SeededGenerator(seed: 11)
        for c in cases {
            let g = try ConvGeometry(input: c.x, weight: c.w, padding: c.padding, op: "test")
            XCTAssertGreaterThanOrEqual(g.flops, 2e6, "\(c.name) must be large enough to be split")
            XCTAssertEqual(WinogradKernels.isPreferred(g), c.name == "winograd", c.name)
            XCTAssertEqual(ThinConvolutionKernels.isPreferred(g), c.name == "thin", c.name)
            let x = Tensor.randomNormal(c.x, using: &rng)
            let gy = Tensor.randomNormal(g.outputShape, using: &rng)
            assertSameBitsOnAnyThreadCount(c.name) {
                conv2dWeightGradient(x, gy, weightShape: c.w, padding: c.padding)
            }
        }
    }

    func testSumsDoNotDependOnTheThreadCount() {
        var rng = SeededGenerator(seed: 12)
        let x = Tensor.randomNormal([64, 32, 40], using: &rng)
        for target in [[1, 32, 40], [64, 1, 1], [1, 32, 1], [1, 1, 40]] {
            assertSameBitsOnAnyThreadCount("sum to \(target)") { x.summed(toShape: target) }
        }
    }
}
