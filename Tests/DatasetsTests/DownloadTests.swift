import Datasets
import Foundation
import TestSupport
import XCTest

/// Downloads against a local HTTP server the test starts itself.
final class DownloadTests: XCTestCase {
    func testDownloadFallsBackToNextMirrorVerifiesAndWritesAtomically() throws {
        let source = try RealMNIST.requireDirectory()
        var routes: [String: [UInt8]] = [:]
        for file in DatasetKind.mnist.files.all {
            let url = source.appendingPathComponent(file.gzName)
            guard FileManager.default.fileExists(atPath: url.path) else { throw XCTSkip("\(file.gzName) not in \(source.path)") }
            routes["/good/" + file.gzName] = try [UInt8](Data(contentsOf: url))
        }
        let server = try TinyHTTPServer(routes: routes)
        defer { server.stop() }
        let tmp = try TempDir()
        let target = tmp.url.appendingPathComponent("cache/gtn/mnist")  // does not exist yet: created
        let messages = MessageLog()
        let loader = DatasetLoader(kind: .mnist, directory: target, allowDownload: true,
                                   mirrors: [server.baseURL.appendingPathComponent("missing/"), server.baseURL.appendingPathComponent("good/")],
                                   progress: { messages.append($0) })
        let urls = try loader.prepareFiles()

        XCTAssertEqual(urls.map(\.lastPathComponent), DatasetKind.mnist.files.all.map(\.gzName))
        for url in urls {
            XCTAssertEqual(try [UInt8](Data(contentsOf: url)), routes["/good/" + url.lastPathComponent], url.lastPathComponent)
        }
        // Only the four files: no temporary files left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: target.path).sorted(),
                       DatasetKind.mnist.files.all.map(\.gzName).sorted())
        // Each file: first mirror 404s, second serves it.
        XCTAssertEqual(server.requestedPaths.count, 8)
        XCTAssertTrue(server.requestedPaths.contains("/missing/train-images-idx3-ubyte.gz"))
        XCTAssertTrue(messages.all.contains { $0.hasPrefix("Saved") && $0.contains("train-images-idx3-ubyte.gz") })
        // The downloaded files load, and are not fetched again.
        XCTAssertEqual(try IDXFile.readLabels(urls[3]).count, 10_000)
        _ = try loader.prepareFiles()
        XCTAssertEqual(server.requestedPaths.count, 8)
    }

    func testChecksumMismatchAndUnreachableMirrorAreReported() throws {
        let garbage = StoredGzip.compress(IDXBytes.labels([1, 2, 3]))  // valid gzip, wrong file
        var routes: [String: [UInt8]] = [:]
        for file in DatasetKind.mnist.files.all { routes["/bad/" + file.gzName] = garbage }
        let server = try TinyHTTPServer(routes: routes)
        defer { server.stop() }
        let refused = try XCTUnwrap(URL(string: "http://127.0.0.1:\(try TinyHTTPServer.closedPort())/mnist/"))
        let badMirror = server.baseURL.appendingPathComponent("bad/")
        let tmp = try TempDir()
        let loader = DatasetLoader(kind: .mnist, directory: tmp.url, allowDownload: true, mirrors: [refused, badMirror])
        assertDatasetError(["train-images-idx3-ubyte.gz", "download into \(tmp.url.path) failed",
                            refused.appendingPathComponent("train-images-idx3-ubyte.gz").absoluteString,
                            badMirror.appendingPathComponent("train-images-idx3-ubyte.gz").absoluteString,
                            "checksum mismatch: expected sha256 440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609, got sha256 "]) {
            _ = try loader.prepareFiles()
        }
        XCTAssertEqual(tmp.contents(), [], "nothing written for a file that failed verification")
    }

    func testMD5VerifiedKindsRejectWrongBytes() throws {
        let server = try TinyHTTPServer(routes: ["/f/train-images-idx3-ubyte.gz": [1, 2, 3]])
        defer { server.stop() }
        let tmp = try TempDir()
        let loader = DatasetLoader(kind: .fashionMNIST, directory: tmp.url, allowDownload: true,
                                   mirrors: [server.baseURL.appendingPathComponent("f/")])
        assertDatasetError(["train-images-idx3-ubyte.gz", "expected md5 8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                            "got md5 5289df737df57326fcdd22597afb1fac"]) {
            _ = try loader.prepareFiles()
        }
        XCTAssertEqual(tmp.contents(), [])
    }

    func testHTTPErrorIsNamed() throws {
        let server = try TinyHTTPServer(routes: [:])
        defer { server.stop() }
        let tmp = try TempDir()
        let loader = DatasetLoader(kind: .kmnist, directory: tmp.url, allowDownload: true, mirrors: [server.baseURL])
        assertDatasetError(["train-images-idx3-ubyte.gz", "HTTP 404"]) { _ = try loader.prepareFiles() }
    }
}

final class MessageLog: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []
    func append(_ m: String) { lock.lock(); messages.append(m); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return messages }
}
