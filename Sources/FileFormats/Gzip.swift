import CZlib

/// Why a gzip stream could not be inflated; `name` is the file it came from.
public struct GzipError: Error, CustomStringConvertible, Sendable {
    public let name: String
    public let message: String

    init(_ name: String, _ message: String) {
        self.name = name
        self.message = message
    }

    public var description: String { "\(name): \(message)" }
}

/// Inflating whole gzip files held in memory.
public enum Gzip {
    /// Whether `bytes` starts with the gzip magic 1f 8b.
    public static func hasMagic(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    /// Inflates a whole gzip file (one or more members) into memory. The output buffer is
    /// sized from the trailer's ISIZE (the uncompressed size mod 2^32), so the common case
    /// is one allocation and one inflate call; a wrong ISIZE only costs a regrow.
    /// `name` is used in error messages.
    public static func decompress(_ input: UnsafeRawBufferPointer, name: String) throws -> ByteBuffer {
        guard hasMagic(input), let inputBase = input.baseAddress else {
            let head = input.prefix(4).map { String($0, radix: 16) }.joined(separator: " ")
            throw GzipError(name, "not a gzip file (expected bytes 1f 8b, found \(head.isEmpty ? "an empty file" : head))")
        }
        guard input.count >= 18 else {
            throw GzipError(name, "truncated gzip file: \(input.count) bytes is shorter than a gzip header and trailer")
        }
        let n = input.count
        let isize = Int(UInt32(input[n - 4]) | UInt32(input[n - 3]) << 8 | UInt32(input[n - 2]) << 16 | UInt32(input[n - 1]) << 24)
        // Deflate cannot expand more than ~1032:1; a larger ISIZE is a corrupt trailer, not a reason to allocate 4 GB.
        let maxPlausible = n &* 1032
        let output = ByteBuffer(capacity: isize > 0 && isize <= maxPlausible ? isize : max(n * 4, 1 << 16))

        var stream = z_stream()
        // windowBits 15 + 16: expect a gzip wrapper; zlib then checks the CRC-32 and ISIZE.
        guard czlib_inflate_init2(&stream, 15 + 16) == Z_OK else {
            throw GzipError(name, "zlib inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }

        stream.next_in = UnsafeMutablePointer(mutating: inputBase.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = 0
        var consumed = 0  // input bytes handed to zlib so far
        while true {
            // avail_in/avail_out are 32-bit; feed and drain in chunks below 4 GB.
            if stream.avail_in == 0 && consumed < n {
                let chunk = min(n - consumed, Int(UInt32.max))
                stream.avail_in = uInt(chunk)
                consumed += chunk
            }
            if output.count == output.capacity {
                output.grow(to: output.capacity * 2)
            }
            let room = min(output.capacity - output.count, Int(UInt32.max))
            stream.next_out = (output.base + output.count).assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(room)
            let status = inflate(&stream, Z_FINISH)
            output.count += room - Int(stream.avail_out)

            switch status {
            case Z_STREAM_END:
                let remaining = Int(stream.avail_in) + (n - consumed)
                if remaining == 0 { return output }
                // Another gzip member follows (as `cat a.gz b.gz` produces); anything else is garbage.
                let rest = UnsafeRawBufferPointer(start: inputBase + (n - remaining), count: remaining)
                guard hasMagic(rest) else {
                    throw GzipError(name, "\(remaining) bytes of trailing garbage after the gzip stream")
                }
                guard inflateReset(&stream) == Z_OK else { throw GzipError(name, "zlib inflateReset failed") }
            case Z_OK, Z_BUF_ERROR:
                // Out of output room: grow and continue. Out of input before the end: truncated.
                if stream.avail_out == 0 { continue }
                if stream.avail_in == 0 {
                    if consumed < n { continue }  // more input to feed
                    throw GzipError(name, "truncated gzip stream: the compressed data ends before the end of the stream (\(n) bytes read, \(output.count) bytes inflated)")
                }
                // Input and output room left but no progress: never loop on it.
                if status == Z_BUF_ERROR { throw GzipError(name, "corrupt gzip data: inflate cannot make progress") }
            case Z_DATA_ERROR:
                let detail = stream.msg.map { String(cString: $0) } ?? "invalid data"
                throw GzipError(name, "corrupt gzip data: \(detail)")
            case Z_MEM_ERROR:
                throw GzipError(name, "zlib ran out of memory")
            default:
                throw GzipError(name, "zlib inflate failed with status \(status)")
            }
        }
    }
}
