import CLinux
import Glibc

/// A `multipart/form-data` body (RFC 7578, framed as RFC 2046 says): what `curl -F` and browser forms send.
///
/// The body is `--boundary` lines around parts, each a few header lines, a blank line and its content,
/// and `--boundary--` after the last. The parts are slices of the body: nothing is copied.
public struct MultipartFormData: Sendable {
    public struct Part: Sendable {
        /// The form field's name (`Content-Disposition: form-data; name="..."`).
        public let name: String
        /// The file's name, when the part is a file (`filename="..."`).
        public let filename: String?
        /// The part's `Content-Type`, when it has one.
        public let contentType: String?
        public let content: ArraySlice<UInt8>
    }

    public let parts: [Part]

    /// Header bytes per part at most: a part's headers are a line or two.
    public static let maxPartHeaderBytes = 8 * 1024

    /// The boundary a `Content-Type: multipart/form-data; boundary=...` declares; nil when the type is not
    /// multipart/form-data. An empty string means the type is, but its boundary is missing or invalid.
    public static func boundary(inContentType value: String) -> String? {
        guard String(value.prefix(while: { $0 != ";" })).trimmingHTTPWhitespace().lowercased() == "multipart/form-data"
        else { return nil }
        // RFC 2046: 1 to 70 characters.
        guard let boundary = parameter("boundary", in: value), (1...70).contains(boundary.utf8.count) else { return "" }
        return boundary
    }

    /// Splits `body` at `boundary`; at most `maxParts` parts. An error says what is wrong with the framing.
    public init(body: [UInt8], boundary: String, maxParts: Int) throws(MultipartError) {
        let delimiter = Array("--\(boundary)".utf8)
        // The first delimiter may open the body or follow a preamble line.
        guard var position = Self.find(delimiter, in: body, from: 0, atLineStart: true) else {
            throw MultipartError("the body holds no '--\(boundary)' line: it is not framed with its boundary")
        }
        var parts: [Part] = []
        while true {
            position += delimiter.count
            if body[position...].starts(with: Array("--".utf8)) { break }
            // Transport padding (spaces or tabs) may follow a delimiter, then its line ends.
            while position < body.count, body[position] == UInt8(ascii: " ") || body[position] == UInt8(ascii: "\t") {
                position += 1
            }
            guard body[position...].starts(with: [13, 10]) else {
                throw MultipartError(
                    position >= body.count
                        ? "the body ends after part \(parts.count) without the closing '--\(boundary)--'"
                        : "a boundary line holds more than the boundary (is the boundary also in a part's content?)")
            }
            position += 2
            guard parts.count < maxParts else {
                throw MultipartError("the body holds more than \(maxParts) parts", tooLarge: true)
            }
            guard let headersEnd = Self.find([13, 10, 13, 10], in: body, from: position - 2, atLineStart: false),
                headersEnd - position <= Self.maxPartHeaderBytes
            else {
                throw MultipartError("part \(parts.count + 1)'s headers do not end with a blank line")
            }
            let headers = try Self.headers(body[position..<max(position, headersEnd)], part: parts.count + 1)
            let contentStart = headersEnd + 4
            // From the blank line's CRLF: a part with no content may share it with the delimiter.
            guard let next = Self.find([13, 10] + delimiter, in: body, from: contentStart - 2, atLineStart: false)
            else {
                throw MultipartError(
                    "part \(parts.count + 1) is not closed: no '--\(boundary)' line follows it (the body is cut short?)"
                )
            }
            let disposition = headers["content-disposition"] ?? ""
            guard disposition.lowercased().hasPrefix("form-data"), let name = Self.parameter("name", in: disposition)
            else {
                throw MultipartError(
                    "part \(parts.count + 1) needs 'Content-Disposition: form-data; name=\"...\"' (curl -F 'name=@file' sends it)"
                )
            }
            parts.append(
                Part(
                    name: name, filename: Self.parameter("filename", in: disposition),
                    contentType: headers["content-type"], content: body[min(contentStart, next)..<next]))
            position = next + 2
        }
        guard !parts.isEmpty else { throw MultipartError("the body holds no part") }
        self.parts = parts
    }

    /// The header lines of one part, by lower-cased name.
    private static func headers(_ bytes: ArraySlice<UInt8>, part: Int) throws(MultipartError) -> [String: String] {
        var headers: [String: String] = [:]
        for line in bytes.split(separator: 10, omittingEmptySubsequences: true) {
            let text = String(decoding: line.last == 13 ? line.dropLast() : line, as: UTF8.self)
            guard let colon = text.firstIndex(of: ":") else {
                throw MultipartError("part \(part) has a header line without ':'")
            }
            headers[text[..<colon].lowercased()] = String(text[text.index(after: colon)...]).trimmingHTTPWhitespace()
        }
        return headers
    }

    /// A `name="value"` (or unquoted) parameter of a header value; backslash escapes in quotes kept as sent.
    static func parameter(_ name: String, in value: String) -> String? {
        for piece in value.split(separator: ";").dropFirst() {
            let pair = piece.split(separator: "=", maxSplits: 1).map { String($0).trimmingHTTPWhitespace() }
            guard pair.count == 2, pair[0].lowercased() == name else { continue }
            return pair[1].trimmingCharacters(equalTo: "\"")
        }
        return nil
    }

    /// The first index of `needle` in `body` at or after `start`; with `atLineStart`, only at the body's
    /// start or just after a CRLF. glibc's `memmem` (two-way search for long needles, a shift table on the
    /// last two bytes for short ones such as a boundary) rather than a comparison at every byte.
    private static func find(_ needle: [UInt8], in body: [UInt8], from start: Int, atLineStart: Bool) -> Int? {
        let start = max(start, 0)
        if atLineStart {
            if start == 0, body.starts(with: needle) { return 0 }
            return find([13, 10] + needle, in: body, from: start, atLineStart: false).map { $0 + 2 }
        }
        guard !needle.isEmpty, start < body.count else { return nil }
        return body.withUnsafeBytes { haystack in
            needle.withUnsafeBytes { pattern in
                memmem(haystack.baseAddress! + start, haystack.count - start, pattern.baseAddress!, pattern.count)
                    .map { haystack.baseAddress!.distance(to: UnsafeRawPointer($0)) }
            }
        }
    }
}

/// A multipart body whose framing is wrong, in words that say how.
public struct MultipartError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    /// Over a limit (413) rather than malformed (400).
    public let tooLarge: Bool

    init(_ description: String, tooLarge: Bool = false) {
        self.description = description
        self.tooLarge = tooLarge
    }
}
