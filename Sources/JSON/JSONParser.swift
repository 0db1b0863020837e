import Glibc

/// Why a document is not JSON, with the byte offset, line and column of the problem.
public struct JSONSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public let offset: Int
    public let line: Int
    public let column: Int
    /// The document broke one of the parser's size limits (``JSONParser/maxContainers``,
    /// ``JSONParser/maxValues``) rather than the grammar: too large, not malformed.
    public var exceedsLimit = false
    /// A number's magnitude is beyond a Double's: valid JSON, but a value no caller can use.
    public var numberOutOfRange = false

    public var description: String { "\(message) at line \(line), column \(column)" }
}

/// A strict RFC 8259 parser over UTF-8 bytes.
///
/// It refuses everything the RFC does (trailing commas, comments, single quotes, leading zeros, control
/// characters in strings, invalid UTF-8, text after the value), ignores a leading byte order mark as the
/// RFC allows, limits nesting so hostile input cannot exhaust the stack, and reads numbers with correct
/// rounding (``JSONNumber``).
public struct JSONParser {
    /// How deeply arrays and objects may nest.
    public static let maximumDepth = 512

    /// Whether the bare tokens `NaN`, `Infinity` and `-Infinity` (which Python's `json` writes) parse as
    /// numbers, so that a validator can reject them by name instead of as a syntax error.
    public var allowsNonFiniteTokens: Bool
    /// At most this many arrays and objects, and this many values of any kind, in one document. A parsed
    /// tree costs far more than its text (`[[0],[0],...]` about 25 bytes a byte), so a caller that knows
    /// what a legitimate document holds sets these, and the tree's memory stays in proportion to that,
    /// not to whatever a client sends. Default: no limit.
    public var maxContainers: Int
    public var maxValues: Int

    public init(allowsNonFiniteTokens: Bool = false, maxContainers: Int = .max, maxValues: Int = .max) {
        self.allowsNonFiniteTokens = allowsNonFiniteTokens
        self.maxContainers = maxContainers
        self.maxValues = maxValues
    }

    /// Parses one JSON document.
    public func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer throws(JSONSyntaxError) in
            var cursor = Cursor(
                bytes: buffer, allowsNonFiniteTokens: allowsNonFiniteTokens, containersLeft: maxContainers,
                valuesLeft: maxValues)
            // A UTF-8 byte order mark, which RFC 8259 §8.1 lets a parser ignore (Windows tools write one).
            if buffer.count >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF { cursor.index = 3 }
            cursor.skipWhitespace()
            let value = try cursor.parseValue(depth: 0)
            cursor.skipWhitespace()
            guard cursor.index == buffer.count else { throw cursor.error("unexpected text after the JSON value") }
            return value
        }
    }
}

private struct Cursor {
    let bytes: UnsafeBufferPointer<UInt8>
    let allowsNonFiniteTokens: Bool
    var index = 0
    var containersLeft: Int
    var valuesLeft: Int

    init(bytes: UnsafeBufferPointer<UInt8>, allowsNonFiniteTokens: Bool, containersLeft: Int, valuesLeft: Int) {
        self.bytes = bytes
        self.allowsNonFiniteTokens = allowsNonFiniteTokens
        self.containersLeft = containersLeft
        self.valuesLeft = valuesLeft
    }

    /// Counts one more value (and container), refusing the document once a limit is passed.
    mutating func count(container: Bool) throws(JSONSyntaxError) {
        valuesLeft -= 1
        if container { containersLeft -= 1 }
        guard valuesLeft >= 0, containersLeft >= 0 else {
            var failure = error(
                containersLeft < 0
                    ? "the document holds more arrays and objects than the parser was allowed"
                    : "the document holds more values than the parser was allowed")
            failure.exceedsLimit = true
            throw failure
        }
    }

    func error(_ message: String, at position: Int? = nil) -> JSONSyntaxError {
        let offset = min(position ?? index, bytes.count)
        var line = 1
        var lineStart = 0
        for position in 0..<offset where bytes[position] == UInt8(ascii: "\n") {
            line += 1
            lineStart = position + 1
        }
        return JSONSyntaxError(message: message, offset: offset, line: line, column: offset - lineStart + 1)
    }

    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        try count(container: current == UInt8(ascii: "[") || current == UInt8(ascii: "{"))
        guard let byte = current else { throw error("unexpected end of the document; expected a value") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "N") where allowsNonFiniteTokens: return try literal("NaN", .number(.nan))
        case UInt8(ascii: "I") where allowsNonFiniteTokens: return try literal("Infinity", .number(.infinity))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character '\(printable(byte))'; expected a value")
        }
    }

    mutating func literal(_ word: StaticString, _ value: JSONValue) throws(JSONSyntaxError) -> JSONValue {
        let length = word.utf8CodeUnitCount
        guard bytes.count - index >= length,
            memcmp(bytes.baseAddress! + index, word.utf8Start, length) == 0
        else { throw error("invalid literal; expected '\(word)'") }
        index += length
        return value
    }

    mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= JSONParser.maximumDepth else { throw error("arrays and objects nest too deeply") }
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return .array(elements)
            case nil: throw error("unexpected end of the document inside an array")
            case let byte?: throw error("unexpected character '\(printable(byte))' in an array; expected ',' or ']'")
            }
        }
    }

    mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= JSONParser.maximumDepth else { throw error("arrays and objects nest too deeply") }
        index += 1
        var members: [JSONMember] = []
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a quoted member name") }
            let key = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after a member name") }
            index += 1
            skipWhitespace()
            members.append(JSONMember(key, try parseValue(depth: depth)))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return .object(members)
            case nil: throw error("unexpected end of the document inside an object")
            case let byte?: throw error("unexpected character '\(printable(byte))' in an object; expected ',' or '}'")
            }
        }
    }

    mutating func parseString() throws(JSONSyntaxError) -> String {
        let start = index
        index += 1
        var scalars: [UInt8] = []
        var runStart = index
        while true {
            guard let byte = current else { throw error("unterminated string", at: start) }
            switch byte {
            case UInt8(ascii: "\""):
                scalars.append(contentsOf: bytes[runStart..<index])
                index += 1
                guard let string = String(validating: scalars, as: UTF8.self) else {
                    throw error("invalid UTF-8 in a string", at: start)
                }
                return string
            case UInt8(ascii: "\\"):
                scalars.append(contentsOf: bytes[runStart..<index])
                try parseEscape(into: &scalars)
                runStart = index
            case 0..<0x20:
                throw error("control character in a string; escape it")
            default:
                index += 1
            }
        }
    }

    mutating func parseEscape(into output: inout [UInt8]) throws(JSONSyntaxError) {
        index += 1
        guard let byte = current else { throw error("unterminated escape sequence") }
        index += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): output.append(byte)
        case UInt8(ascii: "b"): output.append(0x08)
        case UInt8(ascii: "f"): output.append(0x0C)
        case UInt8(ascii: "n"): output.append(0x0A)
        case UInt8(ascii: "r"): output.append(0x0D)
        case UInt8(ascii: "t"): output.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try parseHexQuad()
            if (0xD800..<0xDC00).contains(scalar) {
                guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"),
                    bytes[index + 1] == UInt8(ascii: "u")
                else { throw error("a high surrogate escape must be followed by a low surrogate escape") }
                index += 2
                let low = try parseHexQuad()
                guard (0xDC00..<0xE000).contains(low) else { throw error("invalid low surrogate escape") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                throw error("a low surrogate escape without a high surrogate")
            }
            output.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
        default:
            throw error("invalid escape sequence '\\\(printable(byte))'", at: index - 2)
        }
    }

    mutating func parseHexQuad() throws(JSONSyntaxError) -> UInt32 {
        guard bytes.count - index >= 4 else { throw error("a \\u escape needs four hexadecimal digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("a \\u escape needs four hexadecimal digits")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// Reads a number token (the grammar and conversion are ``JSONNumber``'s).
    mutating func parseNumber() throws(JSONSyntaxError) -> Double {
        if allowsNonFiniteTokens, bytes.count - index >= 2, bytes[index] == UInt8(ascii: "-"),
            bytes[index + 1] == UInt8(ascii: "I")
        {
            index += 1
            _ = try literal("Infinity", .null)
            return -.infinity
        }
        let start = index
        switch JSONNumber.scan(bytes, at: &index) {
        case .success(let value): return value
        case .failure(let problem):
            // A number too large is reported where it starts; a malformed one where the grammar broke.
            var failure = error(problem.message, at: problem == .outOfRange ? start : nil)
            failure.numberOutOfRange = problem == .outOfRange
            throw failure
        }
    }

    func printable(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "\\u{" + String(byte, radix: 16) + "}"
    }
}
