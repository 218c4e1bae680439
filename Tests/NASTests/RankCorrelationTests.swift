import Support
import XCTest
@testable import NAS

final class RankCorrelationTests: XCTestCase {
    func testRanksAverageTies() {
        XCTAssertEqual(RankCorrelation.ranks([10, 30, 20]), [1, 3, 2])
        XCTAssertEqual(RankCorrelation.ranks([1, 2, 2, 3]), [1, 2.5, 2.5, 4])
        XCTAssertEqual(RankCorrelation.ranks([5, 5, 5]), [2, 2, 2])
    }

    func testSpearmanWithoutTies() throws {
        // d = 0, −1, 1, 0: ρ = 1 − 6·2 / (4·15) = 0.8.
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.spearman([1, 2, 3, 4], [1, 3, 2, 4])), 0.8, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.spearman([1, 2, 3, 4], [10, 20, 30, 40])), 1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.spearman([1, 2, 3, 4], [0.4, 0.3, 0.2, 0.1])), -1, accuracy: 1e-12)
        // Monotone transforms do not matter.
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.spearman([1, 2, 3, 4], [1, 30, 20, 400])), 0.8, accuracy: 1e-12)
    }

    func testSpearmanWithTies() throws {
        // Ranks (1, 2.5, 2.5, 4) and (1, 2, 3.5, 3.5): covariance 3.75, variances 4.5 and 4.5.
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.spearman([1, 2, 2, 3], [1, 2, 3, 3])), 3.75 / 4.5, accuracy: 1e-12)
    }

    func testKendallTauB() throws {
        // Pairs: 5 concordant, 1 discordant of 6: τ = 4/6.
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.kendallTauB([1, 2, 3, 4], [1, 3, 2, 4])), 4.0 / 6, accuracy: 1e-12)
        // 4 concordant, one pair tied in x only, one tied in y only: τ-b = 4 / √(5·5) = 0.8.
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.kendallTauB([1, 2, 2, 3], [1, 2, 3, 3])), 0.8, accuracy: 1e-12)
        // A pair tied on both sides: x = (1,1,2), y = (1,1,3): 2 concordant, n0 = 3, 1 tie each: 2/2 = 1.
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.kendallTauB([1, 1, 2], [1, 1, 3])), 1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.kendallTauB([1, 2, 3], [3, 2, 1])), -1, accuracy: 1e-12)
    }

    func testUndefinedCorrelationsAreNil() {
        XCTAssertNil(RankCorrelation.spearman([1], [2]))
        XCTAssertNil(RankCorrelation.spearman([1, 1, 1], [1, 2, 3]))
        XCTAssertNil(RankCorrelation.kendallTauB([1, 2, 3], [4, 4, 4]))
        XCTAssertNil(RankCorrelation.kendallTauB([], []))
    }

    func testGroundTruthRanksOfTheTopK() {
        let proxy = [0.9, 0.5, 0.8, 0.7, 0.1]
        let truth = [0.3, 0.9, 0.4, 0.8, 0.1]  // ranks: 4, 1, 3, 2, 5
        XCTAssertEqual(RankCorrelation.groundTruthRanks(ofTop: 3, proxy: proxy, groundTruth: truth), [4, 3, 2])
        XCTAssertEqual(RankCorrelation.groundTruthRanks(ofTop: 10, proxy: proxy, groundTruth: truth), [4, 3, 2, 1, 5])
        // Proxy ties go to the earlier candidate; ground-truth ties share the best rank.
        XCTAssertEqual(RankCorrelation.groundTruthRanks(ofTop: 2, proxy: [0.5, 0.5, 0.1], groundTruth: [0.2, 0.2, 0.9]), [2, 2])
    }
}

final class BootstrapIntervalTests: XCTestCase {
    /// The interval holds the sample ρ, narrows with more candidates, is reproducible, and is
    /// [1, 1] for a perfect ranking (every resample keeps the order).
    func testSpearmanBootstrapInterval() throws {
        var rng = SeededGenerator(seed: 3)
        func sample(_ n: Int) -> ([Double], [Double]) {
            let x = (0..<n).map { _ in rng.nextUniform() }
            return (x, x.map { $0 + 0.3 * rng.nextNormal() })
        }
        let (x, y) = sample(30)
        let rho = try XCTUnwrap(RankCorrelation.spearman(x, y))
        let interval = try XCTUnwrap(RankCorrelation.spearmanBootstrapInterval(x, y))
        XCTAssertTrue(interval.contains(rho), "\(interval) should hold \(rho)")
        XCTAssertGreaterThan(interval.upperBound - interval.lowerBound, 0.05)
        XCTAssertEqual(RankCorrelation.spearmanBootstrapInterval(x, y), interval)
        let (bigX, bigY) = sample(300)
        let wide = try XCTUnwrap(RankCorrelation.spearmanBootstrapInterval(bigX, bigY))
        XCTAssertLessThan(wide.upperBound - wide.lowerBound, interval.upperBound - interval.lowerBound)
        XCTAssertEqual(RankCorrelation.spearmanBootstrapInterval([1, 2, 3, 4], [10, 20, 30, 40]), 1...1)
        XCTAssertNil(RankCorrelation.spearmanBootstrapInterval([1], [2]))
    }
}
