import Foundation

/// A small line and scatter chart rendered as inline SVG: linear axes with round tick values (or
/// a base-2 logarithmic x axis), series drawn as lines or markers (optionally with ± error bars),
/// horizontal reference lines and a legend. Every marker carries a `<title>`, which browsers show
/// on hover.
public struct SVGChart {
    public enum Style: Sendable {
        case line
        case markers(radius: Double)
        /// A line with a marker on every point.
        case lineAndMarkers(radius: Double)
    }

    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var color: String
        public var style: Style
        /// ± this much around each point's y, drawn as a bar (same order as `points`).
        public var errors: [Double]?
        /// Per-point hover text; the default names the series and the coordinates.
        public var hoverTexts: [String]?
        public var lineWidth: Double
        public var opacity: Double

        public init(_ name: String, points: [(x: Double, y: Double)], color: String, style: Style = .line,
                    errors: [Double]? = nil, hoverTexts: [String]? = nil, lineWidth: Double = 1.5, opacity: Double = 1) {
            self.name = name
            self.points = points
            self.color = color
            self.style = style
            self.errors = errors
            self.hoverTexts = hoverTexts
            self.lineWidth = lineWidth
            self.opacity = opacity
        }
    }

    public struct ReferenceLine {
        public var name: String
        public var y: Double
        public var color: String

        public init(_ name: String, y: Double, color: String) {
            self.name = name
            self.y = y
            self.color = color
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series] = []
    public var referenceLines: [ReferenceLine] = []
    public var width = 560.0
    public var height = 320.0
    /// Forces the y axis to include these values (e.g. 0…1 for accuracies).
    public var yIncludes: [Double] = []
    public var xIncludes: [Double] = []
    /// Draws x on a base-2 logarithmic axis with ticks at powers of two, for quantities that
    /// double (step counts); points with x ≤ 0 are left out.
    public var logarithmicX = false

    public init(title: String, xLabel: String, yLabel: String) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    private let margin = (left: 62.0, right: 16.0, top: 44.0, bottom: 44.0)

    public func svg() -> String {
        // x in axis space: as it is, or its base-2 logarithm.
        let axisX: (Double) -> Double = logarithmicX ? { log2($0) } : { $0 }
        func drawable(_ point: (x: Double, y: Double)) -> Bool { point.x.isFinite && point.y.isFinite && (!logarithmicX || point.x > 0) }
        let finite = series.flatMap { s in s.points.indices.map { i in (s.points[i], s.errors?[i] ?? 0) } }
            .filter { drawable($0.0) }
        var xs = (finite.map(\.0.x) + xIncludes.filter { !logarithmicX || $0 > 0 }).map(axisX)
        var ys = finite.flatMap { [$0.0.y - $0.1, $0.0.y + $0.1] } + referenceLines.map(\.y).filter(\.isFinite) + yIncludes
        // Scatter plots keep markers off the frame.
        if series.allSatisfy({ if case .markers = $0.style { true } else { false } }) {
            func padded(_ values: [Double]) -> [Double] {
                guard let low = values.min(), let high = values.max() else { return values }
                let pad: Double = 0.04 * (high - low)
                return values + [low - pad, high + pad]
            }
            xs = padded(xs)
            ys = padded(ys)
        }
        let xAxis = logarithmicX ? Axis(exponents: xs) : Axis(values: xs, integral: !xs.isEmpty && xs.allSatisfy { $0 == $0.rounded() })
        let yAxis = Axis(values: ys)
        let plot = (x0: margin.left, x1: width - margin.right, y0: margin.top, y1: height - margin.bottom)
        func pxAxis(_ a: Double) -> Double { plot.x0 + (a - xAxis.low) / (xAxis.high - xAxis.low) * (plot.x1 - plot.x0) }
        func px(_ x: Double) -> Double { pxAxis(axisX(x)) }
        func py(_ y: Double) -> Double { plot.y1 - (y - yAxis.low) / (yAxis.high - yAxis.low) * (plot.y1 - plot.y0) }

        var out = "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\" font-family=\"sans-serif\" font-size=\"11\">"
        out += "<title>\(escape(title))</title>"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
        out += "<text x=\"\(f(width / 2))\" y=\"16\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">\(escape(title))</text>"
        // Grid and ticks.
        for t in xAxis.ticks {
            out += "<line x1=\"\(f(pxAxis(t)))\" x2=\"\(f(pxAxis(t)))\" y1=\"\(f(plot.y0))\" y2=\"\(f(plot.y1))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(f(pxAxis(t)))\" y=\"\(f(plot.y1 + 14))\" text-anchor=\"middle\" fill=\"#444\">\(Self.format(logarithmicX ? exp2(t) : t))</text>"
        }
        for t in yAxis.ticks {
            out += "<line x1=\"\(f(plot.x0))\" x2=\"\(f(plot.x1))\" y1=\"\(f(py(t)))\" y2=\"\(f(py(t)))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(f(plot.x0 - 5))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\" fill=\"#444\">\(Self.format(t))</text>"
        }
        out += "<rect x=\"\(f(plot.x0))\" y=\"\(f(plot.y0))\" width=\"\(f(plot.x1 - plot.x0))\" height=\"\(f(plot.y1 - plot.y0))\" fill=\"none\" stroke=\"#888\"/>"
        out += "<text x=\"\(f((plot.x0 + plot.x1) / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        out += "<text transform=\"translate(14 \(f((plot.y0 + plot.y1) / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>"

        for line in referenceLines where line.y.isFinite {
            out += "<line x1=\"\(f(plot.x0))\" x2=\"\(f(plot.x1))\" y1=\"\(f(py(line.y)))\" y2=\"\(f(py(line.y)))\" stroke=\"\(line.color)\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"><title>\(escape(line.name)): \(Self.format(line.y, digits: 4))</title></line>"
        }
        for s in series {
            let shown = s.points.indices.filter { drawable(s.points[$0]) }
            let opacity = s.opacity < 1 ? " opacity=\"\(f(s.opacity))\"" : ""
            out += "<g\(opacity)>"
            if let errors = s.errors {
                for i in shown where errors[i] > 0 {
                    let (x, y) = s.points[i]
                    out += "<line x1=\"\(f(px(x)))\" x2=\"\(f(px(x)))\" y1=\"\(f(py(y - errors[i])))\" y2=\"\(f(py(y + errors[i])))\" stroke=\"\(s.color)\" stroke-width=\"1\"/>"
                }
            }
            var radius: Double?, hoverRadius = 4.0
            switch s.style {
            case .line: radius = nil
            case .markers(let r): radius = r; hoverRadius = max(r, 3)
            case .lineAndMarkers(let r): radius = r; hoverRadius = max(r, 3)
            }
            if case .markers = s.style {} else if shown.count > 1 {
                let path = shown.map { "\(f(px(s.points[$0].x))),\(f(py(s.points[$0].y)))" }.joined(separator: " ")
                out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"\(f(s.lineWidth))\"/>"
            }
            // Hover targets: visible markers, or invisible ones along a line (thinned on long lines).
            let stride = radius == nil ? max(1, shown.count / 400) : 1
            for (n, i) in shown.enumerated() where n % stride == 0 {
                let (x, y) = s.points[i]
                let text = s.hoverTexts?[i] ?? "\(s.name): \(Self.format(x, digits: 4)), \(Self.format(y, digits: 4))"
                let fill = radius == nil ? "fill=\"transparent\"" : "fill=\"\(s.color)\""
                out += "<circle cx=\"\(f(px(x)))\" cy=\"\(f(py(y)))\" r=\"\(f(radius ?? hoverRadius))\" \(fill)><title>\(escape(text))</title></circle>"
            }
            out += "</g>"
        }
        // Legend, one row under the title.
        var x = plot.x0
        for (name, color, opacity) in series.map({ ($0.name, $0.color, $0.opacity) }) + referenceLines.map({ ($0.name, $0.color, 1.0) }) {
            out += "<rect x=\"\(f(x))\" y=\"26\" width=\"10\" height=\"10\" fill=\"\(color)\" fill-opacity=\"\(f(opacity))\"/>"
            out += "<text x=\"\(f(x + 14))\" y=\"35\">\(escape(name))</text>"
            x += 24 + Double(name.count) * 6.2
        }
        return out + "</svg>"
    }

    /// Round tick values covering `values`, about five of them.
    struct Axis {
        var low: Double
        var high: Double
        var ticks: [Double]

        init(values: [Double], integral: Bool = false) {
            let finite = values.filter(\.isFinite)
            var low = finite.min() ?? 0, high = finite.max() ?? 1
            if high - low < 1e-12 * max(abs(low), 1) { low -= max(abs(low) * 0.1, 0.5); high += max(abs(high) * 0.1, 0.5) }
            let rough = (high - low) / 5
            let magnitude = pow(10, floor(log10(rough)))
            var step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
            if integral { step = max(step.rounded(), 1) }
            self.low = floor(low / step) * step
            self.high = ceil(high / step) * step
            ticks = stride(from: self.low, through: self.high + step / 2, by: step).map { ($0 / step).rounded() * step }
        }

        /// A base-2 logarithmic axis in exponent space: whole exponents covering `values`, every
        /// one a tick up to nine of them (32, 64, … 2048 for step counts), every second beyond.
        init(exponents values: [Double]) {
            let finite = values.filter(\.isFinite)
            let low = floor(finite.min() ?? 0), high = max(ceil(finite.max() ?? 1), low + 1)
            let step = max(1, ceil((high - low) / 8))
            self.low = low
            self.high = low + ceil((high - low) / step) * step
            ticks = stride(from: self.low, through: self.high, by: step).map { $0 }
        }
    }

    static func format(_ value: Double, digits: Int = 3) -> String {
        if value == 0 { return "0" }
        // Whole numbers as they are (iterations, seconds), unless huge.
        if value == value.rounded() && abs(value) < 1e6 { return String(format: "%.0f", value) }
        if abs(value) >= 1e5 || abs(value) < 1e-3 { return String(format: "%.\(digits - 1)e", value) }
        return String(format: "%.\(digits)g", value)
    }

    private func f(_ value: Double) -> String { String(format: "%.1f", value) }
}

/// Escapes text for HTML and SVG content and attribute values.
func escape(_ text: String) -> String {
    var out = ""
    for c in text {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(c)
        }
    }
    return out
}
