import FileFormats
import Foundation

/// The MNIST-family datasets. They share the IDX format and file names; only mirrors and
/// checksums differ.
public enum DatasetKind: String, CaseIterable, Sendable {
    case mnist
    case fashionMNIST = "fashion-mnist"
    case kmnist

    /// Directory name torchvision uses under its root (`<root>/<name>/raw/`).
    var torchvisionName: String {
        switch self {
        case .mnist: return "MNIST"
        case .fashionMNIST: return "FashionMNIST"
        case .kmnist: return "KMNIST"
        }
    }

    /// Base URLs tried in order; each file is `<mirror><file name>`.
    public var mirrors: [URL] {
        let strings: [String]
        switch self {
        case .mnist:
            strings = [
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
                "https://storage.googleapis.com/cvdf-datasets/mnist/",
                "http://yann.lecun.com/exdb/mnist/",
            ]
        case .fashionMNIST:
            strings = [
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
            ]
        case .kmnist:
            strings = [
                "https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
                "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
            ]
        }
        // Literals above are valid URLs; compactMap keeps this free of force-unwraps.
        return strings.compactMap { URL(string: $0) }
    }

    /// The four compressed files with their published checksums. MNIST: SHA-256 of the .gz
    /// files; Fashion-MNIST and KMNIST only publish MD5 (the values torchvision checks).
    public var files: DatasetFiles {
        switch self {
        case .mnist:
            return DatasetFiles(
                trainImages: RemoteFile("train-images-idx3-ubyte", .sha256("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609")),
                trainLabels: RemoteFile("train-labels-idx1-ubyte", .sha256("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c")),
                testImages: RemoteFile("t10k-images-idx3-ubyte", .sha256("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6")),
                testLabels: RemoteFile("t10k-labels-idx1-ubyte", .sha256("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6")))
        case .fashionMNIST:
            return DatasetFiles(
                trainImages: RemoteFile("train-images-idx3-ubyte", .md5("8d4fb7e6c68d591d4c3dfef9ec88bf0d")),
                trainLabels: RemoteFile("train-labels-idx1-ubyte", .md5("25c81989df183df01b3e8a0aad5dffbe")),
                testImages: RemoteFile("t10k-images-idx3-ubyte", .md5("bef4ecab320f06d8554ea6380940ec79")),
                testLabels: RemoteFile("t10k-labels-idx1-ubyte", .md5("bb300cfdad3c16e7a12a480ee83cd310")))
        case .kmnist:
            return DatasetFiles(
                trainImages: RemoteFile("train-images-idx3-ubyte", .md5("bdb82020997e1d708af4cf47b453dcf7")),
                trainLabels: RemoteFile("train-labels-idx1-ubyte", .md5("e144d726b3acfaa3e44228e80efcd344")),
                testImages: RemoteFile("t10k-images-idx3-ubyte", .md5("5c965bf0a639b31b8f53240b1b52f4d7")),
                testLabels: RemoteFile("t10k-labels-idx1-ubyte", .md5("7320c461ea6c1c855c0b718fb2a4b134")))
        }
    }
}

/// A published checksum of a downloaded (compressed) file, as lowercase hex.
public enum Checksum: Sendable, Equatable, CustomStringConvertible {
    case sha256(String)
    case md5(String)

    public var description: String {
        switch self {
        case .sha256(let hex): return "sha256 \(hex)"
        case .md5(let hex): return "md5 \(hex)"
        }
    }

    /// The same kind of digest computed over `bytes`.
    func digest(of bytes: UnsafeRawBufferPointer) -> Checksum {
        switch self {
        case .sha256: return .sha256(Digest.hex(Digest.sha256(bytes)))
        case .md5: return .md5(Digest.hex(Digest.md5(bytes)))
        }
    }

    func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        switch (self, digest(of: bytes)) {
        case (.sha256(let a), .sha256(let b)), (.md5(let a), .md5(let b)):
            return a.lowercased() == b
        default:
            return false
        }
    }
}

/// One of the four files: `baseName` is the canonical uncompressed name; mirrors serve
/// `baseName + ".gz"`, whose checksum is `checksum`.
public struct RemoteFile: Sendable, Equatable {
    public let baseName: String
    public let checksum: Checksum
    public var gzName: String { baseName + ".gz" }

    public init(_ baseName: String, _ checksum: Checksum) {
        self.baseName = baseName
        self.checksum = checksum
    }
}

public struct DatasetFiles: Sendable, Equatable {
    public let trainImages: RemoteFile
    public let trainLabels: RemoteFile
    public let testImages: RemoteFile
    public let testLabels: RemoteFile
    public var all: [RemoteFile] { [trainImages, trainLabels, testImages, testLabels] }
}

/// Pixel normalization applied on load: `(byte / 255 - mean) / std`, with the MNIST training
/// statistics for every kind so that all datasets share one input scale. (Internal: the GTN
/// module publishes the same constants as its own `PixelNormalization`.)
enum Normalization {
    static let mean: Float = 0.1307
    static let std: Float = 0.3081
}
