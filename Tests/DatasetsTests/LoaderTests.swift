import Datasets
import Foundation
import TestSupport
import XCTest

/// Directory resolution and the loader over small synthetic datasets.
final class LoaderTests: XCTestCase {
    var tmp: TempDir!

    override func setUpWithError() throws { tmp = try TempDir() }
    override func tearDown() { tmp = nil }

    /// Writes a small valid dataset (6 train, 3 test images of 2×2) under `subdir`, gzip'd or not.
    func writeSynthetic(in subdir: String = "", gzip: Bool, trainLabels: [UInt8] = [0, 1, 2, 3, 4, 5], testRows: Int = 2) throws {
        let prefix = subdir.isEmpty ? "" : subdir + "/"
        func put(_ name: String, _ bytes: [UInt8]) throws {
            try tmp.write(prefix + name + (gzip ? ".gz" : ""), gzip ? StoredGzip.compress(bytes) : bytes)
        }
        try put("train-images-idx3-ubyte", IDXBytes.images(count: 6, rows: 2, cols: 2))
        try put("train-labels-idx1-ubyte", IDXBytes.labels(trainLabels))
        try put("t10k-images-idx3-ubyte", IDXBytes.images(count: 3, rows: testRows, cols: 2))
        try put("t10k-labels-idx1-ubyte", IDXBytes.labels([7, 8, 9]))
    }

    func testResolutionOrder() throws {
        let explicit = try TempDir(), env = try TempDir()
        let environment = ["GTN_DATA_DIR": env.url.path, "HOME": "/home/someone", "XDG_CACHE_HOME": "/xdg"]
        XCTAssertEqual(try DataLocator.resolveDirectory(explicit: explicit.url.path, kind: .mnist, environment: environment).path,
                       explicit.url.standardizedFileURL.path)
        XCTAssertEqual(try DataLocator.resolveDirectory(explicit: nil, kind: .mnist, environment: environment).path,
                       env.url.standardizedFileURL.path)
        var noEnv = environment
        noEnv["GTN_DATA_DIR"] = ""  // empty counts as unset
        #if os(macOS)
        XCTAssertEqual(try DataLocator.resolveDirectory(explicit: nil, kind: .kmnist, environment: noEnv).path,
                       "/home/someone/Library/Caches/gtn/kmnist")
        #else
        XCTAssertEqual(try DataLocator.resolveDirectory(explicit: nil, kind: .kmnist, environment: noEnv).path, "/xdg/gtn/kmnist")
        noEnv["XDG_CACHE_HOME"] = "relative/cache"  // XDG: relative paths are ignored
        XCTAssertEqual(try DataLocator.resolveDirectory(explicit: nil, kind: .fashionMNIST, environment: noEnv).path,
                       "/home/someone/.cache/gtn/fashion-mnist")
        noEnv["XDG_CACHE_HOME"] = nil
        XCTAssertEqual(try DataLocator.resolveDirectory(explicit: nil, kind: .mnist, environment: noEnv).path,
                       "/home/someone/.cache/gtn/mnist")
        #endif
    }

    func testTildeExpansion() throws {
        try FileManager.default.createDirectory(at: tmp.url.appendingPathComponent("data"), withIntermediateDirectories: true)
        let resolved = try DataLocator.resolveDirectory(explicit: "~/data", kind: .mnist, environment: ["HOME": tmp.url.path])
        XCTAssertEqual(resolved.path, tmp.url.appendingPathComponent("data").standardizedFileURL.path)
    }

    func testDirectoryThatDoesNotExist() throws {
        let missing = tmp.url.appendingPathComponent("no/such/dir").path
        assertDatasetError(["--data-dir", missing, "does not exist"]) {
            _ = try DataLocator.resolveDirectory(explicit: missing, kind: .mnist, environment: [:])
        }
        assertDatasetError(["GTN_DATA_DIR", missing, "does not exist"]) {
            _ = try DataLocator.resolveDirectory(explicit: nil, kind: .mnist, environment: ["GTN_DATA_DIR": missing])
        }
        let file = try tmp.write("plain-file", [1])
        assertDatasetError(["--data-dir", file.path, "is not a directory"]) {
            _ = try DataLocator.resolveDirectory(explicit: file.path, kind: .mnist, environment: [:])
        }
        assertDatasetError(["--data-dir", "empty"]) {
            _ = try DataLocator.resolveDirectory(explicit: "", kind: .mnist, environment: [:])
        }
        let loader = DatasetLoader(kind: .mnist, directory: URL(fileURLWithPath: missing), allowDownload: false)
        assertDatasetError([missing, "does not exist"]) { _ = try loader.loadTrainAndTest() }
    }

    func testMissingFileWithDownloadsDisabled() throws {
        try writeSynthetic(gzip: true)
        try FileManager.default.removeItem(at: tmp.url.appendingPathComponent("t10k-labels-idx1-ubyte.gz"))
        let loader = DatasetLoader(kind: .mnist, directory: tmp.url, allowDownload: false)
        assertDatasetError(["t10k-labels-idx1-ubyte.gz", "not found", tmp.url.path, "downloads are disabled"]) {
            _ = try loader.loadTrainAndTest()
        }
    }

    func testLoadsGzippedUncompressedAndTorchvisionLayouts() throws {
        for (subdir, gzip, kind) in [("", true, DatasetKind.mnist), ("", false, .kmnist),
                                     ("FashionMNIST/raw", true, .fashionMNIST), ("mnist", false, .mnist)] {
            let dir = try TempDir()
            tmp = dir
            try writeSynthetic(in: subdir, gzip: gzip)
            let loader = DatasetLoader(kind: kind, directory: dir.url, allowDownload: false)
            let (train, test) = try loader.loadTrainAndTest()
            XCTAssertEqual([train.count, train.rows, train.cols, test.count], [6, 2, 2, 3], "\(subdir) gzip=\(gzip)")
            XCTAssertEqual(train.labels, [0, 1, 2, 3, 4, 5])
            XCTAssertEqual(test.labels, [7, 8, 9])
            XCTAssertEqual(train.pixels.count, 24)
        }
    }

    func testBadFileInsideLoaderNamesIt() throws {
        try writeSynthetic(gzip: true, trainLabels: [0, 1, 2, 3, 4, 11])
        let loader = DatasetLoader(kind: .mnist, directory: tmp.url, allowDownload: false)
        assertDatasetError(["train-labels-idx1-ubyte.gz", "label 11 at index 5"]) { _ = try loader.loadTrainAndTest() }
    }

    func testTrainTestShapeMismatch() throws {
        try writeSynthetic(gzip: false, testRows: 3)
        let loader = DatasetLoader(kind: .mnist, directory: tmp.url, allowDownload: false)
        assertDatasetError(["t10k-images-idx3-ubyte", "3×2", "2×2"]) { _ = try loader.loadTrainAndTest() }
    }

    func testSplitsFromLoader() throws {
        try writeSynthetic(gzip: true)
        let loader = DatasetLoader(kind: .mnist, directory: tmp.url, allowDownload: false)
        let s = try loader.loadSplits(validationCount: 2, seed: 5)
        XCTAssertEqual([s.train.count, s.validation.count, s.test.count], [4, 2, 3])
        XCTAssertEqual((s.train.labels + s.validation.labels).sorted(), [0, 1, 2, 3, 4, 5])
        assertDatasetError(["validation count", "6"]) { _ = try loader.loadSplits(validationCount: 6, seed: 5) }
    }
}
