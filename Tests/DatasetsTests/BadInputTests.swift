import Datasets
import Foundation
import TestSupport
import XCTest

/// Every malformed input is a DatasetError naming the file and the problem — never a crash.
final class BadInputTests: XCTestCase {
    var tmp: TempDir!

    override func setUpWithError() throws { tmp = try TempDir() }
    override func tearDown() { tmp = nil }

    func testValidSyntheticFilesRoundTrip() throws {
        let raw: [UInt8] = [0, 255, 128, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        let plain = try tmp.write("img", IDXBytes.images(count: 2, rows: 2, cols: 3, pixels: raw))
        let gz = try tmp.write("img.gz", StoredGzip.compress(IDXBytes.images(count: 2, rows: 2, cols: 3, pixels: raw)))
        for url in [plain, gz] {
            let r = try IDXFile.readImages(url)
            XCTAssertEqual([r.count, r.rows, r.cols], [2, 2, 3])
            XCTAssertEqual(r.pixels, raw.map { (Float($0) / 255 - 0.1307) / 0.3081 })
        }
        let labels = try tmp.write("lab.gz", StoredGzip.compress(IDXBytes.labels([0, 9, 5])))
        XCTAssertEqual(try IDXFile.readLabels(labels), [0, 9, 5])
    }

    func testTruncatedImageFile() throws {
        let full = IDXBytes.images(count: 5, rows: 3, cols: 4)
        let url = try tmp.write("train-images-idx3-ubyte", Array(full.prefix(16 + 20)))
        assertDatasetError([url.path, "truncated", "5×3×4", "60 bytes", "holds 20"]) { _ = try IDXFile.readImages(url) }
        let header = try tmp.write("short-header", Array(full.prefix(10)))
        assertDatasetError([header.path, "truncated", "16 bytes"]) { _ = try IDXFile.readImages(header) }
        let empty = try tmp.write("empty", [])
        assertDatasetError([empty.path, "truncated"]) { _ = try IDXFile.readImages(empty) }
    }

    func testTruncatedLabelFile() throws {
        let url = try tmp.write("train-labels-idx1-ubyte", Array(IDXBytes.labels([1, 2, 3, 4]).dropLast(2)))
        assertDatasetError([url.path, "truncated", "header says 4 labels", "holds 2"]) { _ = try IDXFile.readLabels(url) }
    }

    func testExtraTrailingBytes() throws {
        let url = try tmp.write("labels", IDXBytes.labels([1, 2]) + [0, 0, 0])
        assertDatasetError([url.path, "wrong length", "3 extra bytes"]) { _ = try IDXFile.readLabels(url) }
    }

    func testTruncatedGzipFile() throws {
        let gz = StoredGzip.compress(IDXBytes.images(count: 5, rows: 3, cols: 4))
        let url = try tmp.write("t10k-images-idx3-ubyte.gz", Array(gz.prefix(gz.count / 2)))
        assertDatasetError([url.path, "truncated gzip stream"]) { _ = try IDXFile.readImages(url) }
        let tiny = try tmp.write("tiny.gz", [0x1f, 0x8b, 8])
        assertDatasetError([tiny.path, "truncated gzip"]) { _ = try IDXFile.readImages(tiny) }
    }

    /// A real (zlib-compressed) file cut short, the way an interrupted copy leaves it.
    func testTruncatedRealGzipFile() throws {
        let source = try RealMNIST.requireDirectory().appendingPathComponent("t10k-labels-idx1-ubyte.gz")
        guard FileManager.default.fileExists(atPath: source.path) else { throw XCTSkip("no \(source.path)") }
        let bytes = try [UInt8](Data(contentsOf: source))
        let url = try tmp.write("t10k-labels-idx1-ubyte.gz", Array(bytes.prefix(3000)))
        assertDatasetError([url.path, "truncated gzip stream"]) { _ = try IDXFile.readLabels(url) }
    }

    func testCompleteGzipOfTruncatedIDX() throws {
        let body = Array(IDXBytes.images(count: 5, rows: 3, cols: 4).dropLast(7))
        let url = try tmp.write("t10k-images-idx3-ubyte.gz", StoredGzip.compress(body))
        assertDatasetError([url.path, "truncated: header says 5×3×4 images (60 bytes) but the file holds 53"]) {
            _ = try IDXFile.readImages(url)
        }
    }

    func testCorruptGzipData() throws {
        var gz = StoredGzip.compress(IDXBytes.labels([1, 2, 3]))
        gz[gz.count - 10] ^= 0xff  // a data byte: the CRC-32 no longer matches
        let url = try tmp.write("labels.gz", gz)
        assertDatasetError([url.path, "corrupt gzip data"]) { _ = try IDXFile.readLabels(url) }
        var trailing = StoredGzip.compress(IDXBytes.labels([1]))
        trailing += [1, 2, 3]
        let url2 = try tmp.write("trailing.gz", trailing)
        assertDatasetError([url2.path, "trailing garbage"]) { _ = try IDXFile.readLabels(url2) }
    }

    func testMultiMemberGzip() throws {
        let body = IDXBytes.labels([1, 2, 3, 4, 5, 6])
        let url = try tmp.write("multi.gz", StoredGzip.compress(Array(body[..<5])) + StoredGzip.compress(Array(body[5...])))
        XCTAssertEqual(try IDXFile.readLabels(url), [1, 2, 3, 4, 5, 6])
    }

    func testNonGzipFileNamedGz() throws {
        let url = try tmp.write("train-images-idx3-ubyte.gz", IDXBytes.images(count: 1, rows: 2, cols: 2))
        assertDatasetError([url.path, "not a gzip file", "found 0 0 8 3"]) { _ = try IDXFile.readImages(url) }
        let html = try tmp.write("train-labels-idx1-ubyte.gz", Array("<html>Not Found</html>".utf8))
        assertDatasetError([html.path, "not a gzip file"]) { _ = try IDXFile.readLabels(html) }
        let empty = try tmp.write("empty.gz", [])
        assertDatasetError([empty.path, "not a gzip file", "empty file"]) { _ = try IDXFile.readLabels(empty) }
    }

    func testWrongMagic() throws {
        let labels = try tmp.write("train-images-idx3-ubyte", IDXBytes.labels([1, 2]))
        assertDatasetError([labels.path, "wrong magic number 0x00000801", "2049, an IDX label file", "expected an IDX image file (magic 2051)"]) {
            _ = try IDXFile.readImages(labels)
        }
        let images = try tmp.write("train-labels-idx1-ubyte", IDXBytes.images(count: 1, rows: 1, cols: 1))
        assertDatasetError([images.path, "wrong magic number 0x00000803", "expected an IDX label file"]) {
            _ = try IDXFile.readLabels(images)
        }
        let junk = try tmp.write("junk", Array("GIF89a junk bytes".utf8))
        assertDatasetError([junk.path, "wrong magic number 0x47494638"]) { _ = try IDXFile.readImages(junk) }
        // int32 data (type 0x0C) with 3 dims: an IDX file, but not one of ours.
        let int32 = try tmp.write("int32", IDXBytes.be32(0x0C03) + IDXBytes.be32(1) + IDXBytes.be32(1) + IDXBytes.be32(1) + [0, 0, 0, 1])
        assertDatasetError([int32.path, "wrong magic number 0x00000C03"]) { _ = try IDXFile.readImages(int32) }
    }

    func testZeroDimension() throws {
        let url = try tmp.write("zero", IDXBytes.images(count: 3, rows: 0, cols: 4, pixels: []))
        assertDatasetError([url.path, "3×0×4", "dimension 1 is 0"]) { _ = try IDXFile.readImages(url) }
    }

    func testLabelOutOfRange() throws {
        let url = try tmp.write("train-labels-idx1-ubyte.gz", StoredGzip.compress(IDXBytes.labels([0, 9, 2, 10, 3])))
        assertDatasetError([url.path, "label 10 at index 3 is outside 0-9"]) { _ = try IDXFile.readLabels(url) }
        let big = try tmp.write("big", IDXBytes.labels([255]))
        assertDatasetError([big.path, "label 255 at index 0"]) { _ = try IDXFile.readLabels(big) }
    }

    func testImageLabelCountMismatch() throws {
        let images = try tmp.write("train-images-idx3-ubyte", IDXBytes.images(count: 5, rows: 2, cols: 2))
        let labels = try tmp.write("train-labels-idx1-ubyte", IDXBytes.labels([1, 2, 3, 4]))
        assertDatasetError([images.path, labels.path, "5 images", "4 labels"]) {
            _ = try IDXFile.readLabeledImages(images: images, labels: labels)
        }
    }

    func testMissingFileAndDirectoryAsFile() throws {
        let missing = tmp.url.appendingPathComponent("nope.gz")
        assertDatasetError([missing.path, "does not exist"]) { _ = try IDXFile.readImages(missing) }
        assertDatasetError([tmp.url.path, "not a regular file"]) { _ = try IDXFile.readImages(tmp.url) }
    }
}

final class ErrorTextTests: XCTestCase {
    func testDescriptionAndLocalizedDescription() {
        let error: any Error = DatasetError("train-images-idx3-ubyte.gz", "truncated")
        XCTAssertEqual(String(describing: error), "train-images-idx3-ubyte.gz: truncated")
        XCTAssertEqual(error.localizedDescription, "train-images-idx3-ubyte.gz: truncated")
    }
}
