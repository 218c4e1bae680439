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
