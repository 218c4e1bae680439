import Foundation

/// The small, strict JSON reader and writer behind the safetensors header.
///
/// A hand-written parser rather than `JSONSerialization`: it keeps the order of object members
/// (so the file's own tensor order is visible), rejects duplicate keys, keeps numbers as their
/// literal text (so `1.0` or `1e3` is never taken for an offset), and bounds nesting depth so
/// a hostile header cannot exhaust the stack.
enum SafeTensorsJSON {
    indirect enum Value {
        case object([(key: String, value: Value)])
        case array([Value])
        case string(String)
        /// The literal text of the number, validated against the JSON grammar.
        case number(String)
        case bool(Bool)
        case null
    }

    struct ParseError: Error {
        var message: String
        var offset: Int
    }

    static let maximumDepth = 64

    static func parse(_ bytes: UnsafeRawBufferPointer) throws(ParseError) -> Value {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else {
            throw ParseError(message: "unexpected text after the JSON value", offset: parser.index)
        }
        return value
    }

    /// `text` as a JSON string literal, quotes included.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        private func fail(_ message: String) -> ParseError { ParseError(message: message, offset: index) }

        private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func parseValue(depth: Int) throws(ParseError) -> Value {
            guard depth < SafeTensorsJSON.maximumDepth else { throw fail("nesting deeper than \(SafeTensorsJSON.maximumDepth) levels") }
            guard let byte = current else { throw fail("unexpected end of JSON") }
            switch byte {
            case UInt8(ascii: "{"): return try parseObject(depth: depth)
            case UInt8(ascii: "["): return try parseArray(depth: depth)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
            case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
            case UInt8(ascii: "n"): try expectLiteral("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
            default: throw fail("unexpected character '\(Character(Unicode.Scalar(byte)))'")
            }
        }

        private mutating func expectLiteral(_ literal: String) throws(ParseError) {
            for expected in literal.utf8 {
                guard current == expected else { throw fail("invalid literal, expected '\(literal)'") }
                index += 1
            }
        }

        private mutating func parseObject(depth: Int) throws(ParseError) -> Value {
            index += 1
            var members: [(key: String, value: Value)] = []
            var seen = Set<String>()
            skipWhitespace()
            if current == UInt8(ascii: "}") { index += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try parseString()
                guard seen.insert(key).inserted else { throw fail("duplicate key \(SafeTensorsJSON.quoted(key))") }
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw fail("expected ':' after key") }
                index += 1
                skipWhitespace()
                members.append((key, try parseValue(depth: depth + 1)))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"): index += 1; return .object(members)
                default: throw fail("expected ',' or '}' in object")
                }
            }
        }

        private mutating func parseArray(depth: Int) throws(ParseError) -> Value {
            index += 1
            var elements: [Value] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") { index += 1; return .array(elements) }
            while true {
                skipWhitespace()
                elements.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"): index += 1; return .array(elements)
                default: throw fail("expected ',' or ']' in array")
                }
            }
        }

        private mutating func parseNumber() throws(ParseError) -> String {
            let start = index
            if current == UInt8(ascii: "-") { index += 1 }
            guard let first = current, isDigit(first) else { throw fail("invalid number") }
            index += 1
            if first != UInt8(ascii: "0") { skipDigits() }
            if current == UInt8(ascii: ".") {
                index += 1
                guard let digit = current, isDigit(digit) else { throw fail("invalid number") }
                skipDigits()
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard let digit = current, isDigit(digit) else { throw fail("invalid number") }
                skipDigits()
            }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        }

        private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        private mutating func skipDigits() {
            while let byte = current, isDigit(byte) { index += 1 }
        }

        private mutating func parseString() throws(ParseError) -> String {
            index += 1
            var utf8: [UInt8] = []
            while true {
                guard let byte = current else { throw fail("unterminated string") }
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    guard let text = String(bytes: utf8, encoding: .utf8) else { throw fail("string is not valid UTF-8") }
                    return text
                case UInt8(ascii: "\\"):
                    guard let escape = current else { throw fail("unterminated escape") }
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"): utf8.append(contentsOf: try parseUnicodeEscape())
                    default: throw fail("invalid escape sequence")
                    }
                case 0..<0x20:
                    throw fail("unescaped control character in string")
                default:
                    utf8.append(byte)
                }
            }
        }

        /// The UTF-8 bytes of a `\uXXXX` escape (the `\u` already consumed), joining surrogate pairs.
        private mutating func parseUnicodeEscape() throws(ParseError) -> [UInt8] {
            let high = try parseHex4()
            var value = high
            if (0xD800..<0xDC00).contains(high) {
                guard current == UInt8(ascii: "\\") else { throw fail("unpaired surrogate in \\u escape") }
                index += 1
                guard current == UInt8(ascii: "u") else { throw fail("unpaired surrogate in \\u escape") }
                index += 1
                let low = try parseHex4()
                guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate in \\u escape") }
                value = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let scalar = Unicode.Scalar(value) else { throw fail("invalid \\u escape") }
            return Array(String(Character(scalar)).utf8)
        }

        private mutating func parseHex4() throws(ParseError) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let byte = current, let digit = hexValue(byte) else { throw fail("invalid \\u escape") }
                value = value << 4 | digit
                index += 1
            }
            return value
        }

        private func hexValue(_ byte: UInt8) -> UInt32? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
            default: nil
            }
        }
    }
}
