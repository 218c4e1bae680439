#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Datasets
import FileFormats
import Foundation
import XCTest

// MARK: - A temporary directory with files written into it

final class TempDir {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("gtn-datasets-tests-\(getpid())-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> URL {
        let file = url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: file)
        return file
    }

    func contents() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted()
    }
}

func hex(_ bytes: [UInt8]) -> String { Digest.hex(bytes) }

/// Asserts that `body` throws a DatasetError whose text contains every fragment.
func assertDatasetError(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                        _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected an error containing \(fragments)", file: file, line: line)
    } catch let error as DatasetError {
        for fragment in fragments {
            XCTAssertTrue(error.description.contains(fragment),
                          "error \"\(error.description)\" lacks \"\(fragment)\"", file: file, line: line)
        }
    } catch {
        XCTFail("expected a DatasetError, got \(error)", file: file, line: line)
    }
}

// MARK: - A tiny HTTP/1.0 server for the download tests

/// Serves fixed bodies from memory on 127.0.0.1 at an ephemeral port, one connection at a
/// time on a background thread. Bounded: it stops by itself after `maxRequests` requests or
/// `lifetime` seconds, and `stop()` ends it early.
final class TinyHTTPServer: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let routes: [String: [UInt8]]
    private let maxRequests: Int
    private let lifetime: TimeInterval
    private let lock = NSLock()
    private var stopping = false
    private var paths: [String] = []
    private let finished = DispatchSemaphore(value: 0)

    var baseURL: URL { URL(string: "http://127.0.0.1:\(port)/")! }  // constant format: cannot fail
    var requestedPaths: [String] { lock.lock(); defer { lock.unlock() }; return paths }

    init(routes: [String: [UInt8]], maxRequests: Int = 32, lifetime: TimeInterval = 60) throws {
        self.routes = routes
        self.maxRequests = maxRequests
        self.lifetime = lifetime
        (listener, port) = try Self.bindLoopback()
        Thread { [self] in serve() }.start()
    }

    deinit { stop() }

    func stop() {
        lock.lock()
        let wasStopping = stopping
        stopping = true
        lock.unlock()
        if !wasStopping {
            finished.wait()
            close(listener)
        }
    }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    /// Binds 127.0.0.1:0 and returns the socket and the port the kernel chose.
    static func bindLoopback() throws -> (Int32, UInt16) {
        #if os(Linux)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard named == 0 else { close(fd); throw POSIXError(.EIO) }
        return (fd, UInt16(bigEndian: addr.sin_port))
    }

    /// A port nothing listens on (bound, then closed), for "connection refused".
    static func closedPort() throws -> UInt16 {
        let (fd, port) = try bindLoopback()
        close(fd)
        return port
    }

    private func serve() {
        defer { finished.signal() }
        let deadline = Date().addingTimeInterval(lifetime)
        var served = 0
        while served < maxRequests && Date() < deadline && !isStopping {
            var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let conn = accept(listener, nil, nil)
            guard conn >= 0 else { continue }
            handle(conn)
            close(conn)
            served += 1
        }
    }

    private func handle(_ conn: Int32) {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        #if !os(Linux)
        var one: Int32 = 1
        setsockopt(conn, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        // Read the request head (bounded), then answer from the routes table.
        var request = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while request.count < 16_384 {
            let n = chunk.withUnsafeMutableBytes { recv(conn, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            request += chunk[0..<n]
            if request.count >= 4, request.suffix(4) == [13, 10, 13, 10] { break }
        }
        let firstLine = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = firstLine.split(separator: " ")
        let path = parts.count >= 2 ? String(parts[1]) : ""
        lock.lock(); paths.append(path); lock.unlock()
        let body = routes[path]
        let head = body.map { "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \($0.count)\r\n\r\n" }
            ?? "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        sendAll(conn, Array(head.utf8) + (body ?? []))
    }

    private func sendAll(_ conn: Int32, _ bytes: [UInt8]) {
        #if os(Linux)
        let flags = Int32(MSG_NOSIGNAL)
        #else
        let flags: Int32 = 0
        #endif
        bytes.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count, let base = raw.baseAddress {
                let n = send(conn, base + sent, raw.count - sent, flags)
                if n <= 0 { return }
                sent += n
            }
        }
    }
}
