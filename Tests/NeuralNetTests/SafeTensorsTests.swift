import FileFormats
import Foundation
import NeuralNet
import TensorEngine
import TestSupport
import XCTest

final class SafeTensorsTests: XCTestCase {
    // MARK: - Round trips

    func testFloat32RoundTripKeepsValuesShapeAndOrder() throws {
        let weight = Tensor(shape: [2, 3], scalars: [1.5, -2, 0, .greatestFiniteMagnitude, -.leastNonzeroMagnitude, 7])
        let bias = Tensor(shape: [3], scalars: [0.1, 0.2, 0.3])
        let data = try SafeTensors.encode([("z.weight", weight), ("a.bias", bias)])
        let file = try SafeTensors.decode(data, source: "test")
        XCTAssertEqual(file.tensors.map(\.name), ["z.weight", "a.bias"])
        XCTAssertEqual(file.tensors[0].tensor.shape, [2, 3])
        XCTAssertEqual(file.tensors[0].tensor.dtype, .float32)
        XCTAssertEqual(file.tensors[0].tensor.scalars, weight.scalars)
        XCTAssertEqual(file.tensor(named: "a.bias")?.scalars, bias.scalars)
        XCTAssertTrue(file.integerTensors.isEmpty)
        XCTAssertEqual(file.metadata, [:])
    }

    func testFloat64RoundTripIsBitExact() throws {
        let values = [Double.pi, -0.0, 1e-300, .infinity, .nan]
        let data = try SafeTensors.encode([("x", Tensor(shape: [5], doubles: values))])
        let tensor = try XCTUnwrap(SafeTensors.decode(data, source: "test").tensor(named: "x"))
        XCTAssertEqual(tensor.dtype, .float64)
        XCTAssertEqual(tensor.doubles.map(\.bitPattern), values.map(\.bitPattern))
    }

    func testMetadataRoundTripWithCharactersThatNeedEscaping() throws {
        let metadata = ["note": "quote \" backslash \\ newline \n tab \t bell \u{7} é 🙂", "step": "12"]
        let data = try SafeTensors.encode([], metadata: metadata)
        XCTAssertEqual(try SafeTensors.decode(data, source: "test").metadata, metadata)
    }

    func testEmptyFileRoundTrip() throws {
        let data = try SafeTensors.encode([])
        XCTAssertEqual(data.count, 16, "8-byte length + '{}' padded to 8")
        let file = try SafeTensors.decode(data, source: "test")
        XCTAssertTrue(file.tensors.isEmpty)
        XCTAssertTrue(file.integerTensors.isEmpty)
    }

    func testRankZeroAndZeroSizeTensors() throws {
        let data = try SafeTensors.encode([("lr", Tensor(0.25)), ("none", Tensor.zeros([0, 3])), ("m", Tensor(0.9, dtype: .float64))])
        let file = try SafeTensors.decode(data, source: "test")
        XCTAssertEqual(file.tensors.map(\.name), ["lr", "none", "m"])
        XCTAssertEqual(file.tensors[0].tensor.shape, [])
        XCTAssertEqual(file.tensors[0].tensor.scalars, [0.25])
        XCTAssertEqual(file.tensors[1].tensor.shape, [0, 3])
        XCTAssertEqual(file.tensors[2].tensor.doubles, [0.9])
    }

    func testIntegerTensorsRoundTripBesideFloats() throws {
        let images = Tensor(shape: [2, 1, 2, 2], scalars: [0, 1, 2, 3, 4, 5, 6, 7])
        let labels: [Int32] = [7, -1]
        let url = try temporaryFile("export.safetensors")
        try SafeTensors.write([("images", images), ("lr", Tensor(0.02))],
                              integerTensors: [("labels", [2], labels)], metadata: ["kind": "sample"], to: url)
        let file = try SafeTensors.read(from: url)
        XCTAssertEqual(file.tensors.map(\.name), ["images", "lr"])
        XCTAssertEqual(file.integerTensors.map(\.name), ["labels"])
        XCTAssertEqual(file.integerTensor(named: "labels")?.shape, [2])
        XCTAssertEqual(file.integerTensor(named: "labels")?.values, labels)
        XCTAssertEqual(file.metadata, ["kind": "sample"])
    }

    func testLayoutFollowsTheSpec() throws {
        let data = try SafeTensors.encode([("a", Tensor(shape: [2], scalars: [1, 2]))], integerTensors: [("b", [1], [5])])
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual((8 + headerLength) % 8, 0, "data buffer must start 8-byte aligned")
        let header = try XCTUnwrap(String(data: data.subdata(in: 8..<(8 + headerLength)), encoding: .utf8))
        XCTAssertEqual(header.trimmingCharacters(in: .whitespaces),
                       #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}}"#)
        XCTAssertEqual(Array(data.suffix(12)), [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40, 5, 0, 0, 0])
    }

    /// Bytes written by the official Python package: `safetensors.numpy.save({"weight": float32
    /// [[1.5, -2], [0.25, 3]], "labels": int64 [3, 0, 9], "scale": float64 0.5}, metadata={"format": "np"})`.
    func testReadsFileWrittenByOfficialImplementation() throws {
        let hex = "d8000000000000007b225f5f6d657461646174615f5f223a7b22666f726d6174223a226e70227d2c226c6162656c73223a7b"
            + "226474797065223a22493634222c227368617065223a5b335d2c22646174615f6f666673657473223a5b302c32345d7d2c22"
            + "7363616c65223a7b226474797065223a22463634222c227368617065223a5b5d2c22646174615f6f666673657473223a5b32"
            + "342c33325d7d2c22776569676874223a7b226474797065223a22463332222c227368617065223a5b322c325d2c2264617461"
            + "5f6f666673657473223a5b33322c34385d7d7d20202020200300000000000000000000000000000009000000000000000000"
            + "00000000e03f0000c03f000000c00000803e00004040"
        let file = try SafeTensors.decode(bytes(hex: hex), source: "python")
        XCTAssertEqual(file.metadata, ["format": "np"])
        XCTAssertEqual(file.tensors.map(\.name), ["scale", "weight"])
        XCTAssertEqual(file.tensor(named: "scale")?.doubles, [0.5])
        XCTAssertEqual(file.tensor(named: "scale")?.shape, [])
        XCTAssertEqual(file.tensor(named: "weight")?.shape, [2, 2])
        XCTAssertEqual(file.tensor(named: "weight")?.scalars, [1.5, -2, 0.25, 3])
        XCTAssertEqual(file.integerTensor(named: "labels")?.values, [3, 0, 9])
    }

    /// The same bytes as `safetensors.numpy.save({"z": float32 zeros (0, 3), "lr": float32 0.25},
    /// metadata={"k": "v"})`, which orders tensors by dtype, then name.
    func testWritesSameBytesAsOfficialImplementation() throws {
        let hex = "88000000000000007b225f5f6d657461646174615f5f223a7b226b223a2276227d2c226c72223a7b226474797065223a2246"
            + "3332222c227368617065223a5b5d2c22646174615f6f666673657473223a5b302c345d7d2c227a223a7b226474797065223a"
            + "22463332222c227368617065223a5b302c335d2c22646174615f6f666673657473223a5b342c345d7d7d20200000803e"
        let data = try SafeTensors.encode([("lr", Tensor(0.25)), ("z", Tensor.zeros([0, 3]))], metadata: ["k": "v"])
        XCTAssertEqual(data, bytes(hex: hex))
    }

    func testReadOrdersTensorsByOffsetNotHeaderOrder() throws {
        let data = raw(#"{"second":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"first":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                       buffer: floatBytes([1, 2]))
        let file = try SafeTensors.decode(data, source: "test")
        XCTAssertEqual(file.tensors.map(\.name), ["first", "second"])
        XCTAssertEqual(file.tensors.map(\.tensor.scalars), [[1], [2]])
    }

    func testReadsEscapedNamesAndNullMetadata() throws {
        let data = raw(#"{"__metadata__":null, "caf\u00e9 \ud83d\ude42\n":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}"#,
                       buffer: floatBytes([3]))
        let file = try SafeTensors.decode(data, source: "test")
        XCTAssertEqual(file.tensors.first?.name, "café 🙂\n")
        XCTAssertEqual(file.metadata, [:])
    }

    func testReadsI64AndUnalignedData() throws {
        // A 5-byte header leaves the buffer unaligned, which the spec does not forbid.
        let values: [Int64] = [-3, 2_147_483_647]
        let header = #"{"l":{"dtype":"I64","shape":[2,1],"data_offsets":[0,16]}}"#
        let buffer = values.flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } }
        let file = try SafeTensors.decode(raw(header, buffer: buffer, pad: false), source: "test")
        XCTAssertEqual(file.integerTensor(named: "l")?.shape, [2, 1])
        XCTAssertEqual(file.integerTensor(named: "l")?.values, [-3, 2_147_483_647])
    }

    // MARK: - Rejected input

    func testRejectsFileShorterThanLengthField() {
        expect(.tooShort(byteCount: 3), decoding: Data([1, 2, 3]))
    }

    func testRejectsHeaderLengthBeyondFile() {
        expect(.headerBeyondFile(headerLength: 100, available: 2), decoding: raw("{}", buffer: [], pad: false, length: 100))
    }

    func testRejectsHugeHeaderLength() {
        expect(.headerTooLarge(headerLength: 1 << 40), decoding: raw("{}", buffer: [], length: 1 << 40))
    }

    func testRejectsHeaderThatIsNotJSON() {
        for header in [#"{"a": "#, "not json", #"{"a":1,"a":2}"#, #"{} x"#, "{\"a\u{1}\":1}", #"{"a":[1,]}"#, #"{"a":01}"#,
                       #"{"a\x":1}"#, #"{"a\ud800":1}"#] {
            XCTAssertThrowsError(try SafeTensors.decode(raw(header, buffer: []), source: "f.safetensors"), header) { error in
                guard case .invalidJSON = (error as? SafeTensorsError)?.problem else { return XCTFail("\(header): \(error)") }
            }
        }
    }

    func testRejectsHeaderThatIsNotUTF8() {
        var data = raw(#"{"ab":1}"#, buffer: [])
        data[10] = 0xFF
        XCTAssertThrowsError(try SafeTensors.decode(data, source: "f")) { error in
            XCTAssertEqual(error as? SafeTensorsError,
                           SafeTensorsError(source: "f", problem: .invalidJSON("string is not valid UTF-8 at header byte 5")))
        }
    }

    func testRejectsNestingBeyondLimit() {
        let header = #"{"a":"# + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}"
        XCTAssertThrowsError(try SafeTensors.decode(raw(header, buffer: []), source: "f")) { error in
            XCTAssertTrue("\(error)".contains("nesting"), "\(error)")
        }
    }

    func testRejectsHeaderThatIsNotAnObject() {
        expect(.headerNotObject, decoding: raw("[1, 2]", buffer: []))
    }

    func testRejectsInvalidMetadata() {
        expect(.invalidMetadata("value of 'k' is not a string"), decoding: raw(#"{"__metadata__":{"k":1}}"#, buffer: []))
        expect(.invalidMetadata("not a JSON object"), decoding: raw(#"{"__metadata__":["k"]}"#, buffer: []))
    }

    func testRejectsMissingOrInvalidFields() {
        let cases: [(String, String)] = [
            (#""t""#, "entry is not a JSON object"),
            (#"{"shape":[1],"data_offsets":[0,4]}"#, "missing dtype"),
            (#"{"dtype":5,"shape":[1],"data_offsets":[0,4]}"#, "dtype is not a string"),
            (#"{"dtype":"F32","data_offsets":[0,4]}"#, "missing shape"),
            (#"{"dtype":"F32","shape":1,"data_offsets":[0,4]}"#, "shape is not an array"),
            (#"{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}"#, "shape holds something other than a non-negative integer"),
            (#"{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}"#, "shape holds something other than a non-negative integer"),
            (#"{"dtype":"F32","shape":[1]}"#, "missing data_offsets"),
            (#"{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}"#, "data_offsets holds something other than a non-negative integer"),
            (#"{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}"#, "data_offsets must hold 2 numbers, not 3"),
            (#"{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}"#, "shape [4611686018427387904, 4] is too large"),
        ]
        for (entry, reason) in cases {
            expect(.invalidEntry(name: "t", problem: reason), decoding: raw(#"{"t":"# + entry + "}", buffer: floatBytes([1])))
        }
    }

    func testRejectsUnsupportedDtype() {
        expect(.unsupportedDtype(name: "h", dtype: "F16"),
               decoding: raw(#"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, buffer: floatBytes([1])))
    }

    func testRejectsOffsetsOutsideBuffer() {
        expect(.offsetsOutOfRange(name: "t", begin: 0, end: 8, bufferSize: 4),
               decoding: raw(#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, buffer: floatBytes([1])))
        expect(.offsetsOutOfRange(name: "t", begin: 4, end: 0, bufferSize: 4),
               decoding: raw(#"{"t":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#, buffer: floatBytes([1])))
    }

    func testRejectsOffsetsThatDisagreeWithShape() {
        expect(.sizeMismatch(name: "t", expectedBytes: 8, actualBytes: 4),
               decoding: raw(#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, buffer: floatBytes([1])))
    }

    func testRejectsOverlappingTensors() {
        let header = #"{"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        expect(.overlapping("a", "b"), decoding: raw(header, buffer: floatBytes([1, 2, 3])))
    }

    func testRejectsBytesThatBelongToNoTensor() {
        let gap = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        expect(.unindexedBytes(4..<8), decoding: raw(gap, buffer: floatBytes([1, 2, 3])))
        let trailing = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        expect(.unindexedBytes(4..<8), decoding: raw(trailing, buffer: floatBytes([1, 2])))
        let leading = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        expect(.unindexedBytes(0..<4), decoding: raw(leading, buffer: floatBytes([1, 2])))
    }

    func testRejectsI64ValuesBeyond32Bits() {
        let buffer = withUnsafeBytes(of: Int64(1 << 40).littleEndian) { Array($0) }
        expect(.integerOutOfRange(name: "l"), decoding: raw(#"{"l":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, buffer: buffer))
    }

    func testErrorDescriptionNamesFileAndProblem() throws {
        let url = try temporaryFile("broken.safetensors")
        try Data([1, 2]).write(to: url)
        XCTAssertThrowsError(try SafeTensors.read(from: url)) { error in
            XCTAssertEqual("\(error)", "\(url.path): file is 2 bytes long, too short for the 8-byte header length")
        }
    }

    func testReadingMissingFileNamesIt() throws {
        let url = try temporaryFile("missing.safetensors")
        XCTAssertThrowsError(try SafeTensors.read(from: url)) { error in
            guard case .unreadable = (error as? SafeTensorsError)?.problem else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".hasPrefix(url.path + ": cannot read file"), "\(error)")
        }
    }

    func testWritingRejectsBadNamesAndCountsWithoutTouchingFile() throws {
        let url = try temporaryFile("keep.safetensors")
        try Data("old".utf8).write(to: url)
        let one = Tensor(1)
        let attempts: [(SafeTensorsError.Problem, () throws -> Void)] = [
            (.duplicateName("x"), { try SafeTensors.write([("x", one)], integerTensors: [("x", [1], [1])], to: url) }),
            (.reservedName, { try SafeTensors.write([("__metadata__", one)], to: url) }),
            (.valueCountMismatch(name: "l", shape: [3], count: 2), { try SafeTensors.write([], integerTensors: [("l", [3], [1, 2])], to: url) }),
            (.valueCountMismatch(name: "l", shape: [-1], count: 0), { try SafeTensors.write([], integerTensors: [("l", [-1], [])], to: url) }),
        ]
        for (problem, attempt) in attempts {
            XCTAssertThrowsError(try attempt()) { error in
                XCTAssertEqual(error as? SafeTensorsError, SafeTensorsError(source: url.path, problem: problem))
            }
        }
        XCTAssertEqual(try Data(contentsOf: url), Data("old".utf8))
    }

    // MARK: - Helpers

    private func expect(_ problem: SafeTensorsError.Problem, decoding data: Data,
                        file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors.decode(data, source: "f.safetensors"), file: file, line: line) { error in
            XCTAssertEqual(error as? SafeTensorsError, SafeTensorsError(source: "f.safetensors", problem: problem),
                           file: file, line: line)
            XCTAssertTrue("\(error)".hasPrefix("f.safetensors: "), "\(error)", file: file, line: line)
        }
    }

    /// A file assembled by hand: length field (the header's own unless `length` is given),
    /// header (space-padded to 8 bytes unless `pad` is false), buffer.
    private func raw(_ header: String, buffer: [UInt8], pad: Bool = true, length: UInt64? = nil) -> Data {
        var headerBytes = Array(header.utf8)
        if pad { headerBytes += Array(repeating: UInt8(ascii: " "), count: (8 - headerBytes.count % 8) % 8) }
        var data = Data()
        withUnsafeBytes(of: (length ?? UInt64(headerBytes.count)).littleEndian) { data.append(contentsOf: $0) }
        return data + headerBytes + buffer
    }

    private func floatBytes(_ values: [Float]) -> [UInt8] {
        values.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
    }

    private func bytes(hex: String) -> Data {
        let digits = Array(hex.utf8)
        return Data(stride(from: 0, to: digits.count, by: 2).map { index in
            UInt8(String(decoding: digits[index..<(index + 2)], as: UTF8.self), radix: 16) ?? 0
        })
    }

    private func temporaryFile(_ name: String) throws -> URL {
        try temporaryDirectory().appendingPathComponent(name)
    }
}
