/// Maps a method and path to a handler.
///
/// Paths are matched segment by segment; a `{name}` segment matches any one segment and its value is in
/// ``HTTPRequest/pathParameters``. An unknown path is 404; a known path with another method is 405 with
/// `Allow`; `HEAD` is served by the `GET` handler (the server drops the body); `OPTIONS` answers 204 with `Allow`.
public struct Router: Sendable {
    public typealias Handler = @Sendable (HTTPRequest) throws -> HTTPResponse

    private struct Route: Sendable {
        let segments: [Substring]
        var handlers: [String: Handler]
    }

    private var routes: [Route] = []

    public init() {}

    /// Registers `handler` for `method` on `pattern` (such as `/v2/models/{name}/infer`).
    public mutating func add(_ method: String, _ pattern: String, _ handler: @escaping Handler) {
        let segments = Self.segments(of: pattern)
        if let index = routes.firstIndex(where: { $0.segments == segments }) {
            routes[index].handlers[method] = handler
        } else {
            routes.append(Route(segments: segments, handlers: [method: handler]))
        }
    }

    public mutating func get(_ pattern: String, _ handler: @escaping Handler) { add("GET", pattern, handler) }
    public mutating func post(_ pattern: String, _ handler: @escaping Handler) { add("POST", pattern, handler) }

    /// Routes a request to its handler, or throws the 404 or 405 it deserves.
    public func handle(_ request: HTTPRequest) throws -> HTTPResponse {
        let segments = Self.segments(of: request.path)
        for route in routes {
            guard let parameters = Self.match(route.segments, segments) else { continue }
            var request = request
            request.pathParameters = parameters
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
        throw HTTPError(status: .notFound, code: "not_found", message: "no resource at \(request.path)")
    }

    /// The `Allow` value: the registered methods, `HEAD` wherever `GET` is, and `OPTIONS`, sorted.
    private static func allowedMethods(_ methods: Dictionary<String, Handler>.Keys) -> String {
        var allowed = Set(methods)
        if allowed.contains("GET") { allowed.insert("HEAD") }
        allowed.insert("OPTIONS")
        return allowed.sorted().joined(separator: ", ")
    }

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
