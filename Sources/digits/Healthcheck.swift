import ArgumentParser
import Glibc
import HTTPCore

/// `digits healthcheck`: `GET /model` and exit 0 on 200, 1 otherwise, for a container's HEALTHCHECK
/// (the runtime image has no curl).
struct Healthcheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a running server: GET its /model and exit 0 on 200, 1 otherwise, with one line of output.")

    @Option(
        help:
            "The server's base URL (its /model is checked) or a full URL. (default: http://127.0.0.1:$DIGITS_PORT, port 8080 when DIGITS_PORT is unset)"
    )
    var url: String?

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Double = 3

    func validate() throws {
        guard timeout > 0, timeout.isFinite else {
            throw ValidationError("--timeout must be a positive number of seconds")
        }
    }

    func run() throws {
        let port = getenv("DIGITS_PORT").map { String(cString: $0) } ?? "8080"
        let given = url ?? "http://127.0.0.1:\(port)"
        guard let (host, port, path) = Self.parse(given) else {
            throw ValidationError("--url must be an http:// URL such as http://127.0.0.1:8080; got '\(given)'")
        }
        // A base URL means the server's health check, GET /model (503 while draining), not its page at /.
        let target = path.isEmpty ? (given.hasSuffix("/") ? given.dropLast() : given[...]) + "/model" : given
        do {
            let result = try HTTPHealthProbe.get(
                host: host, port: port, path: path.isEmpty ? "/model" : path, timeoutSeconds: timeout,
                userAgent: "digits-healthcheck")
            if result.status == 200 {
                print("healthy: \(target) answered \(result.status) \(result.reasonPhrase)")
            } else {
                print("unhealthy: \(target) answered \(result.status) \(result.reasonPhrase)")
                throw ExitCode.failure
            }
        } catch let failure as HTTPHealthProbe.Failure {
            print("unhealthy: \(target): \(failure)")
            throw ExitCode.failure
        }
    }

    /// `http://host[:port][/path]`, with `[v6]` hosts; the path is empty when the URL has none (or only `/`).
    static func parse(_ url: String) -> (host: String, port: Int, path: String)? {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        var host = Substring(authority)
        var port = 80
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let number = Int(after.dropFirst()) else { return nil }
                port = number
            } else if !after.isEmpty {
                return nil
            }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            guard let number = Int(host[host.index(after: colon)...]) else { return nil }
            port = number
            host = host[..<colon]
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        return (String(host), port, path == "/" ? "" : String(path))
    }
}
