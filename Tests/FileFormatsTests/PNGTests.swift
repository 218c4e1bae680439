import CZlib
import Foundation
import TestSupport
import XCTest
@testable import FileFormats

final class PNGTests: XCTestCase {
    func testGrayscaleEncodingDecodesToTheSamePixels() throws {
        let pixels: [UInt8] = [0, 64, 128, 255, 1, 2, 3, 4, 200, 100, 50, 25]
        let image = try DecodedPNG(PNG.encodeGray(width: 4, height: 3, pixels: pixels))
        XCTAssertEqual(image.width, 4)
        XCTAssertEqual(image.height, 3)
        XCTAssertEqual(image.colorType, 0)
        XCTAssertEqual(image.pixels, pixels)
    }

    func testRGBEncodingDecodesToTheSamePixels() throws {
        let pixels: [UInt8] = (0..<(2 * 5 * 3)).map { UInt8($0 * 8) }
        let image = try DecodedPNG(PNG.encodeRGB(width: 2, height: 5, pixels: pixels))
        XCTAssertEqual(image.width, 2)
        XCTAssertEqual(image.height, 5)
        XCTAssertEqual(image.colorType, 2)
        XCTAssertEqual(image.pixels, pixels)
    }

    func testChunkStructure() throws {
        let image = try DecodedPNG(PNG.encodeGray(width: 1, height: 1, pixels: [9]))
        XCTAssertEqual(image.chunkTypes, ["IHDR", "IDAT", "IEND"])
        // Independently computed CRC of an empty IEND chunk, fixed by the PNG spec.
        XCTAssertEqual(crc32(Array("IEND".utf8)), 0xAE42_6082)
    }

    func testFileCommandRecognisesImage() throws {
        let tool = URL(fileURLWithPath: "/usr/bin/file")
        guard FileManager.default.isExecutableFile(atPath: tool.path) else { throw XCTSkip("no `file` command") }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("IOPNGTests-\(UUID().uuidString).png")
        try PNG.encodeRGB(width: 3, height: 2, pixels: Array(repeating: 7, count: 18)).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let process = Process()
        let output = Pipe()
        process.executableURL = tool
        process.arguments = ["-b", url.path]
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertTrue(text.hasPrefix("PNG image data, 3 x 2, 8-bit/color RGB, non-interlaced"), text)
    }

    // MARK: - ImageGrid

    func testGridLayoutWithoutLabels() throws {
        var grid = ImageGrid(rows: 2, columns: 3, cellSize: 4, padding: 1)
        XCTAssertEqual(grid.size.width, 1 + 3 * 5)
        XCTAssertEqual(grid.size.height, 1 + 2 * 5)
        grid.setCell(row: 1, column: 2, pixels: Array(repeating: 0.5, count: 16), range: 0...1)
        let pixels = grid.pixels()
        let width = grid.size.width
        // Cell (1, 2) starts at x = 1 + 2·5, y = 1 + 1·5.
        for y in 0..<grid.size.height {
            for x in 0..<width {
                let inside = (11..<15).contains(x) && (6..<10).contains(y)
                XCTAssertEqual(pixels[y * width + x], inside ? 128 : 255, "(\(x), \(y))")
            }
        }
        let image = try DecodedPNG(grid.pngData())
        XCTAssertEqual(image.pixels, pixels)
    }

    func testCellNormalisation() {
        var grid = ImageGrid(rows: 1, columns: 3, cellSize: 2, padding: 0)
        grid.setCell(row: 0, column: 0, pixels: [-3, -1, 1, 5])
        grid.setCell(row: 0, column: 1, pixels: [-2, 0, 0.5, 2], range: -1...1)
        grid.setCell(row: 0, column: 2, pixels: [.nan, 4, 4, .infinity])
        let pixels = grid.pixels()
        XCTAssertEqual(Array(pixels[0..<6]), [0, 64, 0, 128, 0, 0])
        XCTAssertEqual(Array(pixels[6..<12]), [128, 255, 191, 255, 0, 255])
    }

    func testLabelsAreDrawnInTheirMargins() {
        var grid = ImageGrid(rows: 2, columns: 2, cellSize: 10, padding: 2, labelHeight: 9)
        grid.setColumnLabel(1, text: "7")
        grid.setRowLabel(0, text: "t=10")
        let width = grid.size.width
        let labelWidth = 4 * 6 - 1
        XCTAssertEqual(width, 2 + labelWidth + 2 + 2 * 12)
        XCTAssertEqual(grid.size.height, 9 + 2 * 12)
        let pixels = grid.pixels()
        func black(x: Range<Int>, y: Range<Int>) -> Int {
            y.reduce(0) { count, row in count + x.filter { pixels[row * width + $0] == 0 }.count }
        }
        let columnLeft = 2 + labelWidth + 2 + 12
        // "7" is centred over column 1: top row of its glyph is a full 5-pixel bar.
        XCTAssertEqual(black(x: (columnLeft + 2)..<(columnLeft + 7), y: 1..<2), 5)
        XCTAssertEqual(black(x: 0..<columnLeft, y: 0..<9), 0, "column 0 has no label")
        XCTAssertGreaterThan(black(x: 2..<(2 + labelWidth), y: 9..<19), 20, "row 0 label")
        XCTAssertEqual(black(x: 0..<(2 + labelWidth + 2), y: 21..<33), 0, "row 1 has no label")
    }

    func testUnknownCharactersRenderBlank() {
        var known = ImageGrid(rows: 1, columns: 1, cellSize: 40, padding: 0)
        known.setColumnLabel(0, text: "1 1")
        var unknown = ImageGrid(rows: 1, columns: 1, cellSize: 40, padding: 0)
        unknown.setColumnLabel(0, text: "1€1")
        XCTAssertEqual(known.pixels(), unknown.pixels())
        XCTAssertTrue(known.pixels().contains(0))
    }
}

/// A PNG reader just capable enough to check what `PNG` writes: verifies every chunk's CRC
/// with its own CRC-32 and inflates the image data with zlib.
private struct DecodedPNG {
    var width = 0
    var height = 0
    var colorType: UInt8 = 0
    var chunkTypes: [String] = []
    var pixels: [UInt8] = []

    struct Invalid: Error { var reason: String }

    init(_ data: Data) throws {
        let bytes = [UInt8](data)
        guard bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else { throw Invalid(reason: "signature") }
        var index = 8
        var compressed: [UInt8] = []
        func uint32(at offset: Int) -> UInt32 { bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
        while index < bytes.count {
            let length = Int(uint32(at: index))
            let type = String(decoding: bytes[(index + 4)..<(index + 8)], as: UTF8.self)
            let body = Array(bytes[(index + 8)..<(index + 8 + length)])
            guard uint32(at: index + 8 + length) == crc32(Array(bytes[(index + 4)..<(index + 8 + length)])) else {
                throw Invalid(reason: "CRC of \(type)")
            }
            chunkTypes.append(type)
            switch type {
            case "IHDR":
                width = Int(uint32(at: index + 8))
                height = Int(uint32(at: index + 12))
                guard body[8] == 8, body[10] == 0, body[11] == 0, body[12] == 0 else { throw Invalid(reason: "IHDR fields") }
                colorType = body[9]
            case "IDAT":
                compressed += body
            default:
                break
            }
            index += 12 + length
        }
        let channels = colorType == 2 ? 3 : 1
        let rowBytes = width * channels + 1
        var inflated = [UInt8](repeating: 0, count: rowBytes * height)
        var inflatedCount = uLongf(inflated.count)
        let status = uncompress(&inflated, &inflatedCount, compressed, uLong(compressed.count))
        guard status == Z_OK, Int(inflatedCount) == inflated.count else { throw Invalid(reason: "IDAT inflate") }
        for row in 0..<height {
            guard inflated[row * rowBytes] == 0 else { throw Invalid(reason: "filter type of row \(row)") }
            pixels += inflated[(row * rowBytes + 1)..<((row + 1) * rowBytes)]
        }
    }

}
