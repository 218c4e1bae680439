import Datasets
import FileFormats
import TestSupport
import XCTest

final class DigestTests: XCTestCase {
    func testSHA256StandardVectors() {
        // FIPS 180-2 examples plus the empty string.
        XCTAssertEqual(hex(Digest.sha256(Array("".utf8))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hex(Digest.sha256(Array("abc".utf8))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex(Digest.sha256(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(hex(Digest.sha256([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testMD5StandardVectors() {
        // RFC 1321 test suite.
        let cases: [(String, String)] = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
            ("12345678901234567890123456789012345678901234567890123456789012345678901234567890", "57edf4a22be3c955ac49da2e2107b67a"),
        ]
        for (input, expected) in cases {
            XCTAssertEqual(hex(Digest.md5(Array(input.utf8))), expected, "md5(\"\(input)\")")
        }
    }

    /// Lengths around the 55/56/64-byte padding boundaries (expected values from Python's hashlib).
    func testPaddingBoundaries() {
        let expected: [Int: (String, String)] = [
            55: ("e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b", "52c0e574e1198de5fe3f8f11440dcb1b"),
            56: ("4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27", "46c9907fc908ee68b1e7b8e71286a518"),
            63: ("81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055", "a62f6d59e837867693f042f5b8f5a236"),
            64: ("39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241", "7160b8fb5e9e4023d549c3971fbaeead"),
            65: ("aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e", "70bd662e7aefbda85a0f7244167b7897"),
            119: ("9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e", "e84905d4214f4d1ca56c2cdcc152b143"),
            120: ("7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5", "e3eb5a6c8669ea01a8c185b8abc8a5dc"),
            128: ("d2742f1f4ac6bb7ca2b239ee18402ba8b3f9f8e652d2a72973c2b9ba11c08cf6", "10b2da1a82f16d99a81a7203fe9f02cb"),
        ]
        for (n, (sha, md5)) in expected {
            let bytes = (0..<n).map { UInt8(($0 * 7 + 3) % 256) }
            XCTAssertEqual(hex(Digest.sha256(bytes)), sha, "sha256 of \(n) bytes")
            XCTAssertEqual(hex(Digest.md5(bytes)), md5, "md5 of \(n) bytes")
        }
    }

    /// The checksum table against the real files (the small ones: hashing is slow in debug builds).
    func testPublishedChecksumsMatchRealFiles() throws {
        let dir = try RealMNIST.requireDirectory()
        let loader = DatasetLoader(kind: .mnist, directory: dir, allowDownload: false)
        let files = DatasetKind.mnist.files
        for file in [files.trainLabels, files.testImages, files.testLabels] {
            guard let url = loader.locate(file), url.pathExtension == "gz" else { continue }
            let bytes = try [UInt8](Data(contentsOf: url))
            XCTAssertEqual(Checksum.sha256(hex(Digest.sha256(bytes))), file.checksum, file.gzName)
        }
        // MD5 of a real file against its published value (the one torchvision checks).
        if let url = loader.locate(files.testLabels), url.pathExtension == "gz" {
            XCTAssertEqual(hex(Digest.md5(try [UInt8](Data(contentsOf: url)))), "ec29112dd5afa0611ce80d1b7f02629c")
        }
    }

    func testChecksumTablesAreWellFormed() {
        for kind in DatasetKind.allCases {
            XCTAssertFalse(kind.mirrors.isEmpty, "\(kind) has mirrors")
            let names = kind.files.all.map(\.gzName)
            XCTAssertEqual(names, ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                   "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
            for file in kind.files.all {
                switch file.checksum {
                case .sha256(let h): XCTAssertEqual(h.count, 64); XCTAssertTrue(h.allSatisfy(\.isHexDigit))
                case .md5(let h): XCTAssertEqual(h.count, 32); XCTAssertTrue(h.allSatisfy(\.isHexDigit))
                }
            }
        }
        XCTAssertEqual(DatasetKind(rawValue: "fashion-mnist"), .fashionMNIST)
        XCTAssertEqual(DatasetKind.allCases.map(\.rawValue), ["mnist", "fashion-mnist", "kmnist"])
    }
}
