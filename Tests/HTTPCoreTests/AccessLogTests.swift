import Logging
import Synchronization
import Testing

@testable import HTTPCore

/// A log handler that keeps what it is given, for asserting on log lines.
final class CapturingLogHandler: LogHandler, @unchecked Sendable {
    struct Entry {
        let level: Logger.Level
        let message: String
        let metadata: Logger.Metadata
    }

    private let entries = Mutex<[Entry]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        entries.withLock {
            $0.append(Entry(level: event.level, message: "\(event.message)", metadata: event.metadata ?? [:]))
        }
    }

    var captured: [Entry] { entries.withLock { $0 } }
}

@Suite("Access log")
struct AccessLogTests {
    @Test("one info line per request with method, path, status, bytes, duration and request id")
    func accessLog() throws {
        let handler = CapturingLogHandler()
        var configuration = HTTPServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        var router = Router()
        router.get("/hello") { _ in HTTPResponse(contentType: "text/plain", body: Array("hello".utf8)) }
        let routes = router
        let server = HTTPServer(configuration: configuration, logger: Logger(label: "test") { _ in handler }) {
            try routes.handle($0)
        }
        try server.start()
        defer {
            server.shutdownNow()
            server.waitUntilStopped()
        }
        let client = try TestClient(port: server.port)
        try client.send(
            "GET /hello HTTP/1.1\r\nHost: x\r\nX-Request-ID: abc-1\r\n\r\nGET /missing HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = try client.readResponse()
        _ = try client.readResponse()
        let lines = handler.captured.filter { $0.level == .info }
        #expect(lines.count == 2)
        #expect(lines.first?.message == "GET /hello 200")
        #expect(lines.first?.metadata["bytes"] == "5")
        #expect(lines.first?.metadata["request_id"] == "abc-1")
        #expect(lines.first?.metadata["duration_ms"] != nil)
        #expect(lines.last?.message == "GET /missing 404")
        #expect(!handler.captured.contains { $0.level >= .error }, "a client's mistake is not an error")
    }
}
