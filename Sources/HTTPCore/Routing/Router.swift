/// Maps a method and path to a handler.
///
/// Paths are matched segment by segment; a `{name}` segment matches any one segment and its value is in
/// ``HTTPRequest/pathParameters``. An unknown path is 404; a known path with another method is 405 with
/// `Allow`; `HEAD` is served by the `GET` handler (the server drops the body); `OPTIONS` answers 204 with `Allow`.
public struct Router: HTTPResponder {
    public typealias Handler = @Sendable (HTTPRequest) throws -> HTTPResponse

    private struct Route: Sendable {
        let segments: [Substring]
        /// The pattern, normalised (`/users/{id}/orders`): a label for metrics, built once.
        let pattern: String
        var handlers: [String: Handler]
        var executions: [String: HandlerExecution]
    }

    private var routes: [Route] = []
    /// Path prefixes whose errors a group writes in its own format, unknown paths under them included.
    private var groups: [(prefix: String, format: HTTPErrorFormat)] = []
    /// Routes without `{name}` segments by their exact path: most requests are found with one hash lookup.
    private var staticRoutes: [String: Int] = [:]
    /// Added to every 404's message: what exists instead (the application's endpoints), so that a client
    /// that guessed a path (`/health`) learns the right one.
    public var notFoundHint: String?

    public init() {}

    /// Registers `handler` for `method` on `pattern` (such as `/users/{id}/orders`).
    public mutating func add(
        _ method: String, _ pattern: String, execution: HandlerExecution = .offloaded, _ handler: @escaping Handler
    ) {
        let segments = Self.segments(of: pattern)
        if let index = routes.firstIndex(where: { $0.segments == segments }) {
            routes[index].handlers[method] = handler
            routes[index].executions[method] = execution
        } else {
            routes.append(
                Route(
                    segments: segments, pattern: "/" + segments.joined(separator: "/"), handlers: [method: handler],
                    executions: [method: execution]))
            if !pattern.contains("{") { staticRoutes[pattern] = routes.count - 1 }
        }
    }

    public mutating func get(_ pattern: String, execution: HandlerExecution = .offloaded, _ handler: @escaping Handler)
    {
        add("GET", pattern, execution: execution, handler)
    }

    public mutating func post(_ pattern: String, execution: HandlerExecution = .offloaded, _ handler: @escaping Handler)
    {
        add("POST", pattern, execution: execution, handler)
    }

    /// Registers the routes `register` adds to the group, their patterns under `prefix` (`""` for the
    /// prefix itself). The group owns the paths under its prefix: every error of such a path, whether a
    /// route matched it or not (a 404, a 405, a body too large), is written in `errorFormat`.
    public mutating func group(
        _ prefix: String, errorFormat: HTTPErrorFormat, _ register: (inout RouteGroup) -> Void
    ) {
        var group = RouteGroup(prefix: prefix)
        register(&group)
        groups.append((prefix, errorFormat))
        for route in group.routes {
            add(route.method, route.pattern, execution: route.execution, route.handler)
        }
    }

    /// The format of the group whose prefix `head`'s path is under, for errors raised before routing (a
    /// body too large, a timeout); `nil` outside every group.
    public func errorFormat(for head: HTTPRequestHead) -> HTTPErrorFormat? {
        let path = head.path.utf8
        return groups.last { group in
            let prefix = group.prefix.utf8
            // `/v2` owns `/v2` and `/v2/...`, not `/v2x`.
            guard path.starts(with: prefix) else { return false }
            return path.count == prefix.count || path.dropFirst(prefix.count).first == UInt8(ascii: "/")
        }?.format
    }

    /// Matches the path once and keeps the result on the request. Inline when the matching route says so;
    /// errors (404, 405) and OPTIONS are cheap and always inline.
    public func route(_ request: inout HTTPRequest) -> HandlerExecution {
        guard let (index, parameters) = find(request.path) else {
            request.match = .notFound
            request.errorFormat = errorFormat(for: request.head)
            return .inline
        }
        let route = routes[index]
        request.errorFormat = groups.isEmpty ? nil : errorFormat(for: request.head)
        request.pathParameters = parameters
        request.routePattern = route.pattern
        request.match = .route(index)
        let method = request.method == "HEAD" ? "GET" : request.method
        switch route.executions[method] ?? .inline {
        case .inlineUnlessContentType(let prefix):
            let type = request.headers["Content-Type"] ?? ""
            return HTTPHeaders.hasPrefixIgnoringCase(type, prefix) ? .offloaded : .inline
        case let execution: return execution
        }
    }

    /// The index of the route for `path` and the values of its `{name}` segments.
    private func find(_ path: String) -> (Int, [String: String])? {
        if let index = staticRoutes[path] { return (index, [:]) }
        let segments = Self.segments(of: path)
        for (index, route) in routes.enumerated() {
            if let parameters = Self.match(route.segments, segments) { return (index, parameters) }
        }
        return nil
    }

    /// Runs the request's handler, or throws the 501, 404 or 405 it deserves; a request that ``route(_:)``
    /// has matched is not matched again.
    public func respond(to request: HTTPRequest) throws -> HTTPResponse {
        guard Self.standardMethods.contains(request.method) else {
            throw HTTPError(
                status: .notImplemented, code: "method_not_implemented",
                message: "the method \(request.method) is not one this server implements; use GET or POST")
        }
        if request.method == "OPTIONS" && request.head.target == "*" {
            // The server as a whole (RFC 9110 §9.3.7): every method some route takes.
            return HTTPResponse(
                status: .noContent, headers: ["Allow": Self.allowedMethods(routes.flatMap(\.handlers.keys))])
        }
        var request = request
        if request.match == nil { _ = route(&request) }
        guard case .route(let index) = request.match, routes.indices.contains(index) else {
            throw HTTPError(
                status: .notFound, code: "not_found",
                message: "no resource at \(HTTPError.echo(request.path))" + (notFoundHint.map { "; \($0)" } ?? ""))
        }
        let route = routes[index]
        let method = request.method == "HEAD" ? "GET" : request.method
        if let handler = route.handlers[method] { return try handler(request) }
        let allowed = Self.allowedMethods(route.handlers.keys)
        if request.method == "OPTIONS" {
            return HTTPResponse(status: .noContent, headers: ["Allow": allowed])
        }
        throw HTTPError(
            status: .methodNotAllowed, code: "method_not_allowed",
            message: "\(request.method) is not allowed on \(request.path); use \(allowed)",
            headers: ["Allow": allowed])
    }

    /// The `Allow` value: the registered methods, `HEAD` wherever `GET` is, and `OPTIONS`, sorted.
    private static func allowedMethods(_ methods: some Sequence<String>) -> String {
        var allowed = Set(methods)
        if allowed.contains("GET") { allowed.insert("HEAD") }
        allowed.insert("OPTIONS")
        return allowed.sorted().joined(separator: ", ")
    }

    /// The methods of IANA's HTTP Method Registry (RFC 9110's, PATCH, WebDAV's and the rest) and QUERY
    /// (the httpbis draft, which clients such as schemathesis already send): a known method a route lacks
    /// is 405 with `Allow`; a method nobody defined is 501 (RFC 9110 §9.1), since no route could take it.
    static let standardMethods: Set<String> = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY", "ACL",
        "BASELINE-CONTROL", "BIND", "CHECKIN", "CHECKOUT", "COPY", "LABEL", "LINK", "LOCK", "MERGE", "MKACTIVITY",
        "MKCALENDAR", "MKCOL", "MKREDIRECTREF", "MKWORKSPACE", "MOVE", "ORDERPATCH", "PRI", "PROPFIND", "PROPPATCH",
        "REBIND", "REPORT", "SEARCH", "UNBIND", "UNCHECKOUT", "UNLINK", "UNLOCK", "UPDATE", "UPDATEREDIRECTREF",
        "VERSION-CONTROL",
    ]

    private static func segments(of path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { $0 }
    }

    private static func match(_ pattern: [Substring], _ path: [Substring]) -> [String: String]? {
        guard pattern.count == path.count else { return nil }
        var parameters: [String: String] = [:]
        for (expected, actual) in zip(pattern, path) {
            if expected.hasPrefix("{") && expected.hasSuffix("}") {
                guard !actual.isEmpty else { return nil }
                parameters[String(expected.dropFirst().dropLast())] = String(actual)
            } else if expected != actual {
                return nil
            }
        }
        return parameters
    }
}

/// Routes registered together under a path prefix, whose errors share a format (``Router/group(_:errorFormat:_:)``).
public struct RouteGroup {
    let prefix: String
    fileprivate var routes: [(method: String, pattern: String, execution: HandlerExecution, handler: Router.Handler)] =
        []

    init(prefix: String) {
        self.prefix = prefix
    }

    /// Registers `handler` for `method` on `prefix + pattern`.
    public mutating func add(
        _ method: String, _ pattern: String, execution: HandlerExecution = .offloaded,
        _ handler: @escaping Router.Handler
    ) {
        routes.append((method, prefix + pattern, execution, handler))
    }

    public mutating func get(
        _ pattern: String, execution: HandlerExecution = .offloaded, _ handler: @escaping Router.Handler
    ) {
        add("GET", pattern, execution: execution, handler)
    }

    public mutating func post(
        _ pattern: String, execution: HandlerExecution = .offloaded, _ handler: @escaping Router.Handler
    ) {
        add("POST", pattern, execution: execution, handler)
    }
}
