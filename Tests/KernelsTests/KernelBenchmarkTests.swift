import XCTest
@testable import Kernels

final class KernelBenchmarkTests: XCTestCase {
    /// The measured peak is the denominator of `gtn bench`'s fraction of peak: it must be a
    /// positive, finite rate for any thread count (no timing is asserted beyond that).
    func testFMAPeakIsAPositiveFiniteRate() {
        let peak = KernelBenchmark.fmaPeakGflops(iterations: 10_000)
        XCTAssertTrue(peak.isFinite)
        XCTAssertGreaterThan(peak, 0)
    }
}
