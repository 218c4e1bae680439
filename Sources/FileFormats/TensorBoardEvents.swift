import Foundation

/// Protocol-buffer wire format, as much as TensorBoard's `Event` messages need.
public struct ProtobufWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func key(_ field: Int, _ wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

    /// int32/int64 fields: negative values take ten bytes, as two's complement.
    public mutating func integer(_ field: Int, _ value: Int64) {
        key(field, 0)
        varint(UInt64(bitPattern: value))
    }

    public mutating func double(_ field: Int, _ value: Double) {
        key(field, 1)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func bytes(_ field: Int, _ value: some Collection<UInt8>) {
        key(field, 2)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    public mutating func message(_ field: Int, _ build: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        build(&inner)
        bytes(field, inner.bytes)
    }
}

/// TFRecord framing: length (UInt64 LE), its masked CRC-32C, the data, the data's masked CRC-32C.
public enum TFRecord {
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian) { Array($0) }
        out += length
        withUnsafeBytes(of: CRC32C.masked(CRC32C.checksum(length)).littleEndian) { out.append(contentsOf: $0) }
        out += data
        withUnsafeBytes(of: CRC32C.masked(CRC32C.checksum(data)).littleEndian) { out.append(contentsOf: $0) }
        return out
    }
}

/// A TensorBoard event file (`events.out.tfevents.<seconds>.<host>`): scalars and PNG images as
/// `Event { wall_time, step, Summary { Value { tag, simple_value | image } } }` records.
/// Each record is appended and flushed at once, so TensorBoard sees a live run and a crash
/// loses at most the record being written.
public final class TensorBoardEventWriter {
    public let url: URL
    private let handle: FileHandle

    /// A new event file in `directory` (created if needed), starting with the version record.
    public init(directory: URL, wallTime: Date = Date()) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        var name = "events.out.tfevents.\(Int(wallTime.timeIntervalSince1970)).\(host)"
        // A second writer in the same second (a quick resume) must not append to the first's file.
        var suffix = 1
        while FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path) {
            name = "events.out.tfevents.\(Int(wallTime.timeIntervalSince1970)).\(host).\(suffix)"
            suffix += 1
        }
        url = directory.appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw AtomicFileError(path: url.path, operation: "creating the event file", code: errno)
        }
        handle = try FileHandle(forWritingTo: url)
        try write(Self.event(wallTime: wallTime, step: 0) { $0.string(3, "brain.Event:2") })
    }

    deinit { try? handle.close() }

    public func addScalar(_ tag: String, _ value: Double, step: Int, wallTime: Date = Date()) throws {
        try write(Self.event(wallTime: wallTime, step: step) { event in
            event.message(5) { summary in
                summary.message(1) { v in
                    v.string(1, tag)
                    v.float(2, Float(value))
                }
            }
        })
    }

    /// `png` must be a PNG of `width × height` pixels; `channels` 1 (gray), 3 (RGB) or 4 (RGBA),
    /// as Summary.Image's colorspace.
    public func addImage(_ tag: String, png: Data, width: Int, height: Int, channels: Int = 1, step: Int,
                         wallTime: Date = Date()) throws {
        try write(Self.event(wallTime: wallTime, step: step) { event in
            event.message(5) { summary in
                summary.message(1) { v in
                    v.string(1, tag)
                    v.message(4) { image in
                        image.integer(1, Int64(height))
                        image.integer(2, Int64(width))
                        image.integer(3, Int64(channels))
                        image.bytes(4, [UInt8](png))
                    }
                }
            }
        })
    }

    static func event(wallTime: Date, step: Int, body: (inout ProtobufWriter) -> Void) -> [UInt8] {
        var event = ProtobufWriter()
        event.double(1, wallTime.timeIntervalSince1970)
        event.integer(2, Int64(step))
        body(&event)
        return event.bytes
    }

    private func write(_ event: [UInt8]) throws {
        try handle.write(contentsOf: TFRecord.frame(event))
        try handle.synchronize()
    }
}
