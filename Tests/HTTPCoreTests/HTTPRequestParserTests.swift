import Testing

@testable import HTTPCore

/// One table row: raw bytes and what the parser must make of them.
struct ParserCase: CustomTestStringConvertible, Sendable {
    enum Outcome: Equatable, Sendable {
        /// These requests (method, target, body), then "need more" with nothing left over.
        case requests([Expected])
        /// These requests, then this error.
        case error(HTTPParserError, after: [Expected] = [])
        /// Not complete yet: "need more" after these requests.
        case incomplete([Expected] = [])
    }

    struct Expected: Equatable, Sendable {
        var method: String
        var target: String
        var body: String = ""
        var version: HTTPVersion = .http1_1
    }

    let name: String
    let raw: String
    let outcome: Outcome
    var limits = HTTPParserLimits(maxHeaderBytes: 256, maxHeaderCount: 8, maxBodyBytes: 64)

    var testDescription: String { name }
}

/// Feeds `bytes` in the given pieces and collects what comes out.
func run(_ bytes: [UInt8], pieces: [Int], limits: HTTPParserLimits) -> ParserCase.Outcome {
    var parser = HTTPRequestParser(limits: limits)
    var requests: [ParserCase.Expected] = []
    var offset = 0
    for size in pieces {
        parser.append(bytes[offset..<offset + size])
        offset += size
        do {
            while let request = try parser.nextRequest() {
                requests.append(
                    .init(
                        method: request.method, target: request.head.target,
                        body: String(decoding: request.body, as: UTF8.self), version: request.head.version))
            }
        } catch {
            return .error(error, after: requests)
        }
    }
    return parser.isInsideRequest ? .incomplete(requests) : .requests(requests)
}

@Suite("HTTP request parser")
struct HTTPRequestParserTests {
    static let get = ParserCase.Expected(method: "GET", target: "/")

    static let cases: [ParserCase] = [
        // Accepted.
        .init(name: "simple GET", raw: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", outcome: .requests([get])),
        .init(
            name: "HTTP/1.0 without Host", raw: "GET /x HTTP/1.0\r\n\r\n",
            outcome: .requests([.init(method: "GET", target: "/x", version: .http1_0)])),
        .init(name: "HTTP/1.2 is read as 1.1", raw: "GET / HTTP/1.2\r\nHost: a\r\n\r\n", outcome: .requests([get])),
        .init(
            name: "Content-Length body", raw: "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
            outcome: .requests([.init(method: "POST", target: "/p", body: "hello")])),
        .init(
            name: "Content-Length 0", raw: "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            outcome: .requests([.init(method: "POST", target: "/p")])),
        .init(
            name: "chunked body with extension and trailers",
            raw:
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\nA\r\n, world!!!\r\n0\r\nTrailer-Field: x\r\n\r\n",
            outcome: .requests([.init(method: "POST", target: "/p", body: "hello, world!!!")])),
        .init(
            name: "chunked, case-insensitive coding",
            raw: "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            outcome: .requests([.init(method: "POST", target: "/p", body: "abc")])),
        .init(
            name: "pipelined requests",
            raw:
                "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /3 HTTP/1.1\r\nHost: a\r\n\r\n",
            outcome: .requests([
                .init(method: "GET", target: "/1"), .init(method: "POST", target: "/2", body: "hi"),
                .init(method: "GET", target: "/3"),
            ])),
        .init(
            name: "leading empty lines are skipped", raw: "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            outcome: .requests([get])),
        .init(
            name: "header value whitespace is trimmed", raw: "GET / HTTP/1.1\r\nHost:   a \t \r\n\r\n",
            outcome: .requests([get])),
        .init(
            name: "absolute-form target", raw: "GET http://a/b?c HTTP/1.1\r\nHost: a\r\n\r\n",
            outcome: .requests([.init(method: "GET", target: "http://a/b?c")])),
        .init(
            name: "asterisk target", raw: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            outcome: .requests([.init(method: "OPTIONS", target: "*")])),
        .init(
            name: "percent-encoded target", raw: "GET /a%20b?x=%2F HTTP/1.1\r\nHost: a\r\n\r\n",
            outcome: .requests([.init(method: "GET", target: "/a%20b?x=%2F")])),
        .init(
            name: "obs-text in a value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX: caf\u{E9}\r\n\r\n",
            outcome: .requests([get])),
        .init(name: "incomplete head", raw: "GET / HTTP/1.1\r\nHost: a\r\n", outcome: .incomplete()),
        .init(
            name: "incomplete body", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel",
            outcome: .incomplete()),

        // Refused: request line.
        .init(
            name: "lowercase-free invalid method", raw: "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
            outcome: .error(.invalidMethod)),
        .init(name: "two spaces", raw: "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", outcome: .error(.invalidRequestLine)),
        .init(name: "missing version", raw: "GET /\r\nHost: a\r\n\r\n", outcome: .error(.invalidRequestLine)),
        .init(
            name: "target with a space", raw: "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
            outcome: .error(.invalidRequestLine)),
        .init(
            name: "target with a quote", raw: "GET /a\"b HTTP/1.1\r\nHost: a\r\n\r\n", outcome: .error(.invalidTarget)),
        .init(
            name: "target with a fragment", raw: "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", outcome: .error(.invalidTarget)
        ),
        .init(
            name: "bad percent escape", raw: "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", outcome: .error(.invalidTarget)),
        .init(
            name: "a target of no form (read as /v2/infer by segments)",
            raw: "GET x/v2/infer HTTP/1.1\r\nHost: a\r\n\r\n",
            outcome: .error(.invalidTarget)),
        .init(
            name: "a scheme without //", raw: "GET http:/v2 HTTP/1.1\r\nHost: a\r\n\r\n",
            outcome: .error(.invalidTarget)),
        .init(
            name: "a scheme starting with a digit", raw: "GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
            outcome: .error(.invalidTarget)),
        .init(name: "invalid version", raw: "GET / HTTX/1.1\r\nHost: a\r\n\r\n", outcome: .error(.invalidVersion)),
        .init(name: "two-digit version", raw: "GET / HTTP/1.10\r\nHost: a\r\n\r\n", outcome: .error(.invalidVersion)),
        .init(
            name: "HTTP/2.0", raw: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", outcome: .error(.unsupportedVersion("HTTP/2.0"))
        ),
        .init(name: "HTTP/0.9", raw: "GET / HTTP/0.9\r\n\r\n", outcome: .error(.unsupportedVersion("HTTP/0.9"))),
        .init(
            name: "HTTP/2 connection preface", raw: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            outcome: .error(.unsupportedVersion("HTTP/2.0"))),

        // Refused: line endings.
        .init(
            name: "bare CR in the request line", raw: "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n",
            outcome: .error(.bareCarriageReturn)),
        .init(
            name: "bare CR in a header", raw: "GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n",
            outcome: .error(.bareCarriageReturn)),
        .init(name: "bare LF", raw: "GET / HTTP/1.1\nHost: a\r\n\r\n", outcome: .error(.bareLineFeed)),
        .init(name: "bare LF ending the head", raw: "GET / HTTP/1.1\r\nHost: a\r\n\n", outcome: .error(.bareLineFeed)),

        // Refused: header fields.
        .init(
            name: "whitespace before colon", raw: "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            outcome: .error(.whitespaceBeforeColon)),
        .init(
            name: "tab before colon", raw: "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",
            outcome: .error(.whitespaceBeforeColon)),
        .init(
            name: "obsolete line folding", raw: "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n",
            outcome: .error(.obsoleteLineFolding)),
        .init(
            name: "header without colon", raw: "GET / HTTP/1.1\r\nHost a\r\n\r\n", outcome: .error(.invalidHeaderName)),
        .init(
            name: "empty header name", raw: "GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n",
            outcome: .error(.invalidHeaderName)),
        .init(
            name: "invalid header name", raw: "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", outcome: .error(.invalidHeaderName)),
        .init(
            name: "NUL in a header value", raw: "GET / HTTP/1.1\r\nHost: a\u{0}b\r\n\r\n",
            outcome: .error(.invalidHeaderValue(name: "Host"))),
        .init(
            name: "DEL in a header value", raw: "GET / HTTP/1.1\r\nHost: a\u{7F}\r\n\r\n",
            outcome: .error(.invalidHeaderValue(name: "Host"))),
        .init(name: "missing Host", raw: "GET / HTTP/1.1\r\n\r\n", outcome: .error(.missingHost)),
        .init(
            name: "two Host fields", raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            outcome: .error(.duplicateHost)),

        // Refused: framing.
        .init(
            name: "Content-Length and Transfer-Encoding",
            raw:
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            outcome: .error(.conflictingFraming)),
        .init(
            name: "two Content-Length fields",
            raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            outcome: .error(.duplicateContentLength)),
        .init(
            name: "Content-Length list", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc",
            outcome: .error(.invalidContentLength)),
        .init(
            name: "negative Content-Length", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
            outcome: .error(.invalidContentLength)),
        .init(
            name: "signed Content-Length", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
            outcome: .error(.invalidContentLength)),
        .init(
            name: "hex Content-Length", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc",
            outcome: .error(.invalidContentLength)),
        .init(
            name: "empty Content-Length", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
            outcome: .error(.invalidContentLength)),
        .init(
            name: "huge Content-Length",
            raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            outcome: .error(.invalidContentLength)),
        .init(
            name: "gzip transfer coding", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
            outcome: .error(.unsupportedTransferEncoding("gzip"))),
        .init(
            name: "gzip then chunked", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            outcome: .error(.unsupportedTransferEncoding("gzip, chunked"))),
        .init(
            name: "chunked twice",
            raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            outcome: .error(.unsupportedTransferEncoding("chunked, chunked"))),
        .init(
            name: "Transfer-Encoding in HTTP/1.0",
            raw: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            outcome: .error(.transferEncodingInHTTP10)),
        .init(
            name: "non-hex chunk size", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            outcome: .error(.invalidChunkSize)),
        .init(
            name: "empty chunk size", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
            outcome: .error(.invalidChunkSize)),
        .init(
            name: "negative chunk size", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
            outcome: .error(.invalidChunkSize)),
        .init(
            name: "overflowing chunk size",
            raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF1\r\n",
            outcome: .error(.invalidChunkSize)),
        .init(
            name: "chunk size with trailing garbage",
            raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n",
            outcome: .error(.invalidChunkSize)),
        .init(
            name: "chunk size ending in bare LF",
            raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nhello\r\n",
            outcome: .error(.bareLineFeed)),
        .init(
            name: "chunk data too long for its size",
            raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
            outcome: .error(.missingChunkTerminator)),
        .init(
            name: "control character in a chunk extension",
            raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a\u{1}\r\nabc\r\n0\r\n\r\n",
            outcome: .error(.invalidChunkExtension)),
        .init(
            name: "bad trailer field",
            raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Field: x\r\n\r\n",
            outcome: .error(.invalidHeaderName)),

        // Host (RFC 9112 §3.2, RFC 9110 §7.2): uri-host [":" port], one of them.
        .init(
            name: "Host with a port, an IPv6 literal, or empty",
            raw:
                "GET / HTTP/1.1\r\nHost: a.b:8080\r\n\r\nGET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\nGET / HTTP/1.1\r\nHost:\r\n\r\n",
            outcome: .requests([get, get, get])),
        .init(
            name: "Host with userinfo", raw: "GET / HTTP/1.1\r\nHost: user@host\r\n\r\n", outcome: .error(.invalidHost)),
        .init(name: "Host with a path", raw: "GET / HTTP/1.1\r\nHost: host/x\r\n\r\n", outcome: .error(.invalidHost)),
        .init(name: "Host as a list", raw: "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", outcome: .error(.invalidHost)),
        .init(
            name: "Host as a list without space", raw: "GET / HTTP/1.1\r\nHost: a,b\r\n\r\n",
            outcome: .error(.invalidHost)),
        .init(
            name: "Host with a bad port", raw: "GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n", outcome: .error(.invalidHost)),
        .init(
            name: "Host with an unclosed IPv6 literal", raw: "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
            outcome: .error(.invalidHost)),

        // The request line is checked as soon as it ends.
        .init(name: "HTTP/0.9 request line", raw: "GET /\r\n", outcome: .error(.invalidRequestLine)),
        .init(
            name: "asterisk form for a method other than OPTIONS", raw: "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
            outcome: .error(.invalidTarget)),
        .init(
            name: "asterisk form for OPTIONS", raw: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            outcome: .requests([.init(method: "OPTIONS", target: "*")])),

        // Refused: limits (the table's limits: 256 header bytes, 8 fields, 64 body bytes).
        .init(
            name: "request line too long (414)", raw: "GET /" + String(repeating: "a", count: 300) + " HTTP/1.1\r\n",
            outcome: .error(.targetTooLong(limit: 256))),
        .init(
            name: "header section too large",
            raw: "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "y", count: 300) + "\r\n\r\n",
            outcome: .error(.headersTooLarge(limit: 256))),
        .init(
            name: "endless header line", raw: "GET / HTTP/1.1\r\nX: " + String(repeating: "y", count: 300),
            outcome: .error(.headersTooLarge(limit: 256))),
        .init(
            name: "too many header fields",
            raw: "GET / HTTP/1.1\r\nHost: a\r\n" + (1...8).map { "X\($0): y\r\n" }.joined() + "\r\n",
            outcome: .error(.tooManyHeaders(limit: 8))),
        .init(
            name: "Content-Length over the body limit", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65\r\n\r\n",
            outcome: .error(.bodyTooLarge(limit: 64))),
        .init(
            name: "chunked body over the body limit",
            raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n"
                + String(repeating: "a", count: 32) + "\r\n21\r\n",
            outcome: .error(.bodyTooLarge(limit: 64))),
        .init(
            name: "an error after good pipelined requests",
            raw: "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost : a\r\n\r\n",
            outcome: .error(.whitespaceBeforeColon, after: [get])),
    ]

    @Test("all at once", arguments: cases)
    func allAtOnce(_ testCase: ParserCase) {
        let bytes = Array(testCase.raw.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        #expect(run(bytes, pieces: [bytes.count], limits: testCase.limits) == testCase.outcome)
    }

    @Test("byte by byte", arguments: cases)
    func byteByByte(_ testCase: ParserCase) {
        let bytes = Array(testCase.raw.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        #expect(
            run(bytes, pieces: Array(repeating: 1, count: bytes.count), limits: testCase.limits) == testCase.outcome)
    }

    @Test("in every two-piece split", arguments: cases)
    func everySplit(_ testCase: ParserCase) {
        let bytes = Array(testCase.raw.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        for split in 0...bytes.count {
            #expect(
                run(bytes, pieces: [split, bytes.count - split], limits: testCase.limits) == testCase.outcome,
                "split at \(split)")
        }
    }

    @Test("after an error every call throws it again")
    func stickyError() {
        var parser = HTTPRequestParser()
        parser.append(Array("GET / HTTP/1.1\r\nHost : a\r\n\r\n".utf8))
        #expect(throws: HTTPParserError.whitespaceBeforeColon) { try parser.nextRequest() }
        parser.append(Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        #expect(throws: HTTPParserError.whitespaceBeforeColon) { try parser.nextRequest() }
    }

    @Test("the head is available while the body is awaited (for 100-continue)")
    func headAwaitingBody() throws {
        var parser = HTTPRequestParser()
        parser.append(Array("POST /p HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n".utf8))
        #expect(try parser.nextRequest() == nil)
        #expect(parser.headAwaitingBody?.expectsContinue == true)
        parser.append(Array("abc".utf8))
        #expect(try parser.nextRequest()?.body == Array("abc".utf8))
        #expect(parser.headAwaitingBody == nil)
    }

    @Test("request head helpers: path, query, keep-alive, expectations")
    func headHelpers() {
        func head(_ target: String, _ version: HTTPVersion = .http1_1, _ headers: HTTPHeaders = [:]) -> HTTPRequestHead
        {
            HTTPRequestHead(method: "GET", target: target, version: version, headers: headers)
        }
        #expect(head("/a/b?x=1").path == "/a/b")
        #expect(head("/a/b?x=1").query == "x=1")
        #expect(head("http://host:80/c?d").path == "/c")
        #expect(head("http://host").path == "/")
        #expect(head("/").wantsKeepAlive)
        #expect(!head("/", .http1_1, ["Connection": "close"]).wantsKeepAlive)
        #expect(!head("/", .http1_0).wantsKeepAlive)
        #expect(head("/", .http1_0, ["Connection": "Keep-Alive"]).wantsKeepAlive)
        #expect(head("/", .http1_1, ["Expect": "100-Continue"]).expectsContinue)
        #expect(!head("/", .http1_0, ["Expect": "100-continue"]).expectsContinue)
        #expect(head("/", .http1_1, ["Expect": "something"]).hasUnsupportedExpectation)
    }

    @Test("headers: ordered, case-insensitive, repeated fields kept")
    func headers() {
        var headers: HTTPHeaders = ["Content-Type": "a", "X-Thing": "1"]
        headers.add(name: "x-thing", value: "2")
        #expect(headers["content-type"] == "a")
        #expect(headers.values(for: "X-THING") == ["1", "2"])
        headers.replaceOrAdd(name: "X-Thing", value: "3")
        #expect(headers.values(for: "x-thing") == ["3"])
        #expect(
            HTTPHeaders([("Connection", "keep-alive, Upgrade")]).tokens(for: "connection") == ["keep-alive", "upgrade"])
    }

    @Test("names and prefixes compared with ASCII letters in either case, and nothing else")
    func caseInsensitiveComparison() {
        #expect(HTTPHeaders.namesMatch("Content-Length", "content-LENGTH"))
        #expect(!HTTPHeaders.namesMatch("Content-Length", "Content-Lengt"))
        #expect(!HTTPHeaders.namesMatch("a-b", "a\rb"), "only letters differ by case: '-' | 0x20 is not '\\r' | 0x20")
        #expect(HTTPHeaders.hasPrefixIgnoringCase("IMAGE/png", "image/"))
        #expect(HTTPHeaders.hasPrefixIgnoringCase("image/", "image/"))
        #expect(!HTTPHeaders.hasPrefixIgnoringCase("image", "image/"))
        #expect(!HTTPHeaders.hasPrefixIgnoringCase("application/json", "image/"))
        // Not Unicode case folding: a dotted capital I is no i.
        #expect(!HTTPHeaders.hasPrefixIgnoringCase("\u{130}mage/png", "image/"))
        #expect(!HTTPHeaders.hasPrefixIgnoringCase("imagE\u{0F}png", "image/"), "0x0F | 0x20 is '/', yet not a letter")
    }
}
