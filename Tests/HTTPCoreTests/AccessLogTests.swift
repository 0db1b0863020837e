import Foundation
import Logging
import LoopbackClient
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
    /// The info lines logged while a server with `routes` answers `requests` (raw, pipelined) on one
    /// connection, `count` of them.
    static func infoLines(
        routes: Router, count: Int, requests: String, configure: (inout HTTPServerConfiguration) -> Void = { _ in }
    ) throws -> [CapturingLogHandler.Entry] {
        let handler = CapturingLogHandler()
        var configuration = HTTPServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configure(&configuration)
        let server = HTTPServer(
            configuration: configuration, logger: Logger(label: "test") { _ in handler }, responder: routes)
        try server.start()
        defer {
            server.shutdownNow()
            server.waitUntilStopped()
        }
        let client = try TestClient(port: server.port)
        try client.send(requests)
        for _ in 0..<count { _ = try client.readResponse() }
        #expect(!handler.captured.contains { $0.level >= .error }, "a client's mistake is not an error")
        return handler.captured.filter { $0.level == .info }
    }

    @Test("one info line per request with method, path, status, bytes, duration and request id")
    func accessLog() throws {
        var router = Router()
        router.get("/hello") { _ in HTTPResponse(contentType: "text/plain", body: Array("hello".utf8)) }
        let lines = try Self.infoLines(
            routes: router, count: 2,
            requests:
                "GET /hello HTTP/1.1\r\nHost: x\r\nX-Request-ID: abc-1\r\n\r\nGET /missing HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(lines.count == 2)
        #expect(lines.first?.message == "GET /hello 200")
        #expect(lines.first?.metadata["bytes"] == "5")
        #expect(lines.first?.metadata["request_id"] == "abc-1")
        #expect(lines.first?.metadata["duration_ms"] != nil)
        #expect(lines.last?.message == "GET /missing 404")
    }

    @Test("the response header fields the configuration names are logged, under their names in lower case")
    func loggedResponseHeaders() throws {
        var router = Router()
        router.get("/answer") { _ in
            HTTPResponse(
                headers: HTTPHeaders([("Model-Name", "binary"), ("Model-Version", "2")]), body: Array("1".utf8))
        }
        router.get("/plain") { _ in HTTPResponse(contentType: "text/plain", body: Array("x".utf8)) }
        let lines = try Self.infoLines(
            routes: router, count: 2,
            requests: "GET /answer HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n"
        ) { $0.loggedResponseHeaders = ["Model-Name", "Model-Version"] }
        #expect(lines.first?.metadata["model_name"] == "binary")
        #expect(lines.first?.metadata["model_version"] == "2")
        #expect(lines.last?.metadata["model_name"] == nil, "a response without the field logs no key")
    }
}

@Suite("Access log, the direct path")
struct DirectAccessLogTests {
    @Test("a line written straight into the buffered output is byte for byte the logger's line")
    func directEqualsLogger() throws {
        var descriptors: [Int32] = [0, 0]
        #expect(pipe(&descriptors) == 0)
        defer { close(descriptors[0]) }
        let output = BufferedLogOutput(descriptor: descriptors[1], flushInterval: .seconds(3600))
        let logger = Logger(label: "digits") { BufferedLogHandler(label: $0, output: output) }
        // A header named twice, and one whose key is a fixed one's: each logged once, the fixed kept.
        let headers = ["Model-Name", "Model-Version", "X-Absent", "Model-Name", "Status"]
        let direct = AccessLogObserver(logger: logger, loggedResponseHeaders: headers)
        let generic = AccessLogObserver(logger: logger, loggedResponseHeaders: headers, allowsDirectOutput: false)
        let exchanges = [
            HTTPExchange(
                head: HTTPRequestHead(method: "POST", target: "/predict?x=1", version: .http1_1, headers: [:]),
                routePattern: "/predict", status: 200, bodyBytes: 45,
                responseHeaders: HTTPHeaders([("Model-Name", "binary"), ("Model-Version", "2"), ("Status", "odd")]),
                requestID: "abc-1", durationNanoseconds: 123_456),
            HTTPExchange(
                head: nil, routePattern: nil, status: 400, bodyBytes: 0, responseHeaders: [:], requestID: "r-2",
                durationNanoseconds: 7_000_000_001),
        ]
        for exchange in exchanges {
            direct.requestFinished(exchange)
            generic.requestFinished(exchange)
        }
        output.flush()
        close(descriptors[1])
        var text = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(descriptors[0], &buffer, buffer.count)
            if count <= 0 { break }
            text += String(decoding: buffer[0..<count], as: UTF8.self)
        }
        let lines = text.split(separator: "\n").map { $0.dropFirst(24) }
        #expect(lines.count == 4)
        #expect(lines[0] == lines[1], "\(lines)")
        #expect(lines[2] == lines[3], "\(lines)")
        #expect(
            lines[0]
                == " info digits: bytes=45 duration_ms=0.123 model_name=binary model_version=2 request_id=abc-1 status=200 [HTTPCore] POST /predict 200"
        )
    }
}

/// A text stream that keeps what it is given.
final class CapturingStream: TextOutputStream, @unchecked Sendable {
    private let text = Mutex("")
    func write(_ string: String) { text.withLock { $0 += string } }
    var captured: String { text.withLock { $0 } }
}

@Suite("Buffered log output")
struct BufferedLogTests {
    @Test("lines are StreamLogHandler's, after a UTC timestamp; batched until flushed, notice and above at once")
    func sameFormatAsStreamLogHandler() throws {
        var descriptors: [Int32] = [0, 0]
        #expect(pipe(&descriptors) == 0)
        defer { close(descriptors[0]) }
        let output = BufferedLogOutput(descriptor: descriptors[1], flushInterval: .seconds(3600))
        let stream = CapturingStream()
        let ours = Logger(label: "digits") { BufferedLogHandler(label: $0, output: output) }
        let theirs = Logger(label: "digits") { StreamLogHandler(label: $0, stream: stream) }
        for logger in [ours, theirs] {
            logger.info("GET /x 200", metadata: ["status": "200", "bytes": "5", "request_id": "a-1"])
            logger.info("plain line")
        }
        _ = fcntl(descriptors[0], F_SETFL, O_NONBLOCK)
        var buffer = [UInt8](repeating: 0, count: 4096)
        #expect(read(descriptors[0], &buffer, buffer.count) < 0, "info lines wait for the batch")
        ours.notice("ready")
        theirs.notice("ready")
        // A notice line asks the flush thread to write everything soon.
        var text = ""
        let deadline = Date().addingTimeInterval(10)
        while text.split(separator: "\n").count < 3 && Date() < deadline {
            let count = read(descriptors[0], &buffer, buffer.count)
            if count > 0 { text += String(decoding: buffer[0..<count], as: UTF8.self) } else { usleep(1000) }
        }
        let written = text.split(separator: "\n")
        let expected = stream.captured.split(separator: "\n")
        #expect(written.count == 3 && expected.count == 3)
        for (line, reference) in zip(written, expected) {
            #expect(line.dropFirst(24) == reference.drop { $0 != " " }, "after the timestamp, the same text")
            #expect(line.dropFirst(19).hasPrefix("+0000 "), "\(line)")
        }
        close(descriptors[1])
    }

    @Test("a duration is written as the logger writes Double(microseconds) / 1000, whatever its size")
    func durationText() {
        var microseconds: [UInt64] = [0, 1, 9, 10, 35, 100, 999, 1000, 1001, 1050, 1200, 12_000, 123_456, 999_999]
        microseconds += [1_000_000, 86_400_000_000, 999_999_999_999_999, 1_000_000_000_000_000, 1 << 60]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 { microseconds.append(UInt64.random(in: 0..<1_000_000_000_000_000, using: &generator)) }
        for value in microseconds {
            // Nanoseconds below the microsecond are dropped, as the logger's line drops them.
            let nanoseconds = value.multipliedReportingOverflow(by: 1000).overflow ? value : value * 1000 + 999
            #expect(
                AccessLogObserver.millisecondsText(nanoseconds: nanoseconds)
                    == "\(Double(nanoseconds / 1000) / 1000)", "\(nanoseconds) ns")
        }
    }
}
