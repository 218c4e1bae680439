/// The IDX format (LeCun): big-endian magic `00 00 <type> <ndims>`, one big-endian UInt32 per
/// dimension, then the data row-major. Only unsigned bytes (type 0x08) occur in the MNIST family.
enum IDX {
    static let imagesMagic: UInt32 = 0x0000_0803  // 2051: uint8, 3 dims
    static let labelsMagic: UInt32 = 0x0000_0801  // 2049: uint8, 1 dim

    struct Header {
        let dims: [Int]
        let dataOffset: Int
        let dataCount: Int
    }

    private static func describeMagic(_ magic: UInt32) -> String {
        switch magic {
        case imagesMagic: return "2051, an IDX image file"
        case labelsMagic: return "2049, an IDX label file"
        default: return "\(magic)"
        }
    }

    /// Checks magic, dimensions and that the length is exactly header + product(dims).
    static func parseHeader(_ bytes: UnsafeRawBufferPointer, expectedMagic: UInt32, name: String) throws -> Header {
        let what = expectedMagic == imagesMagic ? "IDX image file (magic 2051)" : "IDX label file (magic 2049)"
        guard bytes.count >= 4 else {
            throw DatasetError(name, "truncated: \(bytes.count) bytes is too short for an IDX header; expected an \(what)")
        }
        let magic = readUInt32(bytes, at: 0)
        guard magic == expectedMagic else {
            let hex = "0x" + String(magic, radix: 16, uppercase: true).leftPadded(to: 8)
            throw DatasetError(name, "wrong magic number \(hex) (\(describeMagic(magic))); expected an \(what)")
        }
        let ndims = Int(magic & 0xff)
        let dataOffset = 4 + 4 * ndims
        guard bytes.count >= dataOffset else {
            throw DatasetError(name, "truncated: the IDX header needs \(dataOffset) bytes but the file holds \(bytes.count)")
        }
        let dims = (0..<ndims).map { Int(readUInt32(bytes, at: 4 + 4 * $0)) }
        if let zero = dims.firstIndex(of: 0) {
            throw DatasetError(name, "bad dimensions \(dims.map(String.init).joined(separator: "×")): dimension \(zero) is 0")
        }
        // Dimensions are UInt32 each; their product can overflow Int on corrupt headers.
        var dataCount = 1
        for d in dims {
            let (p, overflow) = dataCount.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw DatasetError(name, "bad dimensions \(dims.map(String.init).joined(separator: "×")): the size overflows")
            }
            dataCount = p
        }
        let expected = dataOffset + dataCount
        let shape = dims.map(String.init).joined(separator: "×")
        let noun = expectedMagic == imagesMagic ? "images" : "labels"
        if bytes.count < expected {
            throw DatasetError(name, "truncated: header says \(shape) \(noun) (\(dataCount) bytes) but the file holds \(bytes.count - dataOffset)")
        }
        if bytes.count > expected {
            throw DatasetError(name, "wrong length: header says \(shape) \(noun) (\(dataCount) bytes) but the file holds \(bytes.count - dataOffset) (\(bytes.count - expected) extra bytes)")
        }
        return Header(dims: dims, dataOffset: dataOffset, dataCount: dataCount)
    }

    @inline(__always) static func readUInt32(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    /// Normalized pixels for every byte value, computed once: the conversion loop is then a
    /// plain table lookup.
    static let pixelTable: [Float] = (0..<256).map {
        (Float($0) / 255 - Normalization.mean) / Normalization.std
    }

    struct Images {
        let count: Int, rows: Int, cols: Int
        let pixels: [Float]
    }

    static func decodeImages(_ bytes: UnsafeRawBufferPointer, name: String) throws -> Images {
        let header = try parseHeader(bytes, expectedMagic: imagesMagic, name: name)
        guard header.dims.count == 3 else {
            throw DatasetError(name, "expected 3 dimensions (count×rows×cols), found \(header.dims.count)")
        }
        let total = header.dataCount
        let pixels = pixelTable.withUnsafeBufferPointer { table in
            [Float](unsafeUninitializedCapacity: total) { out, initialized in
                let src = bytes.baseAddress.map { $0 + header.dataOffset }
                if let src, let dst = out.baseAddress, let lut = table.baseAddress {
                    let s = src.assumingMemoryBound(to: UInt8.self)
                    for i in 0..<total { dst[i] = lut[Int(s[i])] }
                }
                initialized = total
            }
        }
        return Images(count: header.dims[0], rows: header.dims[1], cols: header.dims[2], pixels: pixels)
    }

    /// Labels as Int32; every value must be a class 0..<10.
    static func decodeLabels(_ bytes: UnsafeRawBufferPointer, name: String) throws -> [Int32] {
        let header = try parseHeader(bytes, expectedMagic: labelsMagic, name: name)
        guard header.dims.count == 1 else {
            throw DatasetError(name, "expected 1 dimension (count), found \(header.dims.count)")
        }
        let data = UnsafeRawBufferPointer(rebasing: bytes[header.dataOffset...])
        if let bad = data.firstIndex(where: { $0 > 9 }) {
            throw DatasetError(name, "label \(data[bad]) at index \(bad - data.startIndex) is outside 0-9")
        }
        return data.map { Int32($0) }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
