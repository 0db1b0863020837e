/// The header of a `.npy` file: a Python dict literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3600, 400), }`.
///
/// The parser accepts exactly the literal grammar NumPy writes (strings, `True`/`False`, tuples of
/// non-negative integers) and refuses anything else, because `np.load` itself refuses other keys and values.
struct NumPyHeader: Equatable {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]

    init(descr: String, fortranOrder: Bool, shape: [Int]) {
        self.descr = descr
        self.fortranOrder = fortranOrder
        self.shape = shape
    }

    /// Parses the dict literal.
    init(parsing text: [UInt8]) throws(NumPyError) {
        var parser = LiteralParser(bytes: text)
        let dictionary = try parser.parseDictionary()
        parser.skipWhitespace()
        guard parser.isAtEnd else { throw .malformedHeader("unexpected text after the closing brace") }

        let expected: Set<String> = ["descr", "fortran_order", "shape"]
        let unknown = Set(dictionary.keys).subtracting(expected)
        guard unknown.isEmpty else { throw .malformedHeader("unknown key(s) \(unknown.sorted())") }
        guard case .string(let descr)? = dictionary["descr"] else {
            throw .malformedHeader("'descr' must be a string such as '<f4'")
        }
        guard case .bool(let fortranOrder)? = dictionary["fortran_order"] else {
            throw .malformedHeader("'fortran_order' must be True or False")
        }
        guard case .tuple(let shape)? = dictionary["shape"] else {
            throw .malformedHeader("'shape' must be a tuple of integers")
        }
        self.init(descr: descr, fortranOrder: fortranOrder, shape: shape)
    }

    /// The dict literal as NumPy writes it.
    var text: String {
        "{'descr': '\(descr)', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': \(shapeText(shape)), }"
    }
}

/// A cursor over the header's bytes.
private struct LiteralParser {
    enum Value {
        case string(String)
        case bool(Bool)
        case tuple([Int])
    }

    let bytes: [UInt8]
    var index = 0

    var isAtEnd: Bool { index >= bytes.count }

    mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") {
            index += 1
        }
    }

    mutating func expect(_ character: Unicode.Scalar) throws(NumPyError) {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: character) else {
            throw .malformedHeader("expected '\(character)' at byte \(index)")
        }
        index += 1
    }

    mutating func consume(_ character: Unicode.Scalar) -> Bool {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: character) else { return false }
        index += 1
        return true
    }

    mutating func parseDictionary() throws(NumPyError) -> [String: Value] {
        try expect("{")
        var result: [String: Value] = [:]
        while !consume("}") {
            let key = try parseString()
            try expect(":")
            guard result[key] == nil else { throw .malformedHeader("key '\(key)' appears twice") }
            result[key] = try parseValue()
            if !consume(",") {
                try expect("}")
                break
            }
        }
        return result
    }

    mutating func parseValue() throws(NumPyError) -> Value {
        skipWhitespace()
        guard index < bytes.count else { throw .malformedHeader("the header ends inside a value") }
        switch bytes[index] {
        case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "("): return .tuple(try parseTuple())
        default:
            if matchWord("True") { return .bool(true) }
            if matchWord("False") { return .bool(false) }
            throw .malformedHeader("unexpected value at byte \(index)")
        }
    }

    mutating func matchWord(_ word: String) -> Bool {
        let wordBytes = Array(word.utf8)
        guard bytes.count - index >= wordBytes.count, Array(bytes[index..<index + wordBytes.count]) == wordBytes else {
            return false
        }
        index += wordBytes.count
        return true
    }

    mutating func parseString() throws(NumPyError) -> String {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "'") || bytes[index] == UInt8(ascii: "\"") else {
            throw .malformedHeader("expected a quoted string at byte \(index)")
        }
        let quote = bytes[index]
        index += 1
        let start = index
        while index < bytes.count, bytes[index] != quote {
            guard bytes[index] >= 0x20, bytes[index] < 0x7F, bytes[index] != UInt8(ascii: "\\") else {
                throw .malformedHeader("unexpected character in a string at byte \(index)")
            }
            index += 1
        }
        guard index < bytes.count else { throw .malformedHeader("unterminated string") }
        index += 1
        return String(decoding: bytes[start..<index - 1], as: UTF8.self)
    }

    mutating func parseTuple() throws(NumPyError) -> [Int] {
        try expect("(")
        var values: [Int] = []
        while !consume(")") {
            values.append(try parseInteger())
            if !consume(",") {
                try expect(")")
                break
            }
        }
        return values
    }

    mutating func parseInteger() throws(NumPyError) -> Int {
        skipWhitespace()
        var value = 0
        let start = index
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            let (timesTen, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = timesTen.addingReportingOverflow(Int(bytes[index] - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw .invalidShape("a dimension is too large") }
            value = sum
            index += 1
        }
        // NumPy writes Python ints, which may carry an `L` suffix in files written by Python 2.
        if index < bytes.count, bytes[index] == UInt8(ascii: "L"), index > start { index += 1 }
        guard index > start else { throw .invalidShape("expected a non-negative integer at byte \(start)") }
        return value
    }
}
