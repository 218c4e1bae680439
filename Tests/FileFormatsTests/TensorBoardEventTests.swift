import Foundation
import XCTest
@testable import FileFormats

/// CRC-32C, protobuf and TFRecord framing against published check values and bytes produced
/// by TensorBoard's own protobuf classes and `masked_crc32c`.
final class TensorBoardEventTests: XCTestCase {
    func testCRC32CCheckValues() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        // RFC 3720 (iSCSI), appendix B.4.
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map(UInt8.init)), 0x46DD_794E)
        // Not zlib's CRC-32 of the same bytes (0xCBF43926).
        XCTAssertNotEqual(CRC32C.checksum(Array("123456789".utf8)), 0xCBF4_3926)
    }

    func testMaskedValuesMatchTensorBoard() {
        XCTAssertEqual(CRC32C.masked(CRC32C.checksum(Array("123456789".utf8))), 0xC78A_B0E5)
        XCTAssertEqual(CRC32C.masked(CRC32C.checksum([])), 0xA282_EAD8)
    }

    func testVarintsAndNegativeIntegers() {
        var w = ProtobufWriter()
        w.varint(1)
        w.varint(300)  // 0b1_0010_1100: low seven bits 0x2C with the continuation bit, then 0x02
        w.varint(0)
        XCTAssertEqual(w.bytes, [0x01, 0xAC, 0x02, 0x00])
        var n = ProtobufWriter()
        n.integer(2, -1)  // two's complement, ten bytes
        XCTAssertEqual(n.bytes, [0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
    }

    /// Bytes of `Event(wall_time=1700000000.5, step=300, summary={value {tag: "train/meta_loss",
    /// simple_value: 0.25}})` framed as a TFRecord, from tensorboard's event_pb2 and masked_crc32c.
    func testScalarRecordMatchesTensorBoardBytes() {
        let expected = "2600000000000000734fe3000900002040fc54d94110ac022a180a160a0f747261696e2f6d6574615f6c6f7373150000803e1e069935"
        let event = TensorBoardEventWriter.event(wallTime: Date(timeIntervalSince1970: 1_700_000_000.5), step: 300) { event in
            event.message(5) { summary in
                summary.message(1) { value in
                    value.string(1, "train/meta_loss")
                    value.float(2, 0.25)
                }
            }
        }
        XCTAssertEqual(TFRecord.frame(event).map { String(format: "%02x", $0) }.joined(), expected)
    }

    /// A written file parses back record by record: lengths and both checksums hold.
    func testEventFileRecordsFrameCorrectly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try TensorBoardEventWriter(directory: directory)
        try writer.addScalar("a", 1.5, step: 1)
        try writer.addImage("grid", png: PNG.encodeGray(width: 2, height: 1, pixels: [0, 255]), width: 2, height: 1, step: 1)
        XCTAssertTrue(writer.url.lastPathComponent.hasPrefix("events.out.tfevents."))
        let bytes = [UInt8](try Data(contentsOf: writer.url))
        var offset = 0, records = 0
        while offset < bytes.count {
            let header = Array(bytes[offset..<(offset + 8)])
            let length = header.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            func le32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
            XCTAssertEqual(le32(offset + 8), CRC32C.masked(CRC32C.checksum(header)))
            let data = Array(bytes[(offset + 12)..<(offset + 12 + length)])
            XCTAssertEqual(le32(offset + 12 + length), CRC32C.masked(CRC32C.checksum(data)))
            offset += 16 + length
            records += 1
        }
        XCTAssertEqual(offset, bytes.count)
        XCTAssertEqual(records, 3)  // the version record, the scalar and the image
    }
}
