#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A malloc'd byte buffer. Used instead of `[UInt8]`/`Data` so that reading and inflating
/// 47 MB never zero-fills or copies it an extra time.
final class ByteBuffer {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    var count: Int = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        // A failed malloc for a file we can hold in memory is not recoverable.
        guard let p = malloc(self.capacity) else { fatalError("out of memory allocating \(capacity) bytes") }
        base = p
    }

    deinit { free(base) }

    func grow(to newCapacity: Int) {
        guard newCapacity > capacity else { return }
        guard let p = realloc(base, newCapacity) else { fatalError("out of memory allocating \(newCapacity) bytes") }
        base = p
        capacity = newCapacity
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}

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

/// Writes `bytes` to `destination` atomically: a temporary file in the same directory,
/// fsync'd, then rename(2), so an interrupted write never leaves a half file under the real name.
func writeFileAtomically(_ bytes: UnsafeRawBufferPointer, to destination: URL) throws {
    let dir = destination.deletingLastPathComponent().path
    let temp = dir + "/." + destination.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
    guard fd >= 0 else { throw DatasetError(temp, "cannot create: \(errnoString())") }
    var ok = false
    defer {
        if !ok { unlink(temp) }
    }
    var written = 0
    while written < bytes.count, let start = bytes.baseAddress {
        let n = write(fd, start + written, bytes.count - written)
        if n < 0 {
            if errno == EINTR { continue }
            let message = errnoString()
            close(fd)
            throw DatasetError(temp, "write failed: \(message)")
        }
        written += n
    }
    if fsync(fd) != 0 {
        let message = errnoString()
        close(fd)
        throw DatasetError(temp, "fsync failed: \(message)")
    }
    close(fd)
    guard rename(temp, destination.path) == 0 else {
        throw DatasetError(destination.path, "cannot rename temporary file into place: \(errnoString())")
    }
    ok = true
}

/// Creates `url` and its parents if needed.
func createDirectory(_ url: URL) throws {
    do {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    } catch {
        throw DatasetError(url.path, "cannot create directory: \(error.localizedDescription)")
    }
}
