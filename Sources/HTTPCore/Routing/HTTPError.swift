/// An error that is answered as an HTTP response: a status, a stable code for programs and a message that
/// tells a person what to fix.
public protocol HTTPResponseError: Error {
    var status: HTTPStatus { get }
    /// A stable machine-readable code such as `not_found`.
    var code: String { get }
    var message: String { get }
    /// Fields the response must carry, such as `Allow` on a 405.
    var headers: HTTPHeaders { get }
}

extension HTTPResponseError {
    public var headers: HTTPHeaders { [:] }
}

/// A concrete error response description, which the server's error renderer turns into a response.
public struct HTTPError: HTTPResponseError, Equatable, Sendable {
    public let status: HTTPStatus
    public let code: String
    public let message: String
    public let headers: HTTPHeaders

    public init(status: HTTPStatus, code: String, message: String, headers: HTTPHeaders = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public init(_ error: some HTTPResponseError) {
        self.init(status: error.status, code: error.code, message: error.message, headers: error.headers)
    }

    /// `{"error": {"code": "...", "message": "..."}}` with `Content-Type: application/json`.
    public static let defaultRenderer: @Sendable (HTTPError, HTTPRequestHead?) -> HTTPResponse = { error, _ in
        var headers = error.headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        let body = "{\"error\":{\"code\":\(jsonString(error.code)),\"message\":\(jsonString(error.message))}}"
        return HTTPResponse(status: error.status, headers: headers, body: Array(body.utf8))
    }

    /// A JSON string literal.
    static func jsonString(_ text: String) -> String {
        var output = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\u{00}"..<"\u{20}":
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output + "\""
    }
}

extension HTTPParserError: HTTPResponseError {
    public var message: String { description }
}
