/// Header fields in the order they arrived, with case-insensitive lookup by name.
///
/// A list, not a dictionary: order matters for repeated fields, and a dictionary would silently merge
/// the duplicate `Content-Length` or `Host` fields that the parser must see to refuse.
public struct HTTPHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var fields: [(name: String, value: String)]

    public init() {
        fields = []
    }

    /// No fields yet, with room for `capacity`.
    init(capacity: Int) {
        fields = []
        fields.reserveCapacity(capacity)
    }

    public init(_ fields: [(String, String)]) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    public var count: Int { fields.count }

    /// The first value of `name`, compared case-insensitively.
    public subscript(name: String) -> String? {
        fields.first { Self.namesMatch($0.name, name) }?.value
    }

    /// Every value of `name`, in order.
    public func values(for name: String) -> [String] {
        // One pass and no array at all when nothing matches: the parser asks three names of every request.
        var values: [String] = []
        for field in fields where Self.namesMatch(field.name, name) { values.append(field.value) }
        return values
    }

    /// The comma-separated elements of every `name` field, trimmed and lowercased
    /// (`Connection: keep-alive, Upgrade` gives `["keep-alive", "upgrade"]`).
    public func tokens(for name: String) -> [String] {
        values(for: name).flatMap { value in
            value.split(separator: ",").map { $0.trimmingHTTPWhitespace().lowercased() }.filter { !$0.isEmpty }
        }
    }

    public func contains(_ name: String) -> Bool {
        fields.contains { Self.namesMatch($0.name, name) }
    }

    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    /// Replaces every `name` field with one holding `value`.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        add(name: name, value: value)
    }

    public mutating func remove(name: String) {
        fields.removeAll { Self.namesMatch($0.name, name) }
    }

    /// ASCII case-insensitive comparison: header names are ASCII tokens. Most comparisons are between
    /// names of different lengths (the encoder checks every field against the six it owns), which the
    /// lengths decide at once; most matches have the same spelling, which plain equality decides next.
    static func namesMatch(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        if a == b { return true }
        return hasPrefixIgnoringCase(a, b)
    }

    /// Whether `text` begins with `prefix`, ASCII letters compared in either case (header names, and media
    /// types such as `image/`): no lower-cased copy is made, and no non-ASCII byte matches but itself.
    static func hasPrefixIgnoringCase(_ text: String, _ prefix: String) -> Bool {
        var text = text
        var prefix = prefix
        return text.withUTF8 { x in
            prefix.withUTF8 { y in
                guard x.count >= y.count else { return false }
                for index in 0..<y.count {
                    let (p, q) = (x[index], y[index])
                    if p == q { continue }
                    let lower = p | 0x20
                    guard lower == q | 0x20, lower >= UInt8(ascii: "a"), lower <= UInt8(ascii: "z") else {
                        return false
                    }
                }
                return true
            }
        }
    }
}
