extension Array where Element == UInt8 {
    /// Appends `text`'s UTF-8 bytes as one copy. Why: `append(contentsOf: text.utf8)` goes through the
    /// generic sequence path, about 170 instructions per call; a response head and an access-log line
    /// make twenty such calls each per request.
    mutating func appendUTF8(_ text: String) {
        var text = text
        text.withUTF8 { append(contentsOf: $0) }
    }
}
