import Support
import XCTest
@testable import TensorEngine

final class TensorBasicsTests: XCTestCase {
    func testForwardValues() {
        let a = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        XCTAssertEqual((a + Tensor(shape: [2], scalars: [10, 20])).scalars, [11, 22, 13, 24])
        XCTAssertEqual(matmul(a, a).scalars, [7, 10, 15, 22])
        XCTAssertEqual(a.sum(alongAxes: [0]).scalars, [4, 6])
        XCTAssertEqual(a.transposed().scalars, [1, 3, 2, 4])
        XCTAssertEqual(maxPool2d(Tensor(shape: [1, 1, 2, 2], scalars: [1, 5, 3, 2])).scalars, [5])
        XCTAssertEqual(upsampleNearest(Tensor(shape: [1, 1, 1, 2], scalars: [1, 2])).scalars, [1, 1, 2, 2, 1, 1, 2, 2])
        XCTAssertEqual(reflectionPad2d(Tensor(shape: [1, 1, 1, 3], scalars: [1, 2, 3]).broadcast(to: [1, 1, 2, 3]), padding: 1).shape, [1, 1, 4, 5])
        XCTAssertEqual(Tensor(shape: [2, 3], scalars: [1, 9, 3, 7, 2, 8]).argmax(alongAxis: 1), [1, 2])
        XCTAssertEqual(oneHot([2, 0], classes: 3).scalars, [0, 0, 1, 1, 0, 0])
    }

    func testConvolutionMatchesDirectSum() {
        var rng = SeededGenerator(seed: 1)
        let x = Tensor.randomNormal([2, 3, 5, 6], dtype: .float64, using: &rng)
        let w = Tensor.randomNormal([4, 3, 3, 3], dtype: .float64, using: &rng)
        let y = conv2d(x, w, padding: 1).doubles
        let xv = x.doubles, wv = w.doubles
        for n in 0..<2 { for o in 0..<4 { for i in 0..<5 { for j in 0..<6 {
            var s = 0.0
            for c in 0..<3 { for ky in 0..<3 { for kx in 0..<3 {
                let iy = i + ky - 1, ix = j + kx - 1
                if iy >= 0 && iy < 5 && ix >= 0 && ix < 6 { s += xv[((n * 3 + c) * 5 + iy) * 6 + ix] * wv[((o * 3 + c) * 3 + ky) * 3 + kx] }
            } } }
            XCTAssertEqual(y[((n * 4 + o) * 5 + i) * 6 + j], s, accuracy: 1e-12)
        } } } }
    }

    func testLargeParallelOpsMatchSmallSerialOnes() {
        // Sizes above the parallel threshold go through the threaded paths; compare with doubles.
        var rng = SeededGenerator(seed: 2)
        let x = Tensor.randomNormal([64, 8, 16, 16], using: &rng)
        let bias = Tensor.randomNormal([1, 8, 1, 1], using: &rng)
        let sum = (x + bias).sum(alongAxes: [0, 2, 3]).doubles
        let xv = x.doubles, bv = bias.doubles
        for c in 0..<8 {
            var s = 0.0
            for n in 0..<64 { for p in 0..<256 { s += xv[(n * 8 + c) * 256 + p] + bv[c] } }
            XCTAssertEqual(sum[c], s, accuracy: 1e-2 * max(1, abs(s)))
        }
    }

    func testNoGradModeAndDetach() throws {
        let x = Tensor(shape: [2], scalars: [1, 2]).requiringGradient()
        XCTAssertFalse(withoutGradientRecording { (x * x).requiresGradient })
        XCTAssertTrue((x * x).requiresGradient)
        XCTAssertFalse((x.detached() * x.detached()).requiresGradient)
        let g = try gradients(of: (x * x.detached()).sum(), wrt: [x])[0]
        XCTAssertEqual(g.scalars, [1, 2])
    }

    /// Gradient sums are accumulated in place only in buffers the backward pass allocated: the
    /// seed, tensors a VJP passes through unchanged (add's), and values the graph saved stay as
    /// they were, and every use still contributes once.
    func testInPlaceGradientSumsLeaveSharedTensorsAlone() throws {
        let seed = Tensor(shape: [3], scalars: [1, 2, 3])
        let x = Tensor(shape: [3], scalars: [0.5, -1, 2]).requiringGradient()
        let w = Tensor(shape: [3], scalars: [2, 2, 2]).requiringGradient()
        // x's first gradient is the seed itself (add passes it through), then x·w adds to it;
        // y's sum of two products is allocated by the backward pass and may be updated in place.
        let z = x + x * w
        let g = try gradients(of: z, wrt: [x, w], seed: seed)
        XCTAssertEqual(seed.scalars, [1, 2, 3])
        XCTAssertEqual(g[0].scalars, [3, 6, 9])  // (1 + w) · seed
        XCTAssertEqual(g[1].scalars, [0.5, -2, 6])  // x · seed
        let y = x * w + x * w + x * w
        let gy = try gradients(of: y, wrt: [x, w], seed: seed)
        XCTAssertEqual(seed.scalars, [1, 2, 3])
        XCTAssertEqual(x.scalars, [0.5, -1, 2])
        XCTAssertEqual(w.scalars, [2, 2, 2])
        XCTAssertEqual(gy[0].scalars, [6, 12, 18])  // 3w · seed
        XCTAssertEqual(gy[1].scalars, [1.5, -6, 18])  // 3x · seed
        // Recorded (createGraph) sums are not in place and stay differentiable.
        let gx = try gradients(of: (x * x * x).sum(), wrt: [x], createGraph: true)[0]
        let hx = try gradients(of: gx.sum(), wrt: [x])[0]
        XCTAssertEqual(hx.scalars, [3, -6, 12])  // 6x
    }

    func testGraphIsFreedWhenUnreferenced() throws {
        weak var weakNode: GradNode?
        do {
            let x = Tensor(shape: [2], scalars: [1, 2]).requiringGradient()
            let y = exp(x) * 2
            weakNode = y.node
            XCTAssertNotNil(weakNode)
        }
        XCTAssertNil(weakNode)
    }

    func testBufferPoolReusesBuffers() {
        let before = BufferPool.shared.statistics
        for _ in 0..<10 { _ = Tensor.zeros([1234, 17]) }
        let after = BufferPool.shared.statistics
        XCTAssertGreaterThanOrEqual(after.hits - before.hits, 9)
    }

    /// Pooled plus live bytes never exceed the most the process has had live (or the capacity).
    func testBufferPoolStaysWithinTheHighWaterMark() {
        let pool = BufferPool()
        pool.capacityBytes = 0
        let small = pool.take(bytes: 1024)
        pool.give(small, bytes: 1024)
        XCTAssertEqual(pool.statistics.pooledBytes, 1024, "kept: within the 1 KiB high-water mark")
        let large = pool.take(bytes: 4096)
        XCTAssertEqual(pool.statistics.pooledBytes, 0, "the 1 KiB buffer was released to make room")
        pool.give(large, bytes: 4096)
        XCTAssertEqual(pool.statistics.pooledBytes, 4096)
        let again = pool.take(bytes: 4096)
        XCTAssertEqual(pool.statistics.hits, 1)
        let other = pool.take(bytes: 1024)
        pool.give(other, bytes: 1024)
        pool.give(again, bytes: 4096)
        XCTAssertLessThanOrEqual(pool.statistics.pooledBytes, 4096 + 1024)
        pool.drain()
        XCTAssertEqual(pool.statistics.pooledBytes, 0)
    }
}

final class ConvolutionPathTests: XCTestCase {
    /// The direct kernels (thin layers) and im2col + GEMM agree on every pass.
    func testDirectAndIm2colConvolutionsAgree() throws {
        var rng = SeededGenerator(seed: 4)
        let cases: [([Int], [Int], Int)] = [([2, 1, 7, 6], [3, 1, 3, 3], 1), ([2, 5, 6, 6], [1, 5, 3, 3], 1),
                                            ([1, 2, 5, 5], [2, 2, 5, 5], 2), ([3, 1, 6, 5], [2, 1, 3, 3], 0),
                                            ([1, 3, 1, 1], [2, 3, 3, 3], 1)]
        for (xs, ws, pad) in cases {
            let g = try ConvGeometry(input: xs, weight: ws, padding: pad, op: "test")
            let x = Tensor.randomNormal(xs, dtype: .float64, using: &rng), w = Tensor.randomNormal(ws, dtype: .float64, using: &rng)
            let gy = Tensor.randomNormal(g.outputShape, dtype: .float64, using: &rng)
            func close(_ a: Tensor, _ b: Tensor, _ what: String) {
                XCTAssertEqual(a.shape, b.shape)
                let worst = zip(a.doubles, b.doubles).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-12, "\(what) \(xs) \(ws) pad \(pad)")
            }
            close(ThinConvolutionKernels.forward(Double.self, x: x, w: w, g), ConvolutionKernels.im2colForward(Double.self, x: x, w: w, g), "forward")
            close(ThinConvolutionKernels.inputGradient(Double.self, gy: gy, w: w, g),
                  ConvolutionKernels.im2colInputGradient(Double.self, gy: gy, w: w, g), "input gradient")
            close(ThinConvolutionKernels.weightGradient(Double.self, x: x, gy: gy, g),
                  ConvolutionKernels.im2colWeightGradient(Double.self, x: x, gy: gy, g), "weight gradient")
        }
    }
}

extension ConvolutionPathTests {
    /// Several chunks on several workers give what one image at a time gives.
    func testChunkedBatchMatchesImageByImage() throws {
        var rng = SeededGenerator(seed: 5)
        let x = Tensor.randomNormal([5, 3, 28, 28], dtype: .float64, using: &rng)
        let w = Tensor.randomNormal([16, 3, 3, 3], dtype: .float64, using: &rng)
        let y = conv2d(x, w, padding: 1)
        let gy = Tensor.randomNormal(y.shape, dtype: .float64, using: &rng)
        let gx = conv2dInputGradient(gy, w, inputShape: x.shape, padding: 1)
        let gw = conv2dWeightGradient(x, gy, weightShape: w.shape, padding: 1)
        var gwSum = Tensor.zeros(w.shape, dtype: .float64)
        for n in 0..<5 {
            let xn = x.slice(alongAxis: 0, n..<n + 1), gyn = gy.slice(alongAxis: 0, n..<n + 1)
            XCTAssertEqual(conv2d(xn, w, padding: 1).doubles, y.slice(alongAxis: 0, n..<n + 1).doubles)
            let gxn = conv2dInputGradient(gyn, w, inputShape: xn.shape, padding: 1).doubles
            let expected = gx.slice(alongAxis: 0, n..<n + 1).doubles
            XCTAssertLessThan(zip(gxn, expected).map { abs($0 - $1) }.max() ?? 1, 1e-12)
            gwSum = gwSum + conv2dWeightGradient(xn, gyn, weightShape: w.shape, padding: 1)
        }
        XCTAssertLessThan(zip(gwSum.doubles, gw.doubles).map { abs($0 - $1) }.max() ?? 1, 1e-10)
    }
}
