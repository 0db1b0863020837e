/// An incremental HTTP/1.1 request parser (RFC 9112): bytes in; a request, "need more", or an error out.
///
/// It never touches a socket, so it can be tested with any split of the input, and it gives the same
/// result however the bytes are split: it keeps its scanning position between calls instead of
/// rescanning. It is strict where leniency lets a request be read two ways (the root of request
/// smuggling): bare CR or LF, whitespace before a colon, folded lines, conflicting or repeated lengths and
/// transfer codings other than `chunked` are refused. After an error every call throws it again.
public struct HTTPRequestParser: Sendable {
    public let limits: HTTPParserLimits

    private var buffer: [UInt8] = []
    /// The first byte not yet consumed.
    private var position = 0
    /// While reading a head or trailers: how far lines have been checked, and where the current line starts.
    private var scanIndex = 0
    private var lineStart = 0
    private var state: State = .head
    /// The current request's line, parsed as soon as it ended.
    private var requestLine: (method: String, target: String, version: HTTPVersion)?
    /// The current request's head once parsed; kept after an error, for the error's answer.
    private var currentHead: HTTPRequestHead?
    private var body: [UInt8] = []

    private enum State: Sendable {
        case head
        case fixedBody(HTTPRequestHead, remaining: Int)
        case chunkSize(HTTPRequestHead)
        case chunkData(HTTPRequestHead, remaining: Int)
        case chunkDataEnd(HTTPRequestHead)
        case trailers(HTTPRequestHead)
        case failed(HTTPParserError)
    }

    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")
    /// The longest chunk-size line, extensions included, before it is refused.
    private static let maxChunkLineBytes = 4096

    public init(limits: HTTPParserLimits = HTTPParserLimits()) {
        self.limits = limits
    }

    /// Adds received bytes.
    public mutating func append(_ bytes: some Collection<UInt8>) {
        if position > 0 && (position == buffer.count || position >= 64 * 1024) {
            compact()
        }
        buffer.append(contentsOf: bytes)
    }

    /// Adds received bytes from a raw buffer.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        append(bytes.bindMemory(to: UInt8.self))
    }

    /// The head of the request whose body is being received, if any: the server answers
    /// `Expect: 100-continue` and checks limits from it.
    public var headAwaitingBody: HTTPRequestHead? {
        switch state {
        case .fixedBody(let head, _), .chunkSize(let head), .chunkData(let head, _), .chunkDataEnd(let head),
            .trailers(let head):
            head
        case .head, .failed: nil
        }
    }

    /// The current request's head as far as it is known, for answering an error in it (in its format,
    /// without a body for HEAD, in the access log): the whole head once parsed, even after an error in its
    /// framing or body; the request line alone (no fields) while the fields arrive or when they were
    /// refused; `nil` before a request line.
    public var headSoFar: HTTPRequestHead? {
        if let currentHead { return currentHead }
        guard let requestLine else { return nil }
        return HTTPRequestHead(
            method: requestLine.method, target: requestLine.target, version: requestLine.version, headers: [:])
    }

    /// Whether part of a request has arrived (so the header or body timeout applies, not the idle one).
    public var isInsideRequest: Bool {
        if case .head = state { return position < buffer.count }
        return true
    }

    /// The body bytes of the request being received that are known to be coming: its `Content-Length`, or
    /// the chunks received and announced so far. What the server reserves of its memory budget.
    public var announcedBodyBytes: Int {
        switch state {
        case .fixedBody(_, let remaining), .chunkData(_, let remaining): body.count + remaining
        case .chunkSize, .chunkDataEnd, .trailers: body.count
        case .head, .failed: 0
        }
    }

    /// Bytes received and not yet consumed by a returned request.
    public var bufferedByteCount: Int { buffer.count - position }

    /// The next complete request, or `nil` if more bytes are needed.
    public mutating func nextRequest() throws(HTTPParserError) -> HTTPRequest? {
        if case .failed(let error) = state { throw error }
        do {
            return try advance()
        } catch {
            state = .failed(error)
            throw error
        }
    }

    private mutating func compact() {
        buffer.removeSubrange(0..<position)
        scanIndex -= position
        lineStart -= position
        position = 0
    }

    private mutating func advance() throws(HTTPParserError) -> HTTPRequest? {
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .head:
                guard let head = try readHead() else { return nil }
                if let request = try startBody(of: head) { return request }
            case .fixedBody(let head, let remaining):
                let count = min(remaining, buffer.count - position)
                body.append(contentsOf: buffer[position..<position + count])
                position += count
                if count < remaining {
                    state = .fixedBody(head, remaining: remaining - count)
                    return nil
                }
                return finish(head)
            case .chunkSize(let head):
                guard let size = try readChunkSize() else { return nil }
                guard size <= limits.maxBodyBytes - body.count else { throw .bodyTooLarge(limit: limits.maxBodyBytes) }
                if size == 0 {
                    scanIndex = position
                    lineStart = position
                    state = .trailers(head)
                } else {
                    state = .chunkData(head, remaining: size)
                }
            case .chunkData(let head, let remaining):
                let count = min(remaining, buffer.count - position)
                body.append(contentsOf: buffer[position..<position + count])
                position += count
                if count < remaining {
                    state = .chunkData(head, remaining: remaining - count)
                    return nil
                }
                state = .chunkDataEnd(head)
            case .chunkDataEnd(let head):
                guard buffer.count - position >= 2 else {
                    if position < buffer.count && buffer[position] != Self.cr { throw .missingChunkTerminator }
                    return nil
                }
                guard buffer[position] == Self.cr, buffer[position + 1] == Self.lf else {
                    throw .missingChunkTerminator
                }
                position += 2
                state = .chunkSize(head)
            case .trailers(let head):
                guard let end = try findEmptyLine(skippingLeadingEmptyLines: false) else { return nil }
                // Trailer fields are checked like header fields and then dropped: nothing here uses them.
                let lines = splitLines(position..<end)
                _ = try parseFields(lines[...], sizeAlreadyUsed: 0)
                position = end
                return finish(head)
            }
        }
    }

    private mutating func finish(_ head: HTTPRequestHead) -> HTTPRequest {
        let request = HTTPRequest(head: head, body: body)
        body = []
        currentHead = nil
        state = .head
        scanIndex = position
        lineStart = position
        return request
    }

    // MARK: - Head

    /// Finds the end of the head (the byte after the empty line), checking every line ending on the way.
    /// Empty lines before the request line are skipped, as RFC 9112 §2.2 recommends.
    private mutating func findEmptyLine(skippingLeadingEmptyLines: Bool) throws(HTTPParserError) -> Int? {
        if scanIndex < position {
            scanIndex = position
            lineStart = position
        }
        var index = scanIndex
        defer { scanIndex = index }
        while index < buffer.count {
            // Checked byte by byte, before anything else about the byte: a head past the limit is refused
            // with the same error however the bytes arrive (found by the fuzzer).
            if index - position >= limits.maxHeaderBytes {
                // Still on the request line: it is the target that is too long (414, RFC 9112 §3).
                if skippingLeadingEmptyLines && lineStart == position {
                    throw .targetTooLong(limit: limits.maxHeaderBytes)
                }
                throw .headersTooLarge(limit: limits.maxHeaderBytes)
            }
            let byte = buffer[index]
            if byte == Self.cr {
                guard index + 1 < buffer.count else { break }
                guard buffer[index + 1] == Self.lf else { throw .bareCarriageReturn }
                index += 1
                continue
            }
            if byte == Self.lf {
                guard index > lineStart, buffer[index - 1] == Self.cr else { throw .bareLineFeed }
                let isEmptyLine = index - 1 == lineStart
                index += 1
                if isEmptyLine {
                    if skippingLeadingEmptyLines && lineStart == position {
                        position = index
                        lineStart = index
                        continue
                    }
                    return index
                }
                if skippingLeadingEmptyLines && lineStart == position {
                    // The request line is checked as soon as it ends, so that a line that is not one (an
                    // HTTP/0.9 `GET /`) is refused at once instead of waiting for headers that never come.
                    requestLine = try parseRequestLine(lineStart..<index - 2)
                }
                lineStart = index
                continue
            }
            index += 1
        }
        return nil
    }

    private mutating func readHead() throws(HTTPParserError) -> HTTPRequestHead? {
        guard let end = try findEmptyLine(skippingLeadingEmptyLines: true) else { return nil }
        let lines = splitLines(position..<end)
        position = end
        guard let line = lines.first else { throw .invalidRequestLine }
        let parsed: (method: String, target: String, version: HTTPVersion)
        if let requestLine {
            parsed = requestLine
        } else {
            parsed = try parseRequestLine(line)
        }
        let (method, target, version) = parsed
        requestLine = parsed
        let headers = try parseFields(lines.dropFirst(), sizeAlreadyUsed: 0)
        requestLine = nil
        let head = HTTPRequestHead(method: method, target: target, version: version, headers: headers)
        currentHead = head
        return head
    }

    /// The lines of a head, without their CRLF, up to (not including) the empty line.
    private func splitLines(_ range: Range<Int>) -> [Range<Int>] {
        var lines: [Range<Int>] = []
        var start = range.lowerBound
        var index = range.lowerBound
        while index < range.upperBound {
            if buffer[index] == Self.lf {
                if index - 1 > start { lines.append(start..<index - 1) }
                start = index + 1
            }
            index += 1
        }
        return lines
    }

    private func parseRequestLine(_ line: Range<Int>) throws(HTTPParserError) -> (String, String, HTTPVersion) {
        // `method SP target SP version`, exactly one space each: found by hand, not `split`, because this
        // runs for every request and a split allocates.
        guard let firstSpace = buffer[line].firstIndex(of: UInt8(ascii: " ")),
            let secondSpace = buffer[(firstSpace + 1)..<line.upperBound].firstIndex(of: UInt8(ascii: " ")),
            !buffer[(secondSpace + 1)..<line.upperBound].contains(UInt8(ascii: " "))
        else { throw .invalidRequestLine }
        let method = buffer[line.lowerBound..<firstSpace]
        let target = buffer[(firstSpace + 1)..<secondSpace]
        guard !method.isEmpty, !target.isEmpty else { throw .invalidRequestLine }
        guard method.allSatisfy(HTTPSyntax.isTokenCharacter) else { throw .invalidMethod }
        let version = try parseVersion(buffer[(secondSpace + 1)..<line.upperBound])
        guard HTTPSyntax.isValidTarget(target) else { throw .invalidTarget }
        // One of RFC 9112 §3.2's forms: origin (`/path?query`), absolute (`http://host/path`), authority
        // (CONNECT's `host:port`) or asterisk (`*`). Anything else (`x/v2/infer`, `http:/v2`) would be
        // routed as a path it does not spell.
        guard
            target.first == UInt8(ascii: "/") || target.elementsEqual("*".utf8)
                || method.elementsEqual("CONNECT".utf8) || HTTPSyntax.isAbsoluteForm(target)
        else { throw .invalidTarget }
        // The asterisk form is for OPTIONS alone (RFC 9112 §3.2.4).
        if target.elementsEqual("*".utf8) && !method.elementsEqual("OPTIONS".utf8) { throw .invalidTarget }
        return (String(decoding: method, as: UTF8.self), String(decoding: target, as: UTF8.self), version)
    }

    private func parseVersion(_ text: ArraySlice<UInt8>) throws(HTTPParserError) -> HTTPVersion {
        let start = text.startIndex
        guard text.count == 8, text.prefix(5).elementsEqual("HTTP/".utf8), text[start + 6] == UInt8(ascii: "."),
            let major = HTTPSyntax.digitValue(text[start + 5]), let minor = HTTPSyntax.digitValue(text[start + 7])
        else { throw .invalidVersion }
        guard major == 1 else { throw .unsupportedVersion("HTTP/\(major).\(minor)") }
        // A later 1.x minor version is understood as 1.1 (RFC 9110 §2.5).
        return minor == 0 ? .http1_0 : .http1_1
    }

    /// Parses header (or trailer) field lines.
    private func parseFields(
        _ lines: ArraySlice<Range<Int>>, sizeAlreadyUsed: Int
    ) throws(HTTPParserError) -> HTTPHeaders {
        guard lines.count <= limits.maxHeaderCount else { throw .tooManyHeaders(limit: limits.maxHeaderCount) }
        // One allocation for the fields, not one per doubling (three for a typical request's head).
        var headers = HTTPHeaders(capacity: lines.count)
        for line in lines {
            let first = buffer[line.lowerBound]
            if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { throw .obsoleteLineFolding }
            guard let colon = buffer[line].firstIndex(of: UInt8(ascii: ":")) else { throw .invalidHeaderName }
            let name = buffer[line.lowerBound..<colon]
            guard !name.isEmpty else { throw .invalidHeaderName }
            if let last = name.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
                throw .whitespaceBeforeColon
            }
            guard name.allSatisfy(HTTPSyntax.isTokenCharacter) else { throw .invalidHeaderName }
            var valueStart = colon + 1
            var valueEnd = line.upperBound
            while valueStart < valueEnd, HTTPSyntax.isWhitespace(buffer[valueStart]) { valueStart += 1 }
            while valueEnd > valueStart, HTTPSyntax.isWhitespace(buffer[valueEnd - 1]) { valueEnd -= 1 }
            let nameText = String(decoding: name, as: UTF8.self)
            guard buffer[valueStart..<valueEnd].allSatisfy(HTTPSyntax.isFieldValueCharacter) else {
                throw .invalidHeaderValue(name: nameText)
            }
            headers.add(name: nameText, value: String(decoding: buffer[valueStart..<valueEnd], as: UTF8.self))
        }
        return headers
    }

    // MARK: - Framing

    /// Decides how the body is framed (RFC 9112 §6.3) and returns the request at once when it has none.
    private mutating func startBody(of head: HTTPRequestHead) throws(HTTPParserError) -> HTTPRequest? {
        let hosts = head.headers.values(for: "Host")
        if hosts.count > 1 { throw .duplicateHost }
        if hosts.isEmpty && head.version == .http1_1 { throw .missingHost }
        if let host = hosts.first, !HTTPSyntax.isValidHost(host) { throw .invalidHost }

        let transferEncodings = head.headers.values(for: "Transfer-Encoding")
        let contentLengths = head.headers.values(for: "Content-Length")
        if !transferEncodings.isEmpty {
            if head.version == .http1_0 { throw .transferEncodingInHTTP10 }
            if !contentLengths.isEmpty { throw .conflictingFraming }
            let codings = head.headers.tokens(for: "Transfer-Encoding")
            guard codings == ["chunked"] else {
                throw .unsupportedTransferEncoding(transferEncodings.joined(separator: ", "))
            }
            state = .chunkSize(head)
            return nil
        }
        if contentLengths.count > 1 { throw .duplicateContentLength }
        guard let lengthText = contentLengths.first else { return finish(head) }
        guard !lengthText.isEmpty, lengthText.utf8.count <= 18, lengthText.utf8.allSatisfy(HTTPSyntax.isDigit),
            let length = Int(lengthText)
        else { throw .invalidContentLength }
        guard length <= limits.maxBodyBytes else { throw .bodyTooLarge(limit: limits.maxBodyBytes) }
        if length == 0 { return finish(head) }
        state = .fixedBody(head, remaining: length)
        return nil
    }

    /// Reads `chunk-size [chunk-ext] CRLF`, or returns `nil` when the line is incomplete.
    private mutating func readChunkSize() throws(HTTPParserError) -> Int? {
        var index = position
        var size = 0
        var digits = 0
        while index < buffer.count, let value = HTTPSyntax.hexValue(buffer[index]) {
            digits += 1
            // Sixteen hex digits overflow; any size that large is refused as too large anyway.
            guard digits <= 15 else { throw .invalidChunkSize }
            size = size << 4 | value
            index += 1
        }
        if index == buffer.count {
            guard index - position <= Self.maxChunkLineBytes else { throw .invalidChunkSize }
            return nil
        }
        guard digits > 0 else { throw .invalidChunkSize }
        let next = buffer[index]
        if next != Self.cr {
            // Only a chunk extension may follow the size: optional whitespace, then ';'.
            var probe = index
            while probe < buffer.count, HTTPSyntax.isWhitespace(buffer[probe]) { probe += 1 }
            guard probe == buffer.count || buffer[probe] == UInt8(ascii: ";") else { throw .invalidChunkSize }
        }
        while index < buffer.count, buffer[index] != Self.cr, buffer[index] != Self.lf {
            guard HTTPSyntax.isFieldValueCharacter(buffer[index]) else { throw .invalidChunkExtension }
            index += 1
        }
        guard index - position <= Self.maxChunkLineBytes else { throw .invalidChunkSize }
        guard index + 1 < buffer.count else {
            if index < buffer.count && buffer[index] == Self.lf { throw .bareLineFeed }
            return nil
        }
        guard buffer[index] == Self.cr else { throw .bareLineFeed }
        guard buffer[index + 1] == Self.lf else { throw .bareCarriageReturn }
        position = index + 2
        return size
    }
}

/// Character classes of RFC 9110 and RFC 3986.
enum HTTPSyntax {
    /// tchar: `!#$%&'*+-.^_`|~`, digits and letters.
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    /// field-vchar, SP and HTAB: visible ASCII and obs-text (0x80-0xFF), never a control character.
    static func isFieldValueCharacter(_ byte: UInt8) -> Bool {
        byte == 0x09 || (byte >= 0x20 && byte != 0x7F)
    }

    static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    static func digitValue(_ byte: UInt8) -> Int? { isDigit(byte) ? Int(byte - UInt8(ascii: "0")) : nil }

    static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// A request target: origin-form (`/path?query`), absolute-form (`http://host/path`), `*`, or an
    /// authority (`host:port`, for CONNECT), made only of the characters RFC 3986 allows, with every `%`
    /// starting a two-digit escape. Fragments (`#`) are never sent in a request.
    static func isValidTarget(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard let first = bytes.first else { return false }
        if bytes.count == 1 && first == UInt8(ascii: "*") { return true }
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex, hexValue(bytes[index + 1]) != nil, hexValue(bytes[index + 2]) != nil
                else { return false }
                index += 3
                continue
            }
            guard isURICharacter(byte) else { return false }
            index += 1
        }
        return true
    }

    /// `scheme "://" ...`, the scheme a letter then letters, digits, `+`, `-` or `.` (RFC 3986 §3.1).
    static func isAbsoluteForm(_ target: ArraySlice<UInt8>) -> Bool {
        guard let colon = target.firstIndex(of: UInt8(ascii: ":")), colon > target.startIndex,
            target[colon...].starts(with: "://".utf8)
        else { return false }
        let scheme = target[target.startIndex..<colon]
        guard let first = scheme.first, (first | 0x20) >= UInt8(ascii: "a"), (first | 0x20) <= UInt8(ascii: "z")
        else { return false }
        return scheme.allSatisfy { byte in
            let lower = byte | 0x20
            return (lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "z")) || isDigit(byte)
                || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
    }

    /// A `Host` value: `uri-host [ ":" port ]` (RFC 9112 §3.2, RFC 3986 §3.2.2), or empty. No userinfo
    /// (`user@host`), no path (`host/x`), no list (`a, b`, or `a,b`: a comma is legal in a reg-name but
    /// never in a real host, and two hosts in one field are how routing confusion starts).
    static func isValidHost(_ value: String) -> Bool {
        var value = value
        return value.withUTF8(isValidHost(bytes:))
    }

    private static func isValidHost(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !bytes.isEmpty else { return true }
        var hostEnd = bytes.endIndex
        if bytes[0] == UInt8(ascii: "[") {
            // IP-literal: hex digits, colons and dots (an IPv6 address, with an IPv4 tail allowed).
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")), close > 1,
                bytes[1..<close].allSatisfy({
                    hexValue($0) != nil || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".")
                })
            else { return false }
            hostEnd = close + 1
            guard hostEnd == bytes.endIndex || bytes[hostEnd] == UInt8(ascii: ":") else { return false }
        } else {
            if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) { hostEnd = colon }
            var index = 0
            while index < hostEnd {
                let byte = bytes[index]
                if byte == UInt8(ascii: "%") {
                    guard index + 2 < hostEnd, hexValue(bytes[index + 1]) != nil, hexValue(bytes[index + 2]) != nil
                    else { return false }
                    index += 3
                    continue
                }
                guard isRegNameCharacter(byte) else { return false }
                index += 1
            }
        }
        // port = *DIGIT, at most five of them.
        guard hostEnd < bytes.endIndex else { return true }
        let port = bytes[(hostEnd + 1)...]
        return port.count <= 5 && port.allSatisfy(isDigit)
    }

    /// unreserved and sub-delims, without the comma.
    private static func isRegNameCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"),
            UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ";"), UInt8(ascii: "="):
            true
        default:
            false
        }
    }

    /// unreserved, gen-delims except `#`, and sub-delims.
    static func isURICharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: ":"),
            UInt8(ascii: "/"), UInt8(ascii: "?"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "@"),
            UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
            UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
            UInt8(ascii: "="):
            true
        default:
            false
        }
    }
}
