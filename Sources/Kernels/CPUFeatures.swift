import Foundation

public enum CPUFeatures {
    /// nil when the CPU supports what the binary was built for (AVX2 + FMA on x86_64, because the
    /// package compiles with `-target-cpu haswell`), else a message saying what is missing and how to rebuild.
    public static func missingRequiredFeatures() -> String? {
        #if arch(x86_64)
        guard let flags = cpuFlags() else { return nil }  // cannot tell: let it run rather than refuse
        let missing = ["avx2", "fma"].filter { !flags.contains($0) }
        if missing.isEmpty { return nil }
        return "This binary was built with `-target-cpu haswell` and needs a CPU with AVX2 and FMA, "
            + "but this CPU lacks: \(missing.map { $0.uppercased() }.joined(separator: ", ")). "
            + "Rebuild without the haswell target: remove `.unsafeFlags([\"-target-cpu\", \"haswell\"])` "
            + "from `kernelFlags` in Package.swift and run `swift build -c release` again "
            + "(the SIMD kernels then fall back to scalar code and run much slower, but correctly)."
        #else
        return nil
        #endif
    }

    #if arch(x86_64)
    /// Lower-cased feature names of the running CPU, or nil when they cannot be read.
    static func cpuFlags() -> Set<String>? {
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map { $0.lowercased() })
        }
        return nil
        #elseif os(macOS)
        // machdep.cpu.features lists FMA, machdep.cpu.leaf7_features lists AVX2.
        var result = Set<String>()
        for key in ["machdep.cpu.features", "machdep.cpu.leaf7_features"] {
            var size = 0
            guard sysctlbyname(key, nil, &size, nil, 0) == 0, size > 0 else { continue }
            var buffer = [CChar](repeating: 0, count: size)
            guard sysctlbyname(key, &buffer, &size, nil, 0) == 0 else { continue }
            let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            for word in String(decoding: bytes, as: UTF8.self).split(separator: " ") {
                result.insert(word.lowercased())
            }
        }
        return result.isEmpty ? nil : result
        #else
        return nil
        #endif
    }
    #endif
}
