import FileFormats
import Foundation

/// Finds the four files of a dataset in a directory (downloading the missing ones when
/// allowed) and loads them. Everything runs on the calling thread, `progress` included.
public struct DatasetLoader {
    public let kind: DatasetKind
    public let directory: URL
    public let allowDownload: Bool
    public let mirrors: [URL]
    /// Seconds without progress before a download attempt is abandoned: short enough that an
    /// unresponsive mirror costs seconds, not minutes, before the next one is tried.
    public var timeout: TimeInterval = 20
    private let progress: ((String) -> Void)?

    public init(kind: DatasetKind, directory: URL, allowDownload: Bool = true, mirrors: [URL]? = nil,
                progress: ((String) -> Void)? = nil) {
        self.kind = kind
        self.directory = directory
        self.allowDownload = allowDownload
        self.mirrors = mirrors ?? kind.mirrors
        self.progress = progress
    }

    /// Where files are looked for: the directory itself, `<dir>/<dataset>`, and torchvision's
    /// `<dir>/<MNIST|FashionMNIST|KMNIST>/raw`. Downloads go into the directory itself.
    public var searchDirectories: [URL] {
        [directory,
         directory.appendingPathComponent(kind.rawValue, isDirectory: true),
         directory.appendingPathComponent(kind.torchvisionName, isDirectory: true).appendingPathComponent("raw", isDirectory: true)]
    }

    /// The on-disk location of `file`: the uncompressed name is preferred (no inflate), then `.gz`.
    public func locate(_ file: RemoteFile) -> URL? {
        for dir in searchDirectories {
            for name in [file.baseName, file.gzName] {
                let url = dir.appendingPathComponent(name)
                if fileKind(url.path) == .file { return url }
            }
        }
        return nil
    }

    /// Paths of train images, train labels, test images, test labels, downloading (and
    /// checksum-verifying) any that are missing. Existing files are not re-hashed: the IDX
    /// checks on load catch damage, and hashing 10 MB on every run is wasted time.
    public func prepareFiles() throws -> [URL] {
        switch fileKind(directory.path) {
        case .directory: break
        case .missing:
            guard allowDownload else {
                throw DatasetError(directory.path, "data directory does not exist (downloads are disabled)")
            }
        case .file, .other:
            throw DatasetError(directory.path, "is not a directory")
        }
        return try kind.files.all.map { file in
            if let found = locate(file) { return found }
            guard allowDownload else {
                let places = searchDirectories.map(\.path).joined(separator: ", ")
                throw DatasetError(file.gzName, "not found (nor \(file.baseName)) in \(places); downloads are disabled")
            }
            return try download(file)
        }
    }

    public func loadTrainAndTest() throws -> (train: LabeledImages, test: LabeledImages) {
        let urls = try prepareFiles()
        let train = try IDXFile.readLabeledImages(images: urls[0], labels: urls[1])
        let test = try IDXFile.readLabeledImages(images: urls[2], labels: urls[3])
        guard train.rows == test.rows && train.cols == test.cols else {
            throw DatasetError(urls[2].path, "images are \(test.rows)×\(test.cols) but the training images (\(urls[0].path)) are \(train.rows)×\(train.cols)")
        }
        return (train, test)
    }

    /// The training files split (seeded) into `train.count - validationCount` training and
    /// `validationCount` validation images, plus the test files.
    public func loadSplits(validationCount: Int = 10_000, seed: UInt64) throws -> MNISTSplits {
        let (train, test) = try loadTrainAndTest()
        return try MNISTSplits.split(train, test: test, validationCount: validationCount, seed: seed)
    }

    /// Tries each mirror in turn; the first body whose checksum matches is written atomically.
    private func download(_ file: RemoteFile) throws -> URL {
        try createDirectory(directory)
        let destination = directory.appendingPathComponent(file.gzName)
        var attempts: [String] = []
        for mirror in mirrors {
            let url = mirror.appendingPathComponent(file.gzName)
            progress?("Downloading \(url.absoluteString)")
            switch Downloader.fetch(url, timeout: timeout) {
            case .failure(let failure):
                attempts.append("\(url.absoluteString) (\(failure.reason))")
            case .success(let data):
                let verdict: Checksum? = data.withUnsafeBytes { bytes in
                    file.checksum.matches(bytes) ? nil : file.checksum.digest(of: bytes)
                }
                if let actual = verdict {
                    attempts.append("\(url.absoluteString) (checksum mismatch: expected \(file.checksum), got \(actual), \(data.count) bytes)")
                    continue
                }
                do {
                    try AtomicFile.write(data, to: destination)
                } catch let error as AtomicFileError {
                    throw DatasetError(error.path, "\(error.operation) failed: \(errnoString(error.code))")
                }
                progress?("Saved \(destination.path) (\(data.count) bytes, \(file.checksum) verified)")
                return destination
            }
        }
        let tried = attempts.isEmpty ? "no mirrors configured" : "tried " + attempts.joined(separator: "; ")
        throw DatasetError(file.gzName, "download into \(directory.path) failed: \(tried)")
    }
}
