import XCTest
@testable import Kernels

final class CPUFeaturesTests: XCTestCase {
    func testThisMachineHasRequiredFeatures() {
        XCTAssertNil(CPUFeatures.missingRequiredFeatures())
        #if arch(x86_64) && os(Linux)
        // Guards against the check passing only because the flags could not be read.
        let flags = CPUFeatures.cpuFlags()
        XCTAssertNotNil(flags)
        XCTAssertTrue(flags?.contains("avx2") ?? false)
        #endif
    }
}
