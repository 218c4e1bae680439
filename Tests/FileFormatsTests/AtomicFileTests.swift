import Foundation
import TestSupport
import XCTest
@testable import FileFormats

final class AtomicFileTests: XCTestCase {
    func testWriteCreatesAndReplacesWithoutLeavingTemporaryFiles() throws {
        let directory = try temporaryDirectory()
        let url = directory.appendingPathComponent("checkpoint.bin")
        try AtomicFile.write(Data("first version".utf8), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data("first version".utf8))
        try AtomicFile.write(Data("2nd".utf8), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data("2nd".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["checkpoint.bin"])
    }

    func testWriteOfEmptyDataCreatesEmptyFile() throws {
        let url = try temporaryDirectory().appendingPathComponent("empty")
        try AtomicFile.write(Data(), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data())
    }

    func testWriteIntoMissingDirectoryFailsNamingThePath() throws {
        let url = try temporaryDirectory().appendingPathComponent("no/such/dir/file.bin")
        XCTAssertThrowsError(try AtomicFile.write(Data([1]), to: url)) { error in
            XCTAssertTrue("\(error)".hasPrefix(url.path + ": creating a temporary file failed: "), "\(error)")
            XCTAssertEqual((error as? AtomicFileError)?.code, ENOENT)
        }
    }

    func testFailedRenameLeavesDestinationAndRemovesTemporaryFile() throws {
        // A non-empty directory cannot be replaced by a file, so the final rename fails.
        let directory = try temporaryDirectory()
        let destination = directory.appendingPathComponent("occupied")
        try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: false)
        try Data("keep".utf8).write(to: destination.appendingPathComponent("inner"))
        XCTAssertThrowsError(try AtomicFile.write(Data("new".utf8), to: destination)) { error in
            XCTAssertTrue("\(error)".hasPrefix(destination.path + ": renaming"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["occupied"])
        XCTAssertEqual(try Data(contentsOf: destination.appendingPathComponent("inner")), Data("keep".utf8))
    }

    func testAppendAddsLinesAndNeverTruncates() throws {
        let url = try temporaryDirectory().appendingPathComponent("metrics.jsonl")
        try Data("{\"step\":0}\n".utf8).write(to: url)
        try AtomicFile.append(line: "{\"step\":1}", to: url)
        try AtomicFile.append(line: "{\"step\":2}\n", to: url)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "{\"step\":0}\n{\"step\":1}\n{\"step\":2}\n")
    }

    func testAppendCreatesMissingFile() throws {
        let url = try temporaryDirectory().appendingPathComponent("new.jsonl")
        try AtomicFile.append(line: "x", to: url)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "x\n")
    }

    func testAppendFailureNamesThePath() throws {
        let url = try temporaryDirectory().appendingPathComponent("missing/metrics.jsonl")
        XCTAssertThrowsError(try AtomicFile.append(line: "x", to: url)) { error in
            XCTAssertTrue("\(error)".hasPrefix(url.path + ": opening for append failed: "), "\(error)")
        }
    }
}
