/// What answers requests: the application side of the server.
public protocol HTTPResponder: Sendable {
    /// Answers a request. An error that is an ``HTTPResponseError`` becomes its response; any other is a
    /// logged 500.
    func respond(to request: HTTPRequest) throws -> HTTPResponse

    /// Whether the request may be answered on the event loop's own thread. Only for handlers that take
    /// microseconds and never block: everything else runs on Dispatch's worker threads, so that a slow
    /// handler holds up nobody but its own client.
    func runsInline(_ request: HTTPRequest) -> Bool
}

/// A plain function as a responder; it never runs inline, so it may take as long as it needs.
struct ClosureResponder: HTTPResponder {
    let handler: @Sendable (HTTPRequest) throws -> HTTPResponse

    func respond(to request: HTTPRequest) throws -> HTTPResponse { try handler(request) }

    func runsInline(_ request: HTTPRequest) -> Bool { false }
}
