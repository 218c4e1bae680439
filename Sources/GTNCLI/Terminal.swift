import Foundation

/// Output: progress and status go to stderr (a live line that rewrites itself on a terminal,
/// plain lines otherwise), results to stdout, so `gtn eval --json > eval.json` and pipes see
/// only results.
enum Terminal {
    static let isInteractive = isatty(2) != 0
    nonisolated(unsafe) private static var statusShown = false
    /// `--quiet`: no progress or status; results still print.
    nonisolated(unsafe) static var isQuiet = false
    /// Set on MPI ranks other than 0: only rank 0 reports.
    nonisolated(unsafe) static var isSilent = false

    /// Replaces the live status line (stderr); nothing when stderr is not a terminal, where
    /// only permanent lines are written.
    static func status(_ text: String) {
        guard isInteractive, !isQuiet, !isSilent else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K\(text)".utf8))
        statusShown = true
    }

    /// A permanent progress line (stderr), clearing any live status first.
    static func line(_ text: String) {
        guard !isQuiet, !isSilent else { return }
        clearStatus()
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// A result (stdout), printed even with `--quiet`.
    static func result(_ text: String) {
        guard !isSilent else { return }
        clearStatus()
        print(text)
        fflush(nil)
    }

    private static func clearStatus() {
        if statusShown {
            FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
            statusShown = false
        }
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
        if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return String(format: "%.1fs", seconds)
    }
}

/// Peak resident memory of this process (Linux VmHWM; macOS ru_maxrss).
func peakResidentBytes() -> Int {
    #if os(Linux)
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
       let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
       let kb = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") {
        return kb * 1024
    }
    return 0
    #else
    var usage = rusage()
    getrusage(RUSAGE_SELF, &usage)
    return Int(usage.ru_maxrss)
    #endif
}
