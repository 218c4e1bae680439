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
                result = .failure(DownloadFailure(error.localizedDescription))
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

struct DownloadFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
