import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Support

enum Downloader {
    /// Fetches `url` into memory, blocking. Returns the body, or a one-line reason.
    static func fetch(_ url: URL, timeout: TimeInterval) -> Result<Data, DownloadFailure> {
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.timeoutIntervalForResource = timeout * 10
        config.urlCache = nil
        let session = URLSession(configuration: config)
        defer { session.finishTasksAndInvalidate() }

        // Carries the completion handler's result back to this thread.
        let box = Locked<Result<Data, DownloadFailure>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: url) { data, response, error in
            let result: Result<Data, DownloadFailure>
            if let error {
                result = .failure(DownloadFailure(describe(error, timeout: timeout)))
            } else if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
                result = .failure(DownloadFailure("HTTP \(http.statusCode)"))
            } else if let data {
                result = .success(data)
            } else {
                result = .failure(DownloadFailure("no data received"))
            }
            box.withLock { $0 = result }
            done.signal()
        }
        task.resume()
        done.wait()
        return box.withLock { $0 } ?? .failure(DownloadFailure("no response"))
    }
}

/// A network error in a sentence (Foundation's own descriptions are often only a domain and a
/// code, e.g. "NSURLErrorDomain error -1001").
func describe(_ error: Error, timeout: TimeInterval) -> String {
    guard let error = error as? URLError else { return error.localizedDescription }
    switch error.code {
    case .timedOut: return String(format: "no response within %.0f s", timeout)
    case .cannotFindHost, .dnsLookupFailed: return "the host name could not be resolved"
    case .cannotConnectToHost: return "the connection was refused"
    case .networkConnectionLost: return "the connection was lost"
    case .notConnectedToInternet: return "there is no network connection"
    case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid:
        return "the secure connection failed (\(error.localizedDescription))"
    default: return "\(error.localizedDescription) (URL error \(error.code.rawValue))"
    }
}

struct DownloadFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
