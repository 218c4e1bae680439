import XCTest
@testable import RunReport

final class SVGChartTests: XCTestCase {
    func testAxesUseRoundTicksCoveringTheData() {
        let axis = SVGChart.Axis(values: [0.13, 0.87])
        XCTAssertEqual(axis.ticks.map { ($0 * 1e9).rounded() / 1e9 }, [0, 0.2, 0.4, 0.6, 0.8, 1.0])
        XCTAssertEqual(SVGChart.Axis(values: [1, 4], integral: true).ticks, [1, 2, 3, 4], "no ticks between iterations")
        let constant = SVGChart.Axis(values: [5, 5])
        XCTAssertLessThan(constant.low, 5)
        XCTAssertGreaterThan(constant.high, 5)
    }

    /// Step counts that double are spread evenly on a log axis with ticks at powers of two;
    /// points that a log axis cannot place are left out.
    func testLogarithmicXPutsDoublingsEvenlyApart() throws {
        XCTAssertEqual(SVGChart.Axis(exponents: [5, log2(48), 11]).ticks, [5, 6, 7, 8, 9, 10, 11])
        XCTAssertEqual(SVGChart.Axis(exponents: [0, 20]).ticks, stride(from: 0.0, through: 20, by: 3).map { $0 } + [21])
        var chart = SVGChart(title: "t", xLabel: "steps", yLabel: "y")
        chart.logarithmicX = true
        chart.series = [SVGChart.Series("s", points: [(0, 1), (32, 1), (64, 2), (128, 3)], color: "#000", style: .markers(radius: 2))]
        let svg = chart.svg()
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 3, "x = 0 has no place on a log axis")
        for label in [">32<", ">64<", ">128<"] { XCTAssertTrue(svg.contains(label), "tick \(label)") }
        let cx = try NSRegularExpression(pattern: "<circle cx=\"([0-9.]+)\"")
        let xs = cx.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).compactMap { match in
            Range(match.range(at: 1), in: svg).flatMap { Double(svg[$0]) }
        }
        XCTAssertEqual(xs.count, 3)
        XCTAssertEqual(xs[1] - xs[0], xs[2] - xs[1], accuracy: 0.11, "each doubling is the same distance")
    }

    func testEveryPointHasAHoverTitleAndNonFiniteOnesAreLeftOut() {
        var chart = SVGChart(title: "t <&>", xLabel: "x", yLabel: "y")
        chart.series = [SVGChart.Series("s", points: [(1, 2), (2, .nan), (3, 4)], color: "#000", style: .markers(radius: 2))]
        chart.referenceLines = [SVGChart.ReferenceLine("base", y: 3, color: "#f00")]
        let svg = chart.svg()
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 2)
        XCTAssertTrue(svg.contains("<title>s: 3, 4</title>"))
        XCTAssertTrue(svg.contains("<title>base: 3</title>"))
        XCTAssertTrue(svg.contains("t &lt;&amp;&gt;"))
        XCTAssertFalse(svg.contains("nan"))
    }

    func testSmoothingIsDebiased() {
        let smoothed = RunReport.smoothed([(1, 2), (2, 2), (3, 2)])
        XCTAssertEqual(smoothed.map(\.y), [2, 2, 2].map(Double.init), "a constant series stays constant from its first point")
    }

    func testTickLabels() {
        XCTAssertEqual(SVGChart.format(1200), "1200")
        XCTAssertEqual(SVGChart.format(0.25), "0.25")
        XCTAssertEqual(SVGChart.format(2.5), "2.5")
        XCTAssertEqual(SVGChart.format(0.0001), "1.00e-04")
    }
}
