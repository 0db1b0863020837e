import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns a response into bytes: the status line, the handler's fields, and the fields the server owns.
enum HTTPResponseEncoder {
    /// Encodes `response`. `includeBody` is false for HEAD, whose response describes the body it omits
    /// (RFC 9110 §9.3.2); `closing` adds `Connection: close`, `keepAliveHTTP10` adds `Connection: keep-alive`.
    static func encode(
        _ response: HTTPResponse, includeBody: Bool, closing: Bool, keepAliveHTTP10: Bool, requestID: String?,
        serverName: String, date: String
    ) -> [UInt8] {
        var head = "HTTP/1.1 \(response.status.code) \(response.status.reasonPhrase)\r\n"
        for (name, value) in response.headers where !isServerOwned(name) {
            head += "\(name): \(value)\r\n"
        }
        if !response.status.forbidsBody {
            head += "Content-Length: \(response.body.count)\r\n"
        }
        head += "Date: \(date)\r\nServer: \(serverName)\r\n"
        if let requestID { head += "X-Request-ID: \(requestID)\r\n" }
        if closing {
            head += "Connection: close\r\n"
        } else if keepAliveHTTP10 {
            head += "Connection: keep-alive\r\n"
        }
        head += "\r\n"
        var bytes = Array(head.utf8)
        if includeBody && !response.status.forbidsBody { bytes += response.body }
        return bytes
    }

    /// Fields the server sets itself, which a handler's copy must not duplicate.
    static func isServerOwned(_ name: String) -> Bool {
        for owned in ["Content-Length", "Transfer-Encoding", "Date", "Server", "Connection", "X-Request-ID"]
        where HTTPHeaders.namesMatch(name, owned) {
            return true
        }
        return false
    }

    /// The interim response to `Expect: 100-continue`.
    static let continueResponse = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
}

/// The `Date` field value (IMF-fixdate, RFC 9110 §5.6.7), formatted once per second and shared.
final class HTTPDateCache: Sendable {
    private let cache = Mutex<(second: time_t, text: String)>((-1, ""))

    /// The current second's value, such as `Tue, 24 Nov 2026 19:30:00 GMT`.
    func current() -> String {
        var now = time_t()
        time(&now)
        return cache.withLock { cache in
            if now != cache.second {
                cache = (now, Self.format(now))
            }
            return cache.text
        }
    }

    static func format(_ seconds: time_t) -> String {
        var value = seconds
        var parts = tm()
        gmtime_r(&value, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ number: Int32) -> String { number < 10 ? "0\(number)" : "\(number)" }
        return
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
