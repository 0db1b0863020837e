/// Renders JSON text: compact for the wire, or indented with arrays of scalars kept on one line
/// (a 400-number row stays one line, so model files diff and read well).
public enum JSONWriter {
    /// Compact text without spaces.
    public static func compact(_ value: JSONValue) -> String {
        render(value, pretty: false, indent: 0)
    }

    /// Indented text, two spaces a level, starting at `level`.
    public static func pretty(_ value: JSONValue, level: Int = 0) -> String {
        render(value, pretty: true, indent: level)
    }

    /// A Float as the shortest decimal that reads back as the same Float (Swift's `description`).
    /// JSON has no NaN or infinity: they are written `null`, never a trap, since a value that came from a
    /// request (a pixel, a shape) may reach an error message.
    public static func number(_ value: Float) -> String {
        guard value.isFinite else { return "null" }
        return integralText(Double(value)) ?? value.description
    }

    /// A Double as JSON: integers without a fraction, others as the shortest round-tripping decimal;
    /// `null` for NaN and infinities, as for Float.
    public static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        return integralText(value) ?? value.description
    }

    private static func integralText(_ value: Double) -> String? {
        guard value == value.rounded(), abs(value) < 0x1p53 else { return nil }
        return value == 0 ? "0" : String(Int64(value))
    }

    /// A string literal with the escapes RFC 8259 requires.
    public static func string(_ value: String) -> String {
        var output = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "\u{00}"..<"\u{20}":
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output + "\""
    }

    private static func render(_ value: JSONValue, pretty: Bool, indent: Int) -> String {
        switch value {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .number(let number): return Self.number(number)
        case .string(let text): return string(text)
        case .array(let elements):
            let items = elements.map { render($0, pretty: pretty, indent: indent + 1) }
            return container(
                items, open: "[", close: "]", inline: !pretty || elements.allSatisfy(\.isScalar), pretty: pretty,
                indent: indent)
        case .object(let members):
            let items = members.map {
                string($0.key) + (pretty ? ": " : ":") + render($0.value, pretty: pretty, indent: indent + 1)
            }
            return container(items, open: "{", close: "}", inline: !pretty, pretty: pretty, indent: indent)
        }
    }

    private static func container(
        _ items: [String], open: String, close: String, inline: Bool, pretty: Bool, indent: Int
    ) -> String {
        guard !items.isEmpty else { return open + close }
        if inline { return open + items.joined(separator: pretty ? ", " : ",") + close }
        let inner = "\n" + String(repeating: "  ", count: indent + 1)
        return open + inner + items.joined(separator: "," + inner) + "\n" + String(repeating: "  ", count: indent)
            + close
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
