/// Something that stands between the server and the responder: it sees every request on its way in and
/// every response on its way out, and may answer by itself (a CORS preflight) or turn errors into
/// responses. Composed around the router by ``MiddlewareChain``, outermost first, in the manner of
/// Hummingbird's `RouterMiddleware`; the connection knows nothing of them.
public protocol HTTPMiddleware: Sendable {
    func respond(to request: HTTPRequest, next: (HTTPRequest) throws -> HTTPResponse) throws -> HTTPResponse
}

/// A responder wrapped in middleware: `middleware[0]` sees the request first and the response last.
public struct MiddlewareChain: HTTPResponder {
    public let middleware: [any HTTPMiddleware]
    public let responder: any HTTPResponder

    public init(_ middleware: [any HTTPMiddleware], around responder: any HTTPResponder) {
        self.middleware = middleware
        self.responder = responder
    }

    public func route(_ request: inout HTTPRequest) -> HandlerExecution {
        responder.route(&request)
    }

    public func respond(to request: HTTPRequest) throws -> HTTPResponse {
        try respond(to: request, from: 0)
    }

    public func errorFormat(for head: HTTPRequestHead) -> HTTPErrorFormat? {
        responder.errorFormat(for: head)
    }

    private func respond(to request: HTTPRequest, from position: Int) throws -> HTTPResponse {
        guard position < middleware.count else { return try responder.respond(to: request) }
        return try middleware[position].respond(to: request) { try respond(to: $0, from: position + 1) }
    }
}
