/// A value of a parsed document with its path (`layers[2].weights[7]`, `inputs[0].shape`), read by type,
/// so that every refusal names the element at fault and says what was expected.
///
/// The one typed reader of JSON: the model file, the service's request bodies and the inference protocol
/// all read through it, so a wrong type is described in the same words wherever it is found.
public struct JSONField: Sendable {
    public let value: JSONValue
    /// Empty for the document itself.
    public let path: String

    public init(_ value: JSONValue, path: String = "") {
        self.value = value
        self.path = path
    }

    /// The path of member `key`.
    public func path(of key: String) -> String { path.isEmpty ? key : path + "." + key }

    /// The path of element `index`.
    public func path(of index: Int) -> String { "\(path)[\(index)]" }

    /// A wrong value here: `problem` is said after the path ("must be a string; got a number").
    public func error(_ problem: String) -> JSONFieldError { JSONFieldError(path: path, problem: problem) }

    /// The members, when this is an object.
    public func members() throws(JSONFieldError) -> [JSONMember] {
        guard case .object(let members) = value else { throw error("must be an object; got \(value.typeName)") }
        return members
    }

    /// A required member (the last one, when a key is repeated).
    public subscript(key: String) -> JSONField {
        get throws(JSONFieldError) {
            guard let member = try optional(key) else {
                throw JSONFieldError(path: path(of: key), problem: "is missing")
            }
            return member
        }
    }

    /// A member that may be left out; an error only when this is not an object.
    public func optional(_ key: String) throws(JSONFieldError) -> JSONField? {
        try members().last { $0.key == key }.map { JSONField($0.value, path: path(of: $0.key)) }
    }

    /// Refuses a member whose key is not in `known`, naming the keys that are.
    public func refuseUnknownKeys(_ known: [String]) throws(JSONFieldError) {
        if let unknown = try members().first(where: { !known.contains($0.key) }) {
            throw JSONFieldError(
                path: path(of: unknown.key),
                problem: "is not a known field; expected " + known.map { "\"\($0)\"" }.joined(separator: ", "))
        }
    }

    public func string() throws(JSONFieldError) -> String {
        guard case .string(let text) = value else { throw error("must be a string; got \(value.typeName)") }
        return text
    }

    public func bool() throws(JSONFieldError) -> Bool {
        guard case .bool(let flag) = value else { throw error("must be true or false; got \(value.typeName)") }
        return flag
    }

    /// A whole number from `minimum` to `maximum` (a Double holds every integer below 2^53 exactly).
    public func integer(minimum: Int = Int.min, maximum: Int = Int.max) throws(JSONFieldError) -> Int {
        guard let number = value.numberValue else { throw error("must be an integer; got \(value.typeName)") }
        guard number == number.rounded() else {
            throw error("must be an integer; got \(JSONValue.describe(number))")
        }
        guard abs(number) < 0x1p53 else { throw error("is too large; got \(JSONValue.describe(number))") }
        let integer = Int(number)
        guard integer >= minimum else { throw error("must be at least \(minimum); got \(integer)") }
        guard integer <= maximum else { throw error("must be at most \(maximum); got \(integer)") }
        return integer
    }

    public func integers(minimum: Int = Int.min, maximum: Int = Int.max) throws(JSONFieldError) -> [Int] {
        var result: [Int] = []
        for element in try array() { result.append(try element.integer(minimum: minimum, maximum: maximum)) }
        return result
    }

    /// The elements, each with its path.
    public func array() throws(JSONFieldError) -> [JSONField] {
        guard case .array(let elements) = value else { throw error("must be an array; got \(value.typeName)") }
        return elements.enumerated().map { JSONField($1, path: path(of: $0)) }
    }

    /// An array of exactly `count` numbers, as Floats; `meaning` says why that many ("one per input").
    public func floats(count: Int, meaning: String) throws(JSONFieldError) -> [Float] {
        guard case .array(let elements) = value else { throw error("must be an array; got \(value.typeName)") }
        guard elements.count == count else {
            throw error("has \(elements.count) numbers; expected \(count), \(meaning)")
        }
        var result: [Float] = []
        result.reserveCapacity(count)
        for (index, element) in elements.enumerated() {
            guard let number = element.numberValue else {
                throw JSONFieldError(path: path(of: index), problem: "must be a number; got \(element.typeName)")
            }
            result.append(Float(number))
        }
        return result
    }
}

/// A value of the wrong type or out of range, named by its path.
public struct JSONFieldError: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String
    /// What is wrong, in words that follow the path: "is missing", "must be a string; got a number".
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { path.isEmpty ? problem : "\(path) \(problem)" }
}
