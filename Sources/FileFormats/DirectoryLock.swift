import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a directory could not be locked or created.
public struct DirectoryError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// An exclusive lock on a directory for as long as this value lives: a second process (or a
/// second lock in this one) fails at once and is told who holds it. The lock is an `flock` on a
/// file in the directory, so the operating system releases it when the holder exits, however it
/// exits: a killed run leaves nothing stale behind.
public final class DirectoryLock {
    public static let fileName = ".gtn.lock"
    public let directory: URL
    private let descriptor: Int32

    /// Locks `directory` (which must exist) for `purpose`, e.g. "gtn train".
    public init(_ directory: URL, purpose: String) throws {
        self.directory = directory
        let path = directory.appendingPathComponent(Self.fileName).path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw DirectoryError("\(directory.path): cannot create the lock file \(Self.fileName): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(descriptor)
            throw DirectoryError("\(directory.path) is in use by another process (\(holder.flatMap { $0.isEmpty ? nil : $0 } ?? "holder unknown")); wait for it to finish or choose another directory")
        }
        let note = "\(purpose), pid \(getpid()), since \(ISO8601DateFormatter().string(from: Date()))\n"
        ftruncate(descriptor, 0)
        _ = note.withCString { write(descriptor, $0, strlen($0)) }
        self.descriptor = descriptor
    }

    deinit {
        // Closing the descriptor releases the lock; the file stays, empty of meaning once unlocked.
        close(descriptor)
    }
}

public enum Directory {
    /// Creates `url` and any missing parents, with errors that say what is in the way in a
    /// sentence; `role` names it for the user (e.g. "--out").
    public static func create(_ url: URL, role: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw DirectoryError("\(role) \(url.path) is a file, not a directory") }
            return
        }
        let parent = url.deletingLastPathComponent()
        if parent.path != url.path, !parent.path.isEmpty { try create(parent, role: role) }
        guard mkdir(url.path, 0o755) == 0 || errno == EEXIST else {
            let reason = errno == EROFS ? "the file system is read-only"
                : errno == EACCES ? "permission denied"
                : errno == ENOSPC ? "no space left on the device"
                : String(cString: strerror(errno))
            throw DirectoryError("\(role): cannot create the directory \(url.path): \(reason)")
        }
    }
}

extension AtomicFile {
    /// Removes the temporary files that writes into `directory` left behind when their process
    /// was killed mid-write (`.NAME.UUID.tmp`). Call it only while holding the directory's lock,
    /// so that no write of a live process is in flight. Returns the names removed.
    @discardableResult
    public static func removeStaleTemporaryFiles(in directory: URL) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        let stale = names.filter { name in
            guard name.hasPrefix("."), name.hasSuffix(".tmp") else { return false }
            let middle = name.dropFirst().dropLast(4)
            guard let dot = middle.lastIndex(of: ".") else { return false }
            return UUID(uuidString: String(middle[middle.index(after: dot)...])) != nil
        }
        for name in stale { try? FileManager.default.removeItem(at: directory.appendingPathComponent(name)) }
        return stale
    }
}
