import Foundation

/// A grayscale grid of square images with optional text labels above the columns and left of
/// the rows, rendered as PNG: white background and separators, black text.
///
/// Layout, left to right: padding, row labels (as wide as the longest), padding, then each
/// column as a cell followed by padding. Top to bottom: the column label band (`labelHeight`
/// tall, present only when some column has a label) or padding, then each row as a cell
/// followed by padding.
public struct ImageGrid {
    public let rows: Int
    public let columns: Int
    public let cellSize: Int
    public let padding: Int
    public let labelHeight: Int

    private var cells: [[UInt8]?]
    private var columnLabels: [String]
    private var rowLabels: [String]

    public init(rows: Int, columns: Int, cellSize: Int = 28, padding: Int = 2, labelHeight: Int = 9) {
        precondition(rows > 0 && columns > 0 && cellSize > 0, "ImageGrid: rows, columns and cellSize must be positive")
        precondition(padding >= 0 && labelHeight >= 0, "ImageGrid: padding and labelHeight must not be negative")
        self.rows = rows
        self.columns = columns
        self.cellSize = cellSize
        self.padding = padding
        self.labelHeight = labelHeight
        cells = Array(repeating: nil, count: rows * columns)
        columnLabels = Array(repeating: "", count: columns)
        rowLabels = Array(repeating: "", count: rows)
    }

    /// Places an image of `cellSize × cellSize` values, row by row. Values are mapped linearly
    /// from `range` (or, when nil, from the cell's own minimum and maximum) onto black…white,
    /// clamping what lies outside; NaN shows as black, and a
    /// constant cell as black (white where a value, such as infinity, lies above it).
    public mutating func setCell(row: Int, column: Int, pixels: [Float], range: ClosedRange<Float>? = nil) {
        checkCell(row: row, column: column)
        precondition(pixels.count == cellSize * cellSize,
                     "ImageGrid.setCell: \(pixels.count) values for a \(cellSize)×\(cellSize) cell")
        let finite = pixels.filter(\.isFinite)
        let low = range?.lowerBound ?? finite.min() ?? 0
        let high = range?.upperBound ?? finite.max() ?? 0
        let scale = high > low ? 255 / (high - low) : 0
        cells[row * columns + column] = pixels.map { value in
            if value.isNaN { return 0 }
            // A constant cell (or empty range) has no scale: only values above it show white.
            guard scale > 0 else { return value > high ? 255 : 0 }
            return UInt8(min(max((value - low) * scale, 0), 255).rounded())
        }
    }

    public mutating func setColumnLabel(_ column: Int, text: String) {
        precondition((0..<columns).contains(column), "ImageGrid: column \(column) outside 0..<\(columns)")
        columnLabels[column] = text
    }

    public mutating func setRowLabel(_ row: Int, text: String) {
        precondition((0..<rows).contains(row), "ImageGrid: row \(row) outside 0..<\(rows)")
        rowLabels[row] = text
    }

    /// The grid's pixel dimensions.
    public var size: (width: Int, height: Int) {
        let layout = self.layout
        return (layout.left + columns * (cellSize + padding), layout.top + rows * (cellSize + padding))
    }

    /// The grid's grayscale pixels, row by row, as `pngData()` encodes them.
    public func pixels() -> [UInt8] {
        let (width, height) = size
        let (left, top) = layout
        var canvas = [UInt8](repeating: 255, count: width * height)
        for row in 0..<rows {
            for column in 0..<columns {
                guard let cell = cells[row * columns + column] else { continue }
                let x = left + column * (cellSize + padding), y = top + row * (cellSize + padding)
                for cellRow in 0..<cellSize {
                    let start = (y + cellRow) * width + x
                    canvas.replaceSubrange(start..<(start + cellSize), with: cell[(cellRow * cellSize)..<((cellRow + 1) * cellSize)])
                }
            }
        }
        for (column, text) in columnLabels.enumerated() where !text.isEmpty {
            let x = left + column * (cellSize + padding) + (cellSize - GridFont.width(of: text)) / 2
            let y = max((labelHeight - GridFont.glyphHeight) / 2, 0)
            GridFont.draw(text, x: x, y: y, clip: (0..<width, 0..<labelHeight), into: &canvas, width: width)
        }
        for (row, text) in rowLabels.enumerated() where !text.isEmpty {
            let x = left - padding - GridFont.width(of: text)
            let y = top + row * (cellSize + padding) + (cellSize - GridFont.glyphHeight) / 2
            GridFont.draw(text, x: x, y: y, clip: (0..<width, 0..<height), into: &canvas, width: width)
        }
        return canvas
    }

    public func pngData() -> Data {
        let (width, height) = size
        return PNG.encodeGray(width: width, height: height, pixels: pixels())
    }

    /// Where the first cell starts, which depends on which labels are set.
    private var layout: (left: Int, top: Int) {
        let labelWidth = rowLabels.map(GridFont.width(of:)).max() ?? 0
        let left = labelWidth > 0 ? padding + labelWidth + padding : padding
        let top = columnLabels.contains { !$0.isEmpty } ? labelHeight : padding
        return (left, top)
    }

    private func checkCell(row: Int, column: Int) {
        precondition((0..<rows).contains(row) && (0..<columns).contains(column),
                     "ImageGrid: cell (\(row), \(column)) outside a \(rows)×\(columns) grid")
    }
}

/// A 5×7 bitmap font: digits, a few punctuation marks and the lowercase letters that labels
/// such as "step", "class", "lr" or "t=3" need. Uppercase draws as lowercase; anything else
/// is blank. Each glyph is 7 rows of 5 bits, the leftmost pixel in bit 4.
private enum GridFont {
    static let glyphWidth = 5
    static let glyphHeight = 7
    static let advance = glyphWidth + 1

    static func width(of text: String) -> Int {
        text.isEmpty ? 0 : text.count * advance - 1
    }

    static func draw(_ text: String, x: Int, y: Int, clip: (Range<Int>, Range<Int>), into canvas: inout [UInt8], width: Int) {
        for (index, character) in text.lowercased().enumerated() {
            guard let glyph = glyphs[character] else { continue }
            for (glyphRow, bits) in glyph.enumerated() {
                for glyphColumn in 0..<glyphWidth where bits & (0x10 >> glyphColumn) != 0 {
                    let px = x + index * advance + glyphColumn, py = y + glyphRow
                    if clip.0.contains(px) && clip.1.contains(py) { canvas[py * width + px] = 0 }
                }
            }
        }
    }

    static let glyphs: [Character: [UInt8]] = [
        "0": [0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110],
        "1": [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
        "2": [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111],
        "3": [0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110],
        "4": [0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010],
        "5": [0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110],
        "6": [0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110],
        "7": [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000],
        "8": [0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110],
        "9": [0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100],
        "=": [0b00000, 0b00000, 0b11111, 0b00000, 0b11111, 0b00000, 0b00000],
        "-": [0b00000, 0b00000, 0b00000, 0b11111, 0b00000, 0b00000, 0b00000],
        ".": [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b01100],
        ":": [0b00000, 0b01100, 0b01100, 0b00000, 0b01100, 0b01100, 0b00000],
        "a": [0b00000, 0b00000, 0b01110, 0b00001, 0b01111, 0b10001, 0b01111],
        "b": [0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b11110],
        "c": [0b00000, 0b00000, 0b01110, 0b10000, 0b10000, 0b10001, 0b01110],
        "d": [0b00001, 0b00001, 0b01101, 0b10011, 0b10001, 0b10001, 0b01111],
        "e": [0b00000, 0b00000, 0b01110, 0b10001, 0b11111, 0b10000, 0b01110],
        "g": [0b00000, 0b01111, 0b10001, 0b10001, 0b01111, 0b00001, 0b01110],
        "h": [0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001],
        "i": [0b00100, 0b00000, 0b01100, 0b00100, 0b00100, 0b00100, 0b01110],
        "l": [0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
        "m": [0b00000, 0b00000, 0b11010, 0b10101, 0b10101, 0b10001, 0b10001],
        "n": [0b00000, 0b00000, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001],
        "o": [0b00000, 0b00000, 0b01110, 0b10001, 0b10001, 0b10001, 0b01110],
        "p": [0b00000, 0b00000, 0b11110, 0b10001, 0b11110, 0b10000, 0b10000],
        "r": [0b00000, 0b00000, 0b10110, 0b11001, 0b10000, 0b10000, 0b10000],
        "s": [0b00000, 0b00000, 0b01110, 0b10000, 0b01110, 0b00001, 0b11110],
        "t": [0b01000, 0b01000, 0b11100, 0b01000, 0b01000, 0b01001, 0b00110],
        "u": [0b00000, 0b00000, 0b10001, 0b10001, 0b10001, 0b10011, 0b01101],
        "x": [0b00000, 0b00000, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001],
        "y": [0b00000, 0b00000, 0b10001, 0b10001, 0b01111, 0b00001, 0b01110],
    ]
}
