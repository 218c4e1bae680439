import Foundation

public enum DataLocator {
    public static let environmentVariable = "GTN_DATA_DIR"

    /// Order: explicit dir (the --data-dir flag) > env GTN_DATA_DIR > default cache dir.
    /// Returns the directory that holds (or will hold) the files. An explicit or environment
    /// directory must already exist (a typo should not silently start a download somewhere
    /// new); the default cache directory is created when files are downloaded into it.
    public static func resolveDirectory(explicit: String?, kind: DatasetKind,
                                        environment: [String: String] = ProcessInfo.processInfo.environment) throws -> URL {
        if let explicit {
            return try existingDirectory(explicit, source: "--data-dir", environment: environment)
        }
        if let fromEnv = environment[environmentVariable], !fromEnv.isEmpty {
            return try existingDirectory(fromEnv, source: environmentVariable, environment: environment)
        }
        return try defaultCacheDirectory(kind: kind, environment: environment)
    }

    /// `$XDG_CACHE_HOME/gtn/<dataset>` or `~/.cache/gtn/<dataset>` on Linux,
    /// `~/Library/Caches/gtn/<dataset>` on macOS.
    public static func defaultCacheDirectory(kind: DatasetKind,
                                             environment: [String: String] = ProcessInfo.processInfo.environment) throws -> URL {
        #if os(macOS)
        let home = try homeDirectory(environment)
        return home.appendingPathComponent("Library/Caches/gtn", isDirectory: true)
            .appendingPathComponent(kind.rawValue, isDirectory: true)
        #else
        // The XDG spec says relative values are invalid and must be ignored.
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            return URL(fileURLWithPath: xdg, isDirectory: true)
                .appendingPathComponent("gtn", isDirectory: true)
                .appendingPathComponent(kind.rawValue, isDirectory: true)
        }
        let home = try homeDirectory(environment)
        return home.appendingPathComponent(".cache/gtn", isDirectory: true)
            .appendingPathComponent(kind.rawValue, isDirectory: true)
        #endif
    }

    private static func homeDirectory(_ environment: [String: String]) throws -> URL {
        if let home = environment["HOME"], !home.isEmpty {
            return URL(fileURLWithPath: home, isDirectory: true)
        }
        let fallback = NSHomeDirectory()
        guard !fallback.isEmpty else {
            throw DatasetError("HOME", "not set and no home directory found; pass --data-dir or set \(environmentVariable)")
        }
        return URL(fileURLWithPath: fallback, isDirectory: true)
    }

    private static func existingDirectory(_ path: String, source: String, environment: [String: String]) throws -> URL {
        guard !path.isEmpty else { throw DatasetError(source, "empty directory path") }
        var expanded = path
        if path == "~" || path.hasPrefix("~/") {
            expanded = try homeDirectory(environment).path + path.dropFirst()
        }
        switch fileKind(expanded) {
        case .directory:
            return URL(fileURLWithPath: expanded, isDirectory: true).standardizedFileURL
        case .missing:
            throw DatasetError(source, "directory \(expanded) does not exist")
        case .file, .other:
            throw DatasetError(source, "\(expanded) is not a directory")
        }
    }
}
