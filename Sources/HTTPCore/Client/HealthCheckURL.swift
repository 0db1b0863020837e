/// What a health check asks for, from `http://host[:port][/path][?query]`.
///
/// A URL whose path is empty or ends in `/` is a base URL (the server's, or its prefix behind a proxy),
/// and the server's health check `model` is asked for there: never the page at `/`, which answers 200
/// while the server drains. The host and the target are held to the rules the server itself applies to a
/// request (``HTTPSyntax``), so the probe never sends what a strict server refuses with 400.
public struct HealthCheckURL: Sendable, Equatable, CustomStringConvertible {
    /// The host as the resolver takes it: a name or an address, an IPv6 one without its brackets.
    public let host: String
    public let port: Int
    /// The request target sent: the path and the query, never a fragment (which is the client's alone).
    public let target: String

    /// The URL as it is asked, for output: `http://host:port/target`.
    public var description: String { "http://\(hostField)\(target)" }

    /// `host:port` as the `Host` header writes it, with an IPv6 address in brackets.
    public var hostField: String { "\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    /// `nil` for anything but an `http://` URL (the scheme in any case) with a valid host, a port from 1
    /// to 65535 when one is written (80 otherwise), no userinfo, and a valid path and query.
    public init?(_ url: String) {
        guard url.utf8.count <= 8192, url.lowercased().hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count).prefix { $0 != "#" }
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        let afterAuthority = rest.dropFirst(authority.count)
        var path = String(afterAuthority.prefix { $0 != "?" })
        let query = afterAuthority.dropFirst(path.count)
        // uri-host [":" port] as the server checks a Host header: no userinfo, no list, no stray colon.
        guard !authority.isEmpty, HTTPSyntax.isValidHost(String(authority)) else { return nil }
        var hostPart = authority
        var port = 80
        let portStart =
            authority.hasPrefix("[")
            ? authority.firstIndex(of: "]").map { authority.index(after: $0) } : authority.firstIndex(of: ":")
        if let portStart, portStart < authority.endIndex {
            guard let number = Int(authority[authority.index(after: portStart)...]), (1...65535).contains(number)
            else { return nil }
            port = number
            hostPart = authority[..<portStart]
        }
        if hostPart.hasPrefix("[") { hostPart = hostPart.dropFirst().dropLast() }
        guard !hostPart.isEmpty else { return nil }
        if path.isEmpty { path = "/" }
        if path.hasSuffix("/") { path += "model" }
        let target = path + query
        guard HTTPSyntax.isValidTarget(Array(target.utf8)[...]) else { return nil }
        self.host = String(hostPart)
        self.port = port
        self.target = target
    }
}
