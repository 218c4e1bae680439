import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a file could not be written; names the path and the system's reason.
public struct AtomicFileError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var operation: String
    public var code: Int32

    public init(path: String, operation: String, code: Int32) {
        self.path = path
        self.operation = operation
        self.code = code
    }

    public var description: String {
        "\(path): \(operation) failed: \(String(cString: strerror(code)))"
    }
}

/// Crash-safe file writing: a reader (or the next run after a crash) sees either the old file
/// or the complete new one, never a truncated mix.
public enum AtomicFile {
    /// Writes `data` to a uniquely named temporary file beside `url`, flushes it to disk and
    /// renames it over `url`. Same directory, so the rename cannot cross file systems. On
    /// failure the temporary file is removed and `url` is left as it was.
    public static func write(_ data: Data, to url: URL) throws {
        let path = url.path
        let directory = url.deletingLastPathComponent().path
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp").path

        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw AtomicFileError(path: path, operation: "creating a temporary file", code: errno) }
        do {
            try writeAll(data, to: descriptor, path: path)
            guard fsync(descriptor) == 0 else { throw AtomicFileError(path: path, operation: "fsync", code: errno) }
            guard close(descriptor) == 0 else {
                throw AtomicFileError(path: path, operation: "closing the temporary file", code: errno)
            }
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw AtomicFileError(path: path, operation: "renaming the temporary file into place", code: code)
        }
        // Makes the rename itself durable; the new contents are already complete, so a failure
        // here (some file systems refuse fsync on directories) is not worth reporting.
        let directoryDescriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    /// Appends `line` and a newline (unless it already ends with one), creating the file if
    /// needed. `O_APPEND` means existing contents are never truncated or overwritten, even
    /// with several writers; it is not atomic, so a crash can leave a partial last line.
    public static func append(line: String, to url: URL) throws {
        let path = url.path
        let text = line.hasSuffix("\n") ? line : line + "\n"
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw AtomicFileError(path: path, operation: "opening for append", code: errno) }
        do {
            try writeAll(Data(text.utf8), to: descriptor, path: path)
        } catch {
            close(descriptor)
            throw error
        }
        guard close(descriptor) == 0 else { throw AtomicFileError(path: path, operation: "closing", code: errno) }
    }

    /// `write(2)` until everything is written: it may write less than asked or be interrupted.
    private static func writeAll(_ data: Data, to descriptor: Int32, path: String) throws {
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            var written = 0
            while written < bytes.count {
                let result = posixWrite(descriptor, bytes.baseAddress.map { $0 + written }, bytes.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    throw AtomicFileError(path: path, operation: "write", code: errno)
                }
                written += result
            }
        }
    }
}

/// The system call, reachable by a name that `AtomicFile.write` does not shadow.
private func posixWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}
