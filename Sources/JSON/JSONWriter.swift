/// The one JSON writer: every response body, every error body and the model file are written by it.
///
/// Compact for the wire; or indented, two spaces a level, with arrays of scalars kept on one line (a
/// 400-number row stays one line, so model files diff and read well). Numbers are written as they were
/// given: an `.integer` as digits, a `.float` as the shortest decimal that reads back as the same Float,
/// a `.number` as the shortest that reads back as the same Double (integral ones without a fraction).
/// JSON has no NaN or infinity: they are written `null`, never a trap, since a value that came from a
/// request (a pixel, a shape) may reach an error message.
///
/// Text is written straight into bytes (``write(_:into:pretty:)``): the request path appends a prediction
/// to a response body without building a string.
public enum JSONWriter {
    /// Compact text without spaces.
    public static func compact(_ value: JSONValue) -> String {
        String(decoding: bytes(value), as: UTF8.self)
    }

    /// Indented text, two spaces a level, starting at `level`.
    public static func pretty(_ value: JSONValue, level: Int = 0) -> String {
        var output: [UInt8] = []
        write(value, into: &output, pretty: true, level: level)
        return String(decoding: output, as: UTF8.self)
    }

    /// Compact UTF-8 bytes, as a response body.
    public static func bytes(_ value: JSONValue) -> [UInt8] {
        var output: [UInt8] = []
        write(value, into: &output)
        return output
    }

    /// Appends `value` to `output`.
    public static func write(_ value: JSONValue, into output: inout [UInt8], pretty: Bool = false, level: Int = 0) {
        switch value {
        case .null: output.appendText("null")
        case .bool(let flag): output.appendText(flag ? "true" : "false")
        case .number(let number): output.appendText(Self.number(number))
        case .integer(let integer): output.appendText(String(integer))
        case .float(let float): output.appendText(Self.number(float))
        case .string(let text): writeString(text, into: &output)
        case .array(let elements):
            let inline = !pretty || elements.allSatisfy(\.isScalar)
            writeContainer(
                elements, open: UInt8(ascii: "["), close: UInt8(ascii: "]"), inline: inline, pretty: pretty,
                level: level, into: &output
            ) {
                element, output in write(element, into: &output, pretty: pretty, level: level + 1)
            }
        case .object(let members):
            writeContainer(
                members, open: UInt8(ascii: "{"), close: UInt8(ascii: "}"), inline: !pretty, pretty: pretty,
                level: level, into: &output
            ) {
                member, output in
                writeString(member.key, into: &output)
                output.append(UInt8(ascii: ":"))
                if pretty { output.append(UInt8(ascii: " ")) }
                write(member.value, into: &output, pretty: pretty, level: level + 1)
            }
        }
    }

    /// A Float as the shortest decimal that reads back as the same Float (Swift's `description`), integral
    /// values without a fraction; `null` when not finite.
    public static func number(_ value: Float) -> String {
        guard value.isFinite else { return "null" }
        return integralText(Double(value)) ?? value.description
    }

    /// A Double as JSON: integers without a fraction, others as the shortest round-tripping decimal;
    /// `null` when not finite.
    public static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        return integralText(value) ?? value.description
    }

    private static func integralText(_ value: Double) -> String? {
        guard value == value.rounded(), abs(value) < 0x1p53 else { return nil }
        return value == 0 ? "0" : String(Int64(value))
    }

    /// The one JSON string escaper.
    public static func writeString(_ value: String, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        // Most strings (keys, names, messages) need no escape: checked over the bytes, then one copy.
        var text = value
        let plain = text.withUTF8 { bytes in
            for byte in bytes where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                return false
            }
            output.append(contentsOf: bytes)
            return true
        }
        if plain {
            output.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.appendText("\\\"")
            case UInt8(ascii: "\\"): output.appendText("\\\\")
            case UInt8(ascii: "\n"): output.appendText("\\n")
            case UInt8(ascii: "\r"): output.appendText("\\r")
            case UInt8(ascii: "\t"): output.appendText("\\t")
            case 0..<0x20:
                output.appendText("\\u00")
                output.append(byte >> 4 == 0 ? UInt8(ascii: "0") : UInt8(ascii: "1"))
                let low = byte & 0x0F
                output.append(low < 10 ? UInt8(ascii: "0") + low : UInt8(ascii: "a") + low - 10)
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }

    private static func writeContainer<Element>(
        _ items: [Element], open: UInt8, close: UInt8, inline: Bool, pretty: Bool, level: Int,
        into output: inout [UInt8], writeItem: (Element, inout [UInt8]) -> Void
    ) {
        output.append(open)
        guard !items.isEmpty else {
            output.append(close)
            return
        }
        let indent = inline ? "" : String(repeating: "  ", count: level + 1)
        for (index, item) in items.enumerated() {
            if index > 0 {
                output.append(UInt8(ascii: ","))
                if inline && pretty { output.append(UInt8(ascii: " ")) }
            }
            if !inline {
                output.append(UInt8(ascii: "\n"))
                output.appendText(indent)
            }
            writeItem(item, &output)
        }
        if !inline {
            output.append(UInt8(ascii: "\n"))
            output.appendText(String(repeating: "  ", count: level))
        }
        output.append(close)
    }
}

extension JSONValue {
    var isScalar: Bool {
        switch self {
        case .array, .object: false
        default: true
        }
    }
}

extension Array where Element == UInt8 {
    /// Appends `text`'s UTF-8 bytes as one copy. Why: `append(contentsOf: text.utf8)` goes through the
    /// generic sequence path, about 170 instructions per call; a response head and an access-log line
    /// make twenty such calls each per request.
    @inlinable
    public mutating func appendText(_ text: String) {
        // Native and small strings are contiguous: their bytes are copied without a copy of the string.
        if text.utf8.withContiguousStorageIfAvailable({ append(contentsOf: $0) }) != nil { return }
        var text = text
        text.withUTF8 { append(contentsOf: $0) }
    }
}
