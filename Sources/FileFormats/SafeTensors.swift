import Foundation

/// One tensor of a safetensors file: its name, shape and values, in one of the element types
/// this package reads and writes.
public struct SafeTensorsEntry: Sendable, Equatable {
    public enum Values: Sendable, Equatable {
        case float32([Float])
        case float64([Double])
        /// `I32` values, and `I64` values that fit in 32 bits (integers carry labels, not parameters).
        case int32([Int32])

        var count: Int {
            switch self {
            case .float32(let values): values.count
            case .float64(let values): values.count
            case .int32(let values): values.count
            }
        }
    }

    public var name: String
    public var shape: [Int]
    public var values: Values

    public init(name: String, shape: [Int], values: Values) {
        self.name = name
        self.shape = shape
        self.values = values
    }
}

/// The contents of a safetensors file: its tensors, in the order their bytes appear in the
/// file, and its string metadata.
public struct SafeTensorsFile: Sendable {
    public var entries: [SafeTensorsEntry]
    public var metadata: [String: String]

    public init(entries: [SafeTensorsEntry] = [], metadata: [String: String] = [:]) {
        self.entries = entries
        self.metadata = metadata
    }

    /// The entry called `name`, if there is one.
    public func entry(named name: String) -> SafeTensorsEntry? {
        entries.first { $0.name == name }
    }

    /// The integer tensors, in the order their bytes appear in the file.
    public var integerTensors: [(name: String, shape: [Int], values: [Int32])] {
        entries.compactMap { entry in
            guard case .int32(let values) = entry.values else { return nil }
            return (entry.name, entry.shape, values)
        }
    }

    /// The integer tensor called `name`, if there is one.
    public func integerTensor(named name: String) -> (shape: [Int], values: [Int32])? {
        integerTensors.first { $0.name == name }.map { ($0.shape, $0.values) }
    }
}

/// Why a safetensors file could not be read or written; `source` names the file.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    public enum Problem: Equatable, Sendable {
        case unreadable(String)
        case tooShort(byteCount: Int)
        case headerBeyondFile(headerLength: UInt64, available: Int)
        case headerTooLarge(headerLength: UInt64)
        case invalidJSON(String)
        case headerNotObject
        case invalidMetadata(String)
        case invalidEntry(name: String, problem: String)
        case unsupportedDtype(name: String, dtype: String)
        case offsetsOutOfRange(name: String, begin: Int, end: Int, bufferSize: Int)
        case sizeMismatch(name: String, expectedBytes: Int, actualBytes: Int)
        case overlapping(String, String)
        case unindexedBytes(Range<Int>)
        case integerOutOfRange(name: String)
        case duplicateName(String)
        case reservedName
        case valueCountMismatch(name: String, shape: [Int], count: Int)
    }

    public var source: String
    public var problem: Problem

    public init(source: String, problem: Problem) {
        self.source = source
        self.problem = problem
    }

    public var description: String {
        let what: String
        switch problem {
        case .unreadable(let reason):
            what = "cannot read file: \(reason)"
        case .tooShort(let count):
            what = "file is \(count) bytes long, too short for the 8-byte header length"
        case .headerBeyondFile(let length, let available):
            what = "header length \(length) runs past the end of the file (\(available) bytes follow the length)"
        case .headerTooLarge(let length):
            what = "header length \(length) exceeds the \(SafeTensors.maximumHeaderLength)-byte limit"
        case .invalidJSON(let reason):
            what = "header is not valid JSON: \(reason)"
        case .headerNotObject:
            what = "header is not a JSON object"
        case .invalidMetadata(let reason):
            what = "invalid __metadata__: \(reason)"
        case .invalidEntry(let name, let reason):
            what = "tensor '\(name)': \(reason)"
        case .unsupportedDtype(let name, let dtype):
            what = "tensor '\(name)': unsupported dtype '\(dtype)' (supported: F32, F64, I32, I64)"
        case .offsetsOutOfRange(let name, let begin, let end, let size):
            what = "tensor '\(name)': data_offsets [\(begin), \(end)] lie outside the \(size)-byte data buffer"
        case .sizeMismatch(let name, let expected, let actual):
            what = "tensor '\(name)': data_offsets span \(actual) bytes but dtype and shape need \(expected)"
        case .overlapping(let first, let second):
            what = "tensors '\(first)' and '\(second)' overlap in the data buffer"
        case .unindexedBytes(let range):
            what = "bytes \(range.lowerBound)..<\(range.upperBound) of the data buffer belong to no tensor"
        case .integerOutOfRange(let name):
            what = "tensor '\(name)': an I64 value does not fit in 32 bits"
        case .duplicateName(let name):
            what = "tensor name '\(name)' is used twice"
        case .reservedName:
            what = "'__metadata__' is reserved and cannot name a tensor"
        case .valueCountMismatch(let name, let shape, let count):
            what = "tensor '\(name)': \(count) values do not fill shape \(shape)"
        }
        return "\(source): \(what)"
    }
}

/// Reading and writing the safetensors format (https://github.com/huggingface/safetensors).
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON header (padded with spaces
/// to a multiple of 8 so the data is aligned), then the data buffer. The header maps each
/// tensor name to its dtype, shape and `[begin, end)` byte offsets into the buffer.
public enum SafeTensors {
    /// The safetensors project's own limit; it keeps a corrupt length from driving a huge parse.
    public static let maximumHeaderLength: UInt64 = 100_000_000

    /// Writes the entries atomically: readers see the old file or the complete new one.
    public static func write(entries: [SafeTensorsEntry], metadata: [String: String] = [:], to url: URL) throws {
        let data = try encode(entries: entries, metadata: metadata, source: url.path)
        try AtomicFile.write(data, to: url)
    }

    public static func read(from url: URL) throws -> SafeTensorsFile {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw SafeTensorsError(source: url.path, problem: .unreadable(error.localizedDescription))
        }
        return try decode(data, source: url.path)
    }

    /// The file's bytes, entries in the given order. Throws for duplicate or reserved names and
    /// for values that do not fill their shape; `source` names the destination in those errors.
    public static func encode(entries: [SafeTensorsEntry], metadata: [String: String] = [:],
                              source: String = "<memory>") throws -> Data {
        func fail(_ problem: SafeTensorsError.Problem) -> SafeTensorsError {
            SafeTensorsError(source: source, problem: problem)
        }
        var names = Set<String>()
        for name in entries.map(\.name) {
            guard name != metadataKey else { throw fail(.reservedName) }
            guard names.insert(name).inserted else { throw fail(.duplicateName(name)) }
        }
        for entry in entries {
            let expected = entry.shape.allSatisfy { $0 >= 0 } ? entry.shape.reduce(1, *) : -1
            guard expected == entry.values.count else {
                throw fail(.valueCountMismatch(name: entry.name, shape: entry.shape, count: entry.values.count))
            }
        }

        var members: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }
                .map { SafeTensorsJSON.quoted($0.key) + ":" + SafeTensorsJSON.quoted($0.value) }
            members.append(SafeTensorsJSON.quoted(metadataKey) + ":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        func describe(_ name: String, _ dtype: String, _ shape: [Int], byteCount: Int) -> String {
            defer { offset += byteCount }
            let shapeText = shape.map(String.init).joined(separator: ",")
            return SafeTensorsJSON.quoted(name)
                + ":{\"dtype\":\"\(dtype)\",\"shape\":[\(shapeText)],\"data_offsets\":[\(offset),\(offset + byteCount)]}"
        }
        for entry in entries {
            let (dtype, elementSize) = switch entry.values {
            case .float32: ("F32", 4)
            case .float64: ("F64", 8)
            case .int32: ("I32", 4)
            }
            members.append(describe(entry.name, dtype, entry.shape, byteCount: entry.values.count * elementSize))
        }

        var header = Array(("{" + members.joined(separator: ",") + "}").utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))
        var data = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: header)
        for entry in entries {
            switch entry.values {
            case .float32(let values): values.withUnsafeBufferPointer { appendLittleEndian($0, to: &data) }
            case .float64(let values): values.withUnsafeBufferPointer { appendLittleEndian($0, to: &data) }
            case .int32(let values): values.withUnsafeBufferPointer { appendLittleEndian($0, to: &data) }
            }
        }
        return data
    }

    /// Parses and validates a whole file held in memory; `source` names it in errors.
    public static func decode(_ data: Data, source: String) throws -> SafeTensorsFile {
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) throws(SafeTensorsError) -> SafeTensorsFile in
            try decode(bytes, source: source)
        }
    }

    private static let metadataKey = "__metadata__"

    private enum ElementType: String {
        case f32 = "F32", f64 = "F64", i32 = "I32", i64 = "I64"

        var byteCount: Int { self == .f32 || self == .i32 ? 4 : 8 }
    }

    private struct Entry {
        var name: String
        var type: ElementType
        var shape: [Int]
        var begin: Int
        var end: Int
        var headerIndex: Int
    }

    private static func decode(_ bytes: UnsafeRawBufferPointer, source: String) throws(SafeTensorsError) -> SafeTensorsFile {
        func fail(_ problem: SafeTensorsError.Problem) -> SafeTensorsError {
            SafeTensorsError(source: source, problem: problem)
        }
        guard bytes.count >= 8 else { throw fail(.tooShort(byteCount: bytes.count)) }
        var headerLength: UInt64 = 0
        withUnsafeMutableBytes(of: &headerLength) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<8])) }
        headerLength = UInt64(littleEndian: headerLength)
        guard headerLength <= maximumHeaderLength else { throw fail(.headerTooLarge(headerLength: headerLength)) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw fail(.headerBeyondFile(headerLength: headerLength, available: bytes.count - 8))
        }
        let bufferStart = 8 + Int(headerLength)
        let buffer = UnsafeRawBufferPointer(rebasing: bytes[bufferStart...])

        let header: SafeTensorsJSON.Value
        do {
            header = try SafeTensorsJSON.parse(UnsafeRawBufferPointer(rebasing: bytes[8..<bufferStart]))
        } catch {
            throw fail(.invalidJSON("\(error.message) at header byte \(error.offset)"))
        }
        guard case .object(let members) = header else { throw fail(.headerNotObject) }

        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for (index, member) in members.enumerated() {
            if member.key == metadataKey {
                metadata = try parseMetadata(member.value, fail: fail)
            } else {
                entries.append(try parseEntry(name: member.key, member.value, headerIndex: index,
                                              bufferSize: buffer.count, fail: fail))
            }
        }

        // Every byte of the buffer must belong to exactly one tensor, as the safetensors format requires.
        entries.sort { ($0.begin, $0.end, $0.headerIndex) < ($1.begin, $1.end, $1.headerIndex) }
        var covered = 0
        for (position, entry) in entries.enumerated() {
            if entry.begin < covered { throw fail(.overlapping(entries[position - 1].name, entry.name)) }
            if entry.begin > covered { throw fail(.unindexedBytes(covered..<entry.begin)) }
            covered = entry.end
        }
        if covered < buffer.count { throw fail(.unindexedBytes(covered..<buffer.count)) }

        var file = SafeTensorsFile(metadata: metadata)
        for entry in entries {
            let raw = UnsafeRawBufferPointer(rebasing: buffer[entry.begin..<entry.end])
            let values: SafeTensorsEntry.Values
            switch entry.type {
            case .f32:
                values = .float32(littleEndianArray(raw, of: Float.self))
            case .f64:
                values = .float64(littleEndianArray(raw, of: Double.self))
            case .i32:
                values = .int32(littleEndianArray(raw, of: Int32.self))
            case .i64:
                let wide = littleEndianArray(raw, of: Int64.self)
                var narrow: [Int32] = []
                narrow.reserveCapacity(wide.count)
                for value in wide {
                    guard let value = Int32(exactly: value) else { throw fail(.integerOutOfRange(name: entry.name)) }
                    narrow.append(value)
                }
                values = .int32(narrow)
            }
            file.entries.append(SafeTensorsEntry(name: entry.name, shape: entry.shape, values: values))
        }
        return file
    }

    private static func parseMetadata(_ value: SafeTensorsJSON.Value,
                                      fail: (SafeTensorsError.Problem) -> SafeTensorsError) throws(SafeTensorsError) -> [String: String] {
        switch value {
        case .null:
            return [:]
        case .object(let pairs):
            var metadata: [String: String] = [:]
            for (key, value) in pairs {
                guard case .string(let text) = value else { throw fail(.invalidMetadata("value of '\(key)' is not a string")) }
                metadata[key] = text
            }
            return metadata
        default:
            throw fail(.invalidMetadata("not a JSON object"))
        }
    }

    private static func parseEntry(name: String, _ value: SafeTensorsJSON.Value, headerIndex: Int, bufferSize: Int,
                                   fail: (SafeTensorsError.Problem) -> SafeTensorsError) throws(SafeTensorsError) -> Entry {
        func invalid(_ reason: String) -> SafeTensorsError { fail(.invalidEntry(name: name, problem: reason)) }
        func count(_ value: SafeTensorsJSON.Value) -> Int? {
            guard case .number(let text) = value, let count = Int(text), count >= 0 else { return nil }
            return count
        }
        func counts(_ key: String, in fields: [(key: String, value: SafeTensorsJSON.Value)]) throws(SafeTensorsError) -> [Int] {
            guard let field = fields.first(where: { $0.key == key }) else { throw invalid("missing \(key)") }
            guard case .array(let elements) = field.value else { throw invalid("\(key) is not an array") }
            var result: [Int] = []
            for element in elements {
                guard let number = count(element) else { throw invalid("\(key) holds something other than a non-negative integer") }
                result.append(number)
            }
            return result
        }

        guard case .object(let fields) = value else { throw invalid("entry is not a JSON object") }
        guard let dtypeField = fields.first(where: { $0.key == "dtype" }) else { throw invalid("missing dtype") }
        guard case .string(let dtypeName) = dtypeField.value else { throw invalid("dtype is not a string") }
        guard let type = ElementType(rawValue: dtypeName) else { throw fail(.unsupportedDtype(name: name, dtype: dtypeName)) }
        let shape = try counts("shape", in: fields)
        let offsets = try counts("data_offsets", in: fields)
        guard offsets.count == 2 else { throw invalid("data_offsets must hold 2 numbers, not \(offsets.count)") }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin <= end, end <= bufferSize else {
            throw fail(.offsetsOutOfRange(name: name, begin: begin, end: end, bufferSize: bufferSize))
        }
        var byteCount = type.byteCount
        for dimension in shape {
            let (product, overflow) = byteCount.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw invalid("shape \(shape) is too large") }
            byteCount = product
        }
        guard byteCount == end - begin else {
            throw fail(.sizeMismatch(name: name, expectedBytes: byteCount, actualBytes: end - begin))
        }
        return Entry(name: name, type: type, shape: shape, begin: begin, end: end, headerIndex: headerIndex)
    }

    private static func appendLittleEndian<T>(_ values: UnsafeBufferPointer<T>, to data: inout Data) {
        #if _endian(little)
        data.append(values)
        #else
        for value in values { withUnsafeBytes(of: value) { data.append(contentsOf: $0.reversed()) } }
        #endif
    }

    /// The little-endian elements of `raw` in native order; the file may leave them unaligned.
    private static func littleEndianArray<T>(_ raw: UnsafeRawBufferPointer, of type: T.Type) -> [T] {
        let count = raw.count / MemoryLayout<T>.size
        return [T](unsafeUninitializedCapacity: count) { destination, initialized in
            copyLittleEndian(raw, to: UnsafeMutableRawBufferPointer(destination), elementSize: MemoryLayout<T>.size)
            initialized = count
        }
    }

    /// Copies little-endian elements into native-order storage; the file may leave them unaligned.
    private static func copyLittleEndian(_ source: UnsafeRawBufferPointer, to destination: UnsafeMutableRawBufferPointer,
                                         elementSize: Int) {
        guard source.count > 0 else { return }
        destination.copyMemory(from: source)
        #if _endian(big)
        for start in stride(from: 0, to: source.count, by: elementSize) {
            destination[start..<(start + elementSize)].reverse()
        }
        #endif
    }
}
