import Glibc
import JSON

/// Turns a response into bytes: the status line, the handler's fields, and the fields the server owns.
enum HTTPResponseEncoder {
    /// Appends `response` to `output`: the status line, the handler's fields, the fields the server owns,
    /// and the body. `includeBody` is false for HEAD, whose response describes the body it omits (RFC 9110
    /// §9.3.2); `closing` adds `Connection: close`, `keepAliveHTTP10` adds `Connection: keep-alive`.
    static func encode(
        _ response: HTTPResponse, into output: inout [UInt8], includeBody: Bool, closing: Bool, keepAliveHTTP10: Bool,
        requestID: String?, serverName: String, date: String
    ) {
        output.reserveCapacity(output.count + 256 + response.body.count)
        output.appendText("HTTP/1.1 ")
        appendDecimal(response.status.code, to: &output)
        output.append(UInt8(ascii: " "))
        output.appendText(response.status.reasonPhrase)
        output.appendText("\r\n")
        for (name, value) in response.headers where !isServerOwned(name) {
            appendField(name, value, to: &output)
        }
        if !response.status.forbidsBody {
            output.appendText("Content-Length: ")
            appendDecimal(response.body.count, to: &output)
            output.appendText("\r\n")
        }
        appendField("Date", date, to: &output)
        appendField("Server", serverName, to: &output)
        if let requestID { appendField("X-Request-ID", requestID, to: &output) }
        if closing {
            output.appendText("Connection: close\r\n")
        } else if keepAliveHTTP10 {
            output.appendText("Connection: keep-alive\r\n")
        }
        output.appendText("\r\n")
        if includeBody && !response.status.forbidsBody { output += response.body }
    }

    /// The same, as a new array.
    static func encode(
        _ response: HTTPResponse, includeBody: Bool, closing: Bool, keepAliveHTTP10: Bool, requestID: String?,
        serverName: String, date: String
    ) -> [UInt8] {
        var output: [UInt8] = []
        encode(
            response, into: &output, includeBody: includeBody, closing: closing, keepAliveHTTP10: keepAliveHTTP10,
            requestID: requestID, serverName: serverName, date: date)
        return output
    }

    private static func appendField(_ name: String, _ value: String, to output: inout [UInt8]) {
        output.appendText(name)
        output.appendText(": ")
        output.appendText(value)
        output.appendText("\r\n")
    }

    private static func appendDecimal(_ value: Int, to output: inout [UInt8]) {
        guard value >= 10 else {
            output.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        appendDecimal(value / 10, to: &output)
        output.append(UInt8(ascii: "0") + UInt8(value % 10))
    }

    private static let serverOwnedNames = [
        "Content-Length", "Transfer-Encoding", "Date", "Server", "Connection", "X-Request-ID",
    ]

    /// Fields the server sets itself, which a handler's copy must not duplicate.
    static func isServerOwned(_ name: String) -> Bool {
        for owned in serverOwnedNames where HTTPHeaders.namesMatch(name, owned) {
            return true
        }
        return false
    }

    /// The interim response to `Expect: 100-continue`.
    static let continueResponse = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
}

/// The `Date` field value (IMF-fixdate, RFC 9110 §5.6.7), formatted once per second.
///
/// Each connection keeps its own: a cache shared between threads behind a lock was measured as the single
/// largest cost under load (15 % of the CPU profile, all of it contention).
struct HTTPDateCache {
    private var second: time_t = -1
    private var text = ""

    /// The current second's value, such as `Tue, 24 Nov 2026 19:30:00 GMT`.
    mutating func current() -> String {
        var now = time_t()
        time(&now)
        if now != second {
            second = now
            text = Self.format(now)
        }
        return text
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
