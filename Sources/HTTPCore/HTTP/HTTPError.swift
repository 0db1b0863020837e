import JSON

/// The one error of the HTTP layer: a status, a stable code for programs, a message that tells a person
/// what to fix, and the fields the response must carry (`Allow` on a 405, `Retry-After` on a 503).
///
/// A handler throws it; the parser's and the content coding's own errors become one (``HTTPParserError/httpError``,
/// ``ContentCoding/Failure/httpError``); the route group's ``HTTPErrorFormat`` writes it.
public struct HTTPError: Error, Equatable, Sendable, CustomStringConvertible {
    public let status: HTTPStatus
    /// A stable machine-readable code such as `not_found`.
    public let code: String
    public let message: String
    public let headers: HTTPHeaders

    public init(status: HTTPStatus, code: String, message: String, headers: HTTPHeaders = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    /// Text from the request, as an error message quotes it: at most 64 characters, so that a megabyte of
    /// target, key or header comes back as a hint, not a copy.
    public static func echo(_ text: some StringProtocol) -> String {
        text.count <= 64 ? String(text) : String(text.prefix(61)) + "..."
    }
}

/// How a group of routes writes its errors: a property of the routes (``Router/group(_:errorFormat:_:)``),
/// so that each protocol a server speaks answers in its own format.
public struct HTTPErrorFormat: Sendable {
    public let render: @Sendable (HTTPError) -> HTTPResponse

    public init(render: @escaping @Sendable (HTTPError) -> HTTPResponse) {
        self.render = render
    }

    /// `{"error": {"code": "...", "message": "..."}}`, `Content-Type: application/json`, with the error's fields.
    public static let standard = HTTPErrorFormat { error in
        body(
            .object([
                JSONMember(
                    "error",
                    .object([JSONMember("code", .string(error.code)), JSONMember("message", .string(error.message))]))
            ]), for: error)
    }

    /// A JSON error body with the error's status and fields, for formats built on this one.
    public static func body(_ document: JSONValue, for error: HTTPError) -> HTTPResponse {
        var headers = error.headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        return HTTPResponse(status: error.status, headers: headers, body: JSONWriter.bytes(document))
    }
}

extension HTTPParserError {
    /// The answer to a request the parser refused.
    public var httpError: HTTPError { HTTPError(status: status, code: code, message: description) }
}
