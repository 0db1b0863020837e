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

    @Option(help: "Seconds to wait for the answer: less than the container's check allows (3 s in the Dockerfile).")
    var timeout: Double = 2

    /// The URL to check: `--url`, or this machine's server on `DIGITS_PORT`.
    func checkedURL() throws -> HealthCheckURL {
        if let url {
            guard let parsed = HealthCheckURL(url) else {
                let tls =
                    url.lowercased().hasPrefix("https://")
                    ? " (the check speaks plain HTTP, as the server does, not TLS)" : ""
                throw ValidationError(
                    "--url must be an http:// URL such as http://127.0.0.1:8080\(tls); got '\(HTTPHealthProbe.printable(url, limit: 200))'"
                )
            }
            return parsed
        }
        let text = getenv("DIGITS_PORT").map { String(cString: $0) } ?? "8080"
        guard let port = Int(text), (1...65535).contains(port) else {
            throw ValidationError(
                "the environment variable DIGITS_PORT='\(HTTPHealthProbe.printable(text, limit: 64))' is not a port: give a whole number from 1 to 65535, or --url"
            )
        }
        return HealthCheckURL("http://127.0.0.1:\(port)")!
    }

    func validate() throws {
        guard timeout > 0, timeout.isFinite else {
            throw ValidationError("--timeout must be a positive number of seconds")
        }
        _ = try checkedURL()
    }

    func run() throws {
        let url = try checkedURL()
        do {
            let result = try HTTPHealthProbe.get(url, timeoutSeconds: timeout, userAgent: "digits-healthcheck")
            if result.status == 200 {
                print("healthy: \(url) answered \(result.status) \(result.reasonPhrase)")
            } else {
                let reason = Self.failureReason(in: result.bodyPrefix).map { ": \($0)" } ?? ""
                print("unhealthy: \(url) answered \(result.status) \(result.reasonPhrase)\(reason)")
                throw ExitCode.failure
            }
        } catch let failure as HTTPHealthProbe.Failure {
            print("unhealthy: \(url): \(HTTPHealthProbe.printable(failure.description, limit: 300))")
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
        return HTTPHealthProbe.printable(reason, limit: 300)
    }
}
