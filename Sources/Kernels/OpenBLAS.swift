#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// OpenBLAS loaded at run time with dlopen, so building never needs its headers or libraries.
public enum OpenBLAS {
    /// True when libopenblas could be loaded and exports cblas_sgemm and cblas_dgemm.
    public static var isAvailable: Bool { openBLASLibrary != nil }

    /// e.g. "OpenBLAS 0.3.21 (libopenblas.so.0, Cooperlake, 2 threads)", or "not found".
    public static var libraryDescription: String {
        guard let lib = openBLASLibrary else { return "not found" }
        var version = "OpenBLAS"
        if let getConfig = lib.getConfig, let config = getConfig() {
            // The config string starts with "OpenBLAS <version>" followed by build options.
            version = String(cString: config).split(separator: " ").prefix(2).joined(separator: " ")
        }
        var details = [lib.name]
        if let getCore = lib.getCorename, let core = getCore() { details.append(String(cString: core)) }
        if let threads = threadCount { details.append("\(threads) thread\(threads == 1 ? "" : "s")") }
        return "\(version) (\(details.joined(separator: ", ")))"
    }

    /// Threads OpenBLAS uses per call; nil when unavailable.
    public static var threadCount: Int? {
        guard let lib = openBLASLibrary, let get = lib.getNumThreads else { return nil }
        return Int(get())
    }
}

// CBLAS enum values (cblas.h): row major, no-transpose, transpose.
let cblasRowMajor: Int32 = 101
let cblasNoTrans: Int32 = 111
let cblasTrans: Int32 = 112

// Debian's libopenblas0 uses 32-bit blasint; callers check sizes fit in Int32.
typealias CBLASSgemm = @convention(c) (
    Int32, Int32, Int32, Int32, Int32, Int32,
    Float, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32,
    Float, UnsafeMutablePointer<Float>?, Int32) -> Void
typealias CBLASDgemm = @convention(c) (
    Int32, Int32, Int32, Int32, Int32, Int32,
    Double, UnsafePointer<Double>?, Int32, UnsafePointer<Double>?, Int32,
    Double, UnsafeMutablePointer<Double>?, Int32) -> Void

struct OpenBLASLibrary: @unchecked Sendable {
    let name: String
    let sgemm: CBLASSgemm
    let dgemm: CBLASDgemm
    let getNumThreads: (@convention(c) () -> Int32)?
    let getConfig: (@convention(c) () -> UnsafePointer<CChar>?)?
    let getCorename: (@convention(c) () -> UnsafePointer<CChar>?)?
}

/// Loaded once, on first use; immutable afterwards, so safe to read from any thread.
let openBLASLibrary: OpenBLASLibrary? = {
    #if os(Linux)
    let names = ["libopenblas.so.0", "libopenblas.so"]
    #elseif os(macOS)
    let names = ["libopenblas.dylib", "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
                 "/usr/local/opt/openblas/lib/libopenblas.dylib"]
    #else
    let names: [String] = []
    #endif
    for name in names {
        guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else { continue }
        func symbol<T>(_ s: String, as type: T.Type) -> T? {
            guard let p = dlsym(handle, s) else { return nil }
            return unsafeBitCast(p, to: type)
        }
        guard let sgemm = symbol("cblas_sgemm", as: CBLASSgemm.self),
              let dgemm = symbol("cblas_dgemm", as: CBLASDgemm.self) else {
            dlclose(handle)
            continue
        }
        return OpenBLASLibrary(
            name: name, sgemm: sgemm, dgemm: dgemm,
            getNumThreads: symbol("openblas_get_num_threads", as: (@convention(c) () -> Int32).self),
            getConfig: symbol("openblas_get_config", as: (@convention(c) () -> UnsafePointer<CChar>?).self),
            getCorename: symbol("openblas_get_corename", as: (@convention(c) () -> UnsafePointer<CChar>?).self))
    }
    return nil
}()
