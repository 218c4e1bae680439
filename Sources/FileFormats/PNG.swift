import CZlib
import Foundation

/// Minimal PNG encoding: 8-bit grayscale or RGB, no interlacing, filter type 0 (none) on
/// every row. Enough for image grids, and small because zlib does the real work.
public enum PNG {
    /// `pixels` holds `width × height` bytes, row by row, 0 black to 255 white.
    public static func encodeGray(width: Int, height: Int, pixels: [UInt8]) -> Data {
        encode(width: width, height: height, channels: 1, colorType: 0, pixels: pixels)
    }

    /// `pixels` holds `width × height × 3` bytes, row by row, red-green-blue per pixel.
    public static func encodeRGB(width: Int, height: Int, pixels: [UInt8]) -> Data {
        encode(width: width, height: height, channels: 3, colorType: 2, pixels: pixels)
    }

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    private static func encode(width: Int, height: Int, channels: Int, colorType: UInt8, pixels: [UInt8]) -> Data {
        precondition(width > 0 && height > 0 && width <= Int(Int32.max) && height <= Int(Int32.max),
                     "PNG: image size \(width)×\(height) is outside 1...\(Int32.max)")
        let rowBytes = width * channels
        precondition(pixels.count == rowBytes * height,
                     "PNG: \(pixels.count) bytes do not fill a \(width)×\(height) image with \(channels) channel(s)")

        var raw = [UInt8]()
        raw.reserveCapacity((rowBytes + 1) * height)
        for row in 0..<height {
            raw.append(0)
            raw.append(contentsOf: pixels[(row * rowBytes)..<((row + 1) * rowBytes)])
        }

        var header = [UInt8]()
        appendBigEndian(UInt32(width), to: &header)
        appendBigEndian(UInt32(height), to: &header)
        header += [8, colorType, 0, 0, 0]

        var png = Data(signature)
        appendChunk("IHDR", header, to: &png)
        appendChunk("IDAT", deflate(raw), to: &png)
        appendChunk("IEND", [], to: &png)
        return png
    }

    private static func deflate(_ bytes: [UInt8]) -> [UInt8] {
        var capacity = compressBound(uLong(bytes.count))
        var output = [UInt8](repeating: 0, count: Int(capacity))
        let status = output.withUnsafeMutableBufferPointer { destination in
            bytes.withUnsafeBufferPointer { source in
                compress2(destination.baseAddress, &capacity, source.baseAddress, uLong(source.count), Z_BEST_COMPRESSION)
            }
        }
        // compressBound guarantees room, so only running out of memory can fail here.
        precondition(status == Z_OK, "PNG: zlib compress2 failed with status \(status)")
        output.removeSubrange(Int(capacity)...)
        return output
    }

    private static func appendChunk(_ type: String, _ body: [UInt8], to png: inout Data) {
        var chunk = [UInt8]()
        chunk.reserveCapacity(body.count + 12)
        appendBigEndian(UInt32(body.count), to: &chunk)
        chunk.append(contentsOf: type.utf8)
        chunk.append(contentsOf: body)
        let checksum = chunk[4...].withUnsafeBufferPointer { crc($0) }
        appendBigEndian(checksum, to: &chunk)
        png.append(contentsOf: chunk)
    }

    /// zlib's CRC-32, fed in pieces because its length parameter is 32 bits wide.
    static func crc(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var value = crc32(0, nil, 0)
        var start = 0
        while start < bytes.count {
            let length = min(bytes.count - start, Int(UInt32.max))
            value = crc32(value, bytes.baseAddress.map { $0 + start }, uInt(length))
            start += length
        }
        return UInt32(truncatingIfNeeded: value)
    }

    private static func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8),
                  UInt8(truncatingIfNeeded: value)]
    }
}
