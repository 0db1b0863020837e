/// A response for the server to encode: status, header fields and a complete body.
///
/// The server adds the framing and connection fields itself (`Content-Length`, `Date`, `Server`,
/// `Connection`, `X-Request-ID`); a handler sets only what describes its content.
public struct HTTPResponse: Sendable {
    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response with a body of the given media type.
    public init(status: HTTPStatus = .ok, contentType: String, body: [UInt8]) {
        self.init(status: status, headers: ["Content-Type": contentType], body: body)
    }
}
