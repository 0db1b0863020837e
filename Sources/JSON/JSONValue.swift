/// A parsed JSON document (RFC 8259).
///
/// DigitCore parses JSON itself rather than through `Codable` so that a refusal can name the exact
/// element at fault ("layer 2: weights row 7 has 24 numbers; expected 400") and so that NaN and
/// Infinity, which Python's `json` module writes although JSON has no such numbers, can be reported as
/// non-finite values instead of as a syntax error at some column.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    /// Written as digits. The parser never makes one (every parsed number is a `.number`): it is for
    /// documents built to be written, such as a class label or a tensor's shape.
    case integer(Int)
    /// Written as the shortest decimal that reads back as the same Float (a probability, a weight), which
    /// a Double could not do: `Float(0.1)` as a Double is 0.10000000149011612. Never made by the parser.
    case float(Float)
    case string(String)
    case array([JSONValue])
    /// Members in document order; a repeated key keeps its last value on lookup, as most parsers do.
    case object([JSONMember])

    /// The value of `key` when this is an object holding it.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.key == key })?.value
    }

    /// The number, whichever case holds it; `nil` for anything else.
    public var numberValue: Double? {
        switch self {
        case .number(let number): number
        case .integer(let integer): Double(integer)
        case .float(let float): Double(float)
        default: nil
        }
    }

    /// A number as a message shows it: `NaN`, `Infinity` and `-Infinity` by name (a request may carry them,
    /// and JSON would write them `null`), others as JSON writes them.
    public static func describe(_ number: Double) -> String {
        guard number.isFinite else { return number.isNaN ? "NaN" : number > 0 ? "Infinity" : "-Infinity" }
        return JSONWriter.number(number)
    }

    /// The JSON type's name, for messages such as "expected an array; got a string".
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number, .integer, .float: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// One `"key": value` member of a JSON object.
public struct JSONMember: Equatable, Sendable {
    public var key: String
    public var value: JSONValue

    public init(_ key: String, _ value: JSONValue) {
        self.key = key
        self.value = value
    }
}
