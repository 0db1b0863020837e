/// An HTTP protocol version such as 1.1.
public struct HTTPVersion: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let major: Int
    public let minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    public var description: String { "HTTP/\(major).\(minor)" }
}

/// A request's line and header fields: everything known before its body arrives.
public struct HTTPRequestHead: Sendable, Equatable {
    /// The method token, case-sensitive as RFC 9110 says (`GET`, not `get`).
    public let method: String
    /// The request target exactly as sent (`/items?id=7`, or an absolute URI from a proxy).
    public let target: String
    public let version: HTTPVersion
    public let headers: HTTPHeaders

    /// The target's path: without the query, and without scheme and authority for an absolute-form target.
    public let path: String

    public init(method: String, target: String, version: HTTPVersion, headers: HTTPHeaders) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.path = Self.path(of: target)
    }

    private static func path(of target: String) -> String {
        if target.utf8.first == UInt8(ascii: "/") && !target.utf8.contains(UInt8(ascii: "?")) { return target }
        var rest = Substring(target)
        if !rest.hasPrefix("/") {
            // Absolute form, `http://host:port/path`: skip the scheme's `//` and the authority.
            let utf8 = Array(rest.utf8)
            if let slash = (0..<max(0, utf8.count - 2)).first(where: {
                utf8[$0] == 0x3A && utf8[$0 + 1] == 0x2F && utf8[$0 + 2] == 0x2F
            }) {
                rest = rest.dropFirst(slash + 3)
                rest = rest.firstIndex(of: "/").map { rest[$0...] } ?? "/"
            }
        }
        return String(rest.prefix { $0 != "?" })
    }

    /// The query string after `?`, if any.
    public var query: String? {
        // By byte, not by Character: asked of every prediction's target, where a grapheme walk cost 3,000
        // instructions.
        target.utf8.firstIndex(of: UInt8(ascii: "?")).map { String(target[target.index(after: $0)...]) }
    }

    /// The value of the first `name=value` pair of the query named `name` (`""` for a bare `name`), as sent:
    /// no percent-decoding, which the names and values a service compares against do not need.
    public func queryParameter(_ name: String) -> String? {
        guard let query else { return nil }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts[0] == name { return parts.count == 2 ? String(parts[1]) : "" }
        }
        return nil
    }

    /// Whether the client wants the connection kept open after the response: by default in HTTP/1.1
    /// unless it sent `Connection: close`, and in HTTP/1.0 only if it sent `Connection: keep-alive`.
    public var wantsKeepAlive: Bool {
        guard headers.contains("Connection") else { return version != .http1_0 }
        let tokens = headers.tokens(for: "Connection")
        if version == .http1_0 { return tokens.contains("keep-alive") && !tokens.contains("close") }
        return !tokens.contains("close")
    }

    /// Whether the client waits for `100 Continue` before sending the body. HTTP/1.0 clients cannot, and
    /// RFC 9110 §10.1.1 says to ignore the expectation from them.
    public var expectsContinue: Bool {
        version != .http1_0 && headers.contains("Expect") && headers.tokens(for: "Expect") == ["100-continue"]
    }

    /// Whether the request carries an expectation other than 100-continue, which is answered with 417.
    public var hasUnsupportedExpectation: Bool {
        guard headers.contains("Expect") else { return false }
        let expectations = headers.tokens(for: "Expect")
        return !expectations.isEmpty && expectations != ["100-continue"]
    }
}

/// A whole request: its head, its body, and what routing and the server add.
public struct HTTPRequest: Sendable {
    public let head: HTTPRequestHead
    public let body: [UInt8]
    /// Values of the `{name}` segments of the route that matched.
    public internal(set) var pathParameters: [String: String] = [:]
    /// The request id: the client's `X-Request-ID` when it is sane, otherwise one made by the server.
    public internal(set) var requestID: String = ""
    /// The pattern of the route that matched (`/users/{id}/orders`), once routed; `nil` for a path no
    /// route knows. A label for metrics and logs that stays few however many paths clients try.
    public internal(set) var routePattern: String?
    /// What the router found for the request, so that it is matched once.
    var match: RouteMatch?
    /// How errors are written for this request: its route group's format, once routed.
    var errorFormat: HTTPErrorFormat?
    /// What the request holds of the server's memory budget: its body, reserved by the server; a handler
    /// reserves its working set here before allocating it. Given back once the answer is made (which the
    /// connection counts until it is written).
    public internal(set) var memory: MemoryReservation

    public init(head: HTTPRequestHead, body: [UInt8], memory: MemoryReservation = MemoryReservation(budget: .unlimited))
    {
        self.head = head
        self.body = body
        self.memory = memory
    }

    public var method: String { head.method }
    public var path: String { head.path }
    public var headers: HTTPHeaders { head.headers }
}

/// What a router found for a request.
enum RouteMatch: Sendable, Equatable {
    /// The index of the route whose pattern matched.
    case route(Int)
    case notFound
}
