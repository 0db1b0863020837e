/// Which web origins may call the server from a browser (CORS), and the preflight answer they get.
/// Off unless configured: without it browsers keep other origins' scripts out, as they should by default.
public struct CORSPolicy: Sendable, Equatable {
    /// `*` for any origin, or exact origins such as `https://app.example.com`.
    public var allowedOrigins: [String]
    /// Request fields a browser may send, lowercase. Default: those a JSON API's clients send; an
    /// application adds its own.
    public var allowedHeaders = ["content-type", "content-encoding", "accept-encoding", "x-request-id"]
    /// Response fields a script may read beyond the safe ones. Default: the request id.
    public var exposedHeaders = ["X-Request-ID"]
    /// How long a browser may cache a preflight answer. Default 10 minutes.
    public var maxAgeSeconds = 600

    public init(allowedOrigins: [String]) {
        self.allowedOrigins = allowedOrigins
    }

    /// Whether `origin` may call the server.
    public func allows(_ origin: String) -> Bool {
        allowedOrigins.contains("*") || allowedOrigins.contains(origin)
    }

    /// The value of `Access-Control-Allow-Origin` for an allowed origin.
    func allowOrigin(for origin: String) -> String {
        allowedOrigins.contains("*") ? "*" : origin
    }

    /// Fields for an actual (not preflight) response to an allowed origin.
    func decorate(_ response: inout HTTPResponse, origin: String) {
        response.headers.add(name: "Access-Control-Allow-Origin", value: allowOrigin(for: origin))
        response.headers.add(name: "Access-Control-Expose-Headers", value: exposedHeaders.joined(separator: ", "))
        response.headers.add(name: "Vary", value: "Origin")
    }

    /// The answer to a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`): 204 with the
    /// methods the path allows, or a 403 error for an origin, method or header that is not allowed.
    func preflight(_ head: HTTPRequestHead, origin: String, allowedMethods: String) -> Result<HTTPResponse, HTTPError> {
        let method = head.headers["Access-Control-Request-Method"]?.trimmingHTTPWhitespace() ?? ""
        let methods = allowedMethods.split(separator: ",").map { $0.trimmingHTTPWhitespace() }
        let requestedHeaders = head.headers.tokens(for: "Access-Control-Request-Headers")
        guard allows(origin) else {
            return refusal("origin \(origin) is not among the origins this server allows")
        }
        guard methods.contains(method) else {
            return refusal("\(method) is not allowed on \(head.path); allowed: \(allowedMethods)")
        }
        if let header = requestedHeaders.first(where: { !allowedHeaders.contains($0) }) {
            return refusal(
                "the request header \(header) is not allowed; allowed: \(allowedHeaders.joined(separator: ", "))")
        }
        var response = HTTPResponse(status: .noContent)
        response.headers.add(name: "Access-Control-Allow-Origin", value: allowOrigin(for: origin))
        response.headers.add(name: "Access-Control-Allow-Methods", value: allowedMethods)
        if !requestedHeaders.isEmpty {
            response.headers.add(name: "Access-Control-Allow-Headers", value: requestedHeaders.joined(separator: ", "))
        }
        response.headers.add(name: "Access-Control-Max-Age", value: String(maxAgeSeconds))
        response.headers.add(
            name: "Vary", value: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
        return .success(response)
    }

    private func refusal(_ message: String) -> Result<HTTPResponse, HTTPError> {
        .failure(HTTPError(status: .forbidden, code: "cors_refused", message: message))
    }
}
