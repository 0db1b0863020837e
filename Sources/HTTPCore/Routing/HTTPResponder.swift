/// Where a request's handler runs.
public enum HandlerExecution: Sendable, Equatable {
    /// On the event loop's thread: for handlers that take microseconds and never block.
    case inline
    /// On Dispatch's worker threads (the default): a slow or blocking handler stalls nobody else.
    case offloaded
    /// Inline, unless the request's `Content-Type` begins with `prefix` (ASCII letters in either case, as
    /// media types are compared; no other case folding): for a route
    /// whose usual body is cheap to read and whose other bodies are not (`image/` for pictures to decode).
    case inlineUnlessContentType(prefix: String)
}

/// What answers requests: the application side of the server.
public protocol HTTPResponder: Sendable {
    /// Finds, once, what will answer the request: records the route's pattern and path parameters on the
    /// request (for the handler, metrics and logs) and says where its handler runs. The server calls it as
    /// soon as a request is complete, before choosing a thread.
    func route(_ request: inout HTTPRequest) -> HandlerExecution

    /// Answers a request that ``route(_:)`` has seen. An ``HTTPError`` becomes its response; any other
    /// error is a logged 500.
    func respond(to request: HTTPRequest) throws -> HTTPResponse

    /// The error format for a request that failed before it could be routed (a timeout, a body too
    /// large), from its path; `nil` for the server's own.
    func errorFormat(for head: HTTPRequestHead) -> HTTPErrorFormat?
}

extension HTTPResponder {
    public func errorFormat(for head: HTTPRequestHead) -> HTTPErrorFormat? { nil }
}

/// A plain function as a responder; it never runs inline, so it may take as long as it needs.
struct ClosureResponder: HTTPResponder {
    let handler: @Sendable (HTTPRequest) throws -> HTTPResponse

    func route(_ request: inout HTTPRequest) -> HandlerExecution { .offloaded }

    func respond(to request: HTTPRequest) throws -> HTTPResponse { try handler(request) }
}
