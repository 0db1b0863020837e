import Glibc

/// A one-shot `GET` over a plain socket, for health checks from inside a container that has no curl.
///
/// Deliberately tiny: HTTP only (no TLS), one request with `Connection: close`, every step bounded by the
/// timeout. It reads the head, and for an answer other than 200 the body as far as its `Content-Length`
/// (at most 16 KiB in all), which says why the check failed; it does not wait for a close that a server
/// keeping the connection open would never send.
public enum HTTPHealthProbe {
    public struct Result: Sendable, Equatable {
        public let status: Int
        /// The status line's reason phrase, made printable (``printable(_:limit:)``), at most 100 characters.
        public let reasonPhrase: String
        /// The body's first bytes, as far as the 16 KiB read reached (an error answer or a model document
        /// fits); empty for a 200.
        public let bodyPrefix: [UInt8]
    }

    /// How much of a response the probe reads.
    static let maximumResponseBytes = 16384

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Text from a server, fit for one line of a log: control, format and line-separator characters
    /// become spaces (no escape sequence or NUL reaches a terminal or a container's log), cut to `limit`.
    public static func printable(_ text: some StringProtocol, limit: Int) -> String {
        let line = String(
            String.UnicodeScalarView(
                text.unicodeScalars.map { scalar in
                    switch scalar.properties.generalCategory {
                    case .control, .format, .lineSeparator, .paragraphSeparator: " "
                    default: scalar
                    }
                }))
        return line.count > limit ? String(line.prefix(limit - 3)) + "..." : line
    }

    /// Sends `GET` for `url` and returns the response's status and the start of its body.
    public static func get(
        _ url: HealthCheckURL, timeoutSeconds: Double, userAgent: String = "HTTPCore-probe"
    ) throws(Failure) -> Result {
        let (host, port) = (url.host, url.port)
        let deadline = now() + timeoutSeconds
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let address = list else {
            throw Failure(description: "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }

        let descriptor = socket(address.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket failed: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        if connect(descriptor, address.pointee.ai_addr, address.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
            throw Failure(description: "cannot connect to \(host):\(port): \(String(cString: strerror(errno)))")
        }
        try wait(descriptor, for: Int16(POLLOUT), until: deadline, doing: "connecting to \(host):\(port)")
        var socketError: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &socketError, &length)
        guard socketError == 0 else {
            throw Failure(description: "cannot connect to \(host):\(port): \(String(cString: strerror(socketError)))")
        }

        let request = Array(
            "GET \(url.target) HTTP/1.1\r\nHost: \(url.hostField)\r\nUser-Agent: \(userAgent)\r\nConnection: close\r\n\r\n"
                .utf8)
        var sent = 0
        while sent < request.count {
            try wait(descriptor, for: Int16(POLLOUT), until: deadline, doing: "sending the request")
            let count = request[sent...].withUnsafeBytes {
                send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if count < 0 && errno != EAGAIN && errno != EINTR {
                throw Failure(description: "sending the request failed: \(String(cString: strerror(errno)))")
            }
            sent += max(0, count)
        }

        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while received.count < maximumResponseBytes && !isComplete(received) {
            do throws(Failure) {
                try wait(descriptor, for: Int16(POLLIN), until: deadline, doing: "waiting for the response")
            } catch {
                // The status line is the verdict; a body still arriving when the time is up is left unread.
                if received.contains(UInt8(ascii: "\n")) { break }
                throw error
            }
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { break }
            if count < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                throw Failure(description: "reading the response failed: \(String(cString: strerror(errno)))")
            }
            received += buffer[0..<min(count, maximumResponseBytes - received.count)]
        }
        let line = String(
            decoding: received.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        // status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] (RFC 9112 §4).
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].utf8.count == 3,
            parts[1].utf8.allSatisfy(HTTPSyntax.isDigit), let code = Int(parts[1])
        else {
            throw Failure(description: "not an HTTP response: '\(printable(line, limit: 80))'")
        }
        let headEnd = received.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound ?? received.endIndex
        return Result(
            status: code, reasonPhrase: parts.count > 2 ? printable(parts[2], limit: 100) : "",
            bodyPrefix: code == 200 ? [] : Array(received[headEnd...]))
    }

    /// Whether `received` holds all the probe reads: the head of a 200, or the head and as much body as
    /// its `Content-Length` says of any other answer. Without a length, the body ends at the close.
    static func isComplete(_ received: [UInt8]) -> Bool {
        guard let headEnd = received.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound else { return false }
        if received.starts(with: "HTTP/1.1 200 ".utf8) || received.starts(with: "HTTP/1.0 200 ".utf8) { return true }
        let head = String(decoding: received[..<headEnd], as: UTF8.self).lowercased()
        guard let field = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
            let length = Int(field.dropFirst("content-length:".count).trimmingHTTPWhitespace())
        else { return false }
        return received.count - headEnd >= length
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    private static func wait(
        _ descriptor: Int32, for events: Int16, until deadline: Double, doing what: String
    ) throws(Failure) {
        while true {
            let remaining = deadline - now()
            guard remaining > 0 else { throw Failure(description: "timed out \(what)") }
            var entry = pollfd(fd: descriptor, events: events, revents: 0)
            let result = poll(&entry, 1, Int32(min(remaining * 1000, 60_000)) + 1)
            if result > 0 { return }
            if result < 0 && errno != EINTR {
                throw Failure(description: "poll failed: \(String(cString: strerror(errno)))")
            }
        }
    }
}
