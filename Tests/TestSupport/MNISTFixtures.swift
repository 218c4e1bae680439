import Datasets
import Foundation
import Support
import XCTest

// MARK: - Locating the real MNIST files

public enum RealMNIST {
    /// GTN_DATA_DIR if it holds MNIST, else the first `shared/data/mnist` found walking up from
    /// this file (a data checkout next to the repository's).
    public static let directory: URL? = {
        func holdsMNIST(_ dir: URL) -> Bool {
            let loader = DatasetLoader(kind: .mnist, directory: dir, allowDownload: false)
            return DatasetKind.mnist.files.all.allSatisfy { loader.locate($0) != nil }
        }
        if let env = ProcessInfo.processInfo.environment["GTN_DATA_DIR"], !env.isEmpty {
            let dir = URL(fileURLWithPath: env, isDirectory: true)
            if holdsMNIST(dir) { return dir }
        }
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" && !dir.path.isEmpty {
            let candidate = dir.appendingPathComponent("shared/data/mnist", isDirectory: true)
            if holdsMNIST(candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }()

    public static func requireDirectory() throws -> URL {
        guard let directory else {
            throw XCTSkip("real MNIST files not found (set GTN_DATA_DIR or provide ../shared/data/mnist)")
        }
        return directory
    }

    /// Loaded once per test process: the debug-build load of ~55 MB is the slow part.
    public static let loaded: Result<(train: LabeledImages, test: LabeledImages), any Error>? = {
        guard let directory else { return nil }
        return Result { try DatasetLoader(kind: .mnist, directory: directory, allowDownload: false).loadTrainAndTest() }
    }()

    public static func requireLoaded() throws -> (train: LabeledImages, test: LabeledImages) {
        guard let loaded else { throw XCTSkip("real MNIST files not found") }
        return try loaded.get()
    }

    /// Images per digit in the published MNIST files.
    public static let trainHistogram = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    public static let testHistogram = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
}

/// IDX files built in memory, well-formed or deliberately broken.
public enum IDXBytes {
    public static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }

    /// An image file; pixel values are a deterministic pattern unless given.
    public static func images(count: Int, rows: Int, cols: Int, pixels: [UInt8]? = nil) -> [UInt8] {
        let data = pixels ?? (0..<count * rows * cols).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        return be32(2051) + be32(UInt32(count)) + be32(UInt32(rows)) + be32(UInt32(cols)) + data
    }

    public static func labels(_ values: [UInt8]) -> [UInt8] {
        be32(2049) + be32(UInt32(values.count)) + values
    }
}

/// gzip with "stored" (uncompressed) deflate blocks: a valid gzip file built without zlib, so the
/// tests can make well-formed and deliberately broken .gz files themselves.
public enum StoredGzip {
    public static func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)] }

    public static func compress(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]
        var offset = 0
        repeat {
            let n = min(65535, data.count - offset)
            let final: UInt8 = offset + n == data.count ? 1 : 0
            out.append(final)  // BFINAL, BTYPE=00 (stored)
            out += [UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
            out += data[offset..<offset + n]
            offset += n
        } while offset < data.count
        return out + le32(crc32(data)) + le32(UInt32(truncatingIfNeeded: data.count))
    }
}

/// Bitwise CRC-32 (polynomial 0xEDB88320), independent of zlib's.
public func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

// MARK: - Random images

/// Train, validation and test sets of random images (labels cycling through 0-9), drawn in that
/// order from one seeded generator: a stand-in for MNIST where only the mechanics are under test.
public func syntheticSplits(train: Int, validation: Int, test: Int, seed: UInt64) -> MNISTSplits {
    var rng = SeededGenerator(seed: seed)
    func set(_ n: Int) -> LabeledImages {
        LabeledImages(count: n, rows: 28, cols: 28, pixels: (0..<(n * 784)).map { _ in Float(rng.nextNormal()) },
                      labels: (0..<n).map { Int32($0 % 10) })
    }
    return MNISTSplits(train: set(train), validation: set(validation), test: set(test))
}
