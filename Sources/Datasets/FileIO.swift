#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FileFormats
import Foundation

func errnoString(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// Reads a whole regular file.
func readWholeFile(_ path: String) throws -> ByteBuffer {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw DatasetError(path, "cannot open: \(errnoString())") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw DatasetError(path, "cannot stat: \(errnoString())") }
    guard (st.st_mode & S_IFMT) == S_IFREG else { throw DatasetError(path, "not a regular file") }
    let size = Int(st.st_size)
    let buffer = ByteBuffer(capacity: size)
    while buffer.count < size {
        let n = read(fd, buffer.base + buffer.count, size - buffer.count)
        if n < 0 {
            if errno == EINTR { continue }
            throw DatasetError(path, "read failed: \(errnoString())")
        }
        if n == 0 { break }  // file shrank while reading; the format checks will report it
        buffer.count += n
    }
    return buffer
}

enum FileKind { case missing, file, directory, other }

func fileKind(_ path: String) -> FileKind {
    var st = stat()
    guard stat(path, &st) == 0 else { return .missing }
    switch st.st_mode & S_IFMT {
    case S_IFREG: return .file
    case S_IFDIR: return .directory
    default: return .other
    }
}

/// Creates `url` and its parents if needed.
func createDirectory(_ url: URL) throws {
    do {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    } catch {
        throw DatasetError(url.path, "cannot create directory: \(error.localizedDescription)")
    }
}
