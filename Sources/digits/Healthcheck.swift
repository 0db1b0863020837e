import ArgumentParser
import Glibc
import HTTPCore
import JSON

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

    /// The URL to check: `--url`, or this machine's server on `DIGITS_PORT`.
    var checkedURL: String {
        url ?? "http://127.0.0.1:\(getenv("DIGITS_PORT").map { String(cString: $0) } ?? "8080")"
    }

    func validate() throws {
        guard timeout > 0, timeout.isFinite else {
            throw ValidationError("--timeout must be a positive number of seconds")
        }
        guard Self.parse(checkedURL) != nil else {
            if url == nil {
                throw ValidationError(
                    "the default URL \(checkedURL) is not valid: DIGITS_PORT must be a port from 1 to 65535")
            }
            let tls =
                checkedURL.lowercased().hasPrefix("https://")
                ? " (the check speaks plain HTTP, as the server does, not TLS)" : ""
            throw ValidationError(
                "--url must be an http:// URL such as http://127.0.0.1:8080\(tls); got '\(checkedURL)'")
        }
    }

    func run() throws {
        guard let (host, port, path) = Self.parse(checkedURL) else { throw ExitCode.validationFailure }
        let target = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)\(path)"
        do {
            let result = try HTTPHealthProbe.get(
                host: host, port: port, path: path, timeoutSeconds: timeout, userAgent: "digits-healthcheck")
            if result.status == 200 {
                print("healthy: \(target) answered \(result.status) \(result.reasonPhrase)")
            } else {
                let reason = Self.failureReason(in: result.bodyPrefix).map { ": \($0)" } ?? ""
                print("unhealthy: \(target) answered \(result.status) \(result.reasonPhrase)\(reason)")
                throw ExitCode.failure
            }
        } catch let failure as HTTPHealthProbe.Failure {
            print("unhealthy: \(target): \(failure)")
            throw ExitCode.failure
        }
    }

    /// What a JSON answer says about why the check failed, on one line of at most 300 characters: an
    /// error's message (`error.message`, or `error` as the inference protocol writes it: no ready version,
    /// shutting down) or a model document's `status` (`draining`); `nil` for any other body.
    static func failureReason(in body: [UInt8]) -> String? {
        let document = try? JSONParser().parse(body)
        let error = document?["error"]
        let reason: String
        if case .string(let message)? = error?["message"] ?? error {
            reason = message
        } else if case .string(let status)? = document?["status"] {
            reason = "status \(status)"
        } else {
            return nil
        }
        let line = String(reason.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : Character($0) })
        return line.count > 300 ? String(line.prefix(300)) + "..." : line
    }

    /// `http://host[:port][/path][?query]`, with `[v6]` hosts, into what to ask for. A URL whose path is
    /// empty or ends in `/` is a base URL (the server's, or its prefix behind a proxy), and its health check
    /// `model` is asked for there: never the page at `/`, which answers 200 while the server drains. A
    /// fragment is the client's alone and is not sent.
    static func parse(_ url: String) -> (host: String, port: Int, path: String)? {
        guard url.lowercased().hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count).prefix { $0 != "#" }
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        let afterAuthority = rest.dropFirst(authority.count)
        var path = String(afterAuthority.prefix { $0 != "?" })
        let query = afterAuthority.dropFirst(path.count)
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
        guard !host.isEmpty, !host.contains("@"), (1...65535).contains(port),
            !(path + query).utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F })
        else { return nil }
        if path.isEmpty { path = "/" }
        if path.hasSuffix("/") { path += "model" }
        return (String(host), port, path + query)
    }
}
