import Foundation
import Glibc
import Synchronization
import Testing

@testable import HTTPCore

/// A listener on 127.0.0.1 that answers one connection with canned bytes: what a broken, slow or hostile
/// server sends a health check. It reads the request head first, and after writing keeps the connection
/// open until the client closes it or `holdSeconds` pass (a server that ignores `Connection: close`), and
/// records which came first.
final class CannedServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let done = DispatchSemaphore(value: 0)
    private let closedFirst = Atomic<Bool>(false)

    /// Whether the client closed the connection before the hold ended: a probe that waited for the
    /// server's close instead would see the hold end first. Waits for the connection's end.
    var clientClosedFirst: Bool {
        stop()
        return closedFirst.load(ordering: .relaxed)
    }

    init(answer: [UInt8], holdSeconds: Double = 0) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(listener, pointer, length) == 0 && listen(listener, 1) == 0
                    && getsockname(listener, pointer, &length) == 0
            }
        }
        guard listener >= 0, bound else { throw CancellationError() }
        self.listener = listener
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in
            let connection = accept(listener, nil, nil)
            if connection >= 0 {
                var request: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 1024)
                while request.firstRange(of: Array("\r\n\r\n".utf8)) == nil {
                    let count = recv(connection, &buffer, buffer.count, 0)
                    if count <= 0 { break }
                    request += buffer[0..<count]
                }
                _ = answer.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                // Held open until the client's close (readable at its end of stream) or the hold's end.
                var entry = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
                closedFirst.store(poll(&entry, 1, Int32(holdSeconds * 1000)) > 0, ordering: .relaxed)
                close(connection)
            }
            done.signal()
        }
    }

    /// Waits for the connection's end (bounded), then stops listening; once, however often it is called.
    func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        _ = done.wait(timeout: .now() + 120)
        close(listener)
    }
    private let stopped = Atomic<Bool>(false)
}

@Suite("The health probe and its URL")
struct HealthProbeTests {
    @Test(
        "a URL is parsed as the server would take its parts",
        arguments: [
            ("http://127.0.0.1:8080", "127.0.0.1", 8080, "/model"),
            ("HTTP://Example.com", "Example.com", 80, "/model"),
            ("http://[::1]:9000/", "::1", 9000, "/model"),
            ("http://[::1]", "::1", 80, "/model"),
            ("http://h:1/prefix/", "h", 1, "/prefix/model"),
            ("http://h:1/?probe=1#frag", "h", 1, "/model?probe=1"),
            ("http://h:1?x", "h", 1, "/model?x"),
            ("http://h:1/v2/health/live", "h", 1, "/v2/health/live"),
            ("http://h:1/a@b/%41", "h", 1, "/a@b/%41"),
        ])
    func parsesURLs(url: String, host: String, port: Int, target: String) throws {
        let parsed = try #require(HealthCheckURL(url))
        #expect(parsed.host == host && parsed.port == port && parsed.target == target)
    }

    @Test(
        "a URL the probe cannot ask, or that a strict server would refuse, is refused",
        arguments: [
            "https://h/", "h:8080", "http://", "http://:80", "http://h:", "http://h:0", "http://h:65536",
            "http://h:+80", "http://user@h/", "http://::1", "http://a:b:80", "http://h\r\nX: y/", "http://h/a b",
            "http://h/%zz", "http://h/\"", "http://[fe80::1%25eth0]/", "http://h/é",
        ])
    func refusesURLs(url: String) {
        #expect(HealthCheckURL(url) == nil, "\(url)")
    }

    @Test("a 200 is read without waiting for a close the server never sends")
    func doesNotWaitForClose() throws {
        let server = try CannedServer(
            answer: Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".utf8), holdSeconds: 20)
        defer { server.stop() }
        // The timeout outlasts the hold, so a probe that waited for the close would get it from the server.
        let result = try HTTPHealthProbe.get(HealthCheckURL("http://127.0.0.1:\(server.port)")!, timeoutSeconds: 120)
        #expect(result.status == 200 && result.reasonPhrase == "OK" && result.bodyPrefix.isEmpty)
        #expect(server.clientClosedFirst, "the probe waited for the server to close")
    }

    @Test("another status's body is read as far as its Content-Length, at most 16 KiB, without a close")
    func readsTheReason() throws {
        let body = #"{"error":{"code":"not_ready","message":"shutting down"}}"#
        let server = try CannedServer(
            answer: Array("HTTP/1.1 503 Service Unavailable\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8),
            holdSeconds: 20)
        defer { server.stop() }
        let result = try HTTPHealthProbe.get(HealthCheckURL("http://127.0.0.1:\(server.port)")!, timeoutSeconds: 120)
        #expect(result.status == 503 && String(decoding: result.bodyPrefix, as: UTF8.self) == body)
        #expect(server.clientClosedFirst, "the probe waited for the server to close")

        let huge = try CannedServer(
            answer: Array("HTTP/1.1 500 Oops\r\nContent-Length: 100000\r\n\r\n".utf8)
                + Array(repeating: 0x41, count: 100_000))
        defer { huge.stop() }
        let cut = try HTTPHealthProbe.get(HealthCheckURL("http://127.0.0.1:\(huge.port)")!, timeoutSeconds: 15)
        #expect(cut.status == 500 && cut.bodyPrefix.count < HTTPHealthProbe.maximumResponseBytes)
    }

    @Test(
        "what a server sends is printed only as printable text, and a status line must be one",
        arguments: [
            ("HTTP/1.1 503 Bad\u{1B}[31m\u{0}Red\u{2028}x\r\n\r\n", "503 Bad [31m Red x"),
            (
                "HTTP/1.1 503 " + String(repeating: "y", count: 500) + "\r\n\r\n",
                "503 " + String(repeating: "y", count: 97) + "..."
            ),
            ("HTTP/1.1 +200 OK\r\n\r\n", "not an HTTP response: 'HTTP/1.1 +200 OK'"),
            ("HTTP/1.1 0200 OK\r\n\r\n", "not an HTTP response"),
            ("SSH-2.0-OpenSSH\u{1B}]0;title\u{7}\r\n", "not an HTTP response: 'SSH-2.0-OpenSSH ]0;title '"),
            ("HTTP/1.1 20", "not an HTTP response"),
        ])
    func printableOnly(answer: String, expected: String) throws {
        let server = try CannedServer(answer: Array(answer.utf8))
        defer { server.stop() }
        let url = HealthCheckURL("http://127.0.0.1:\(server.port)")!
        let line: String
        do {
            let result = try HTTPHealthProbe.get(url, timeoutSeconds: 15)
            line = "\(result.status) \(result.reasonPhrase)"
        } catch {
            line = "\(error)"
        }
        #expect(line.hasPrefix(expected), "\(line)")
        #expect(!line.unicodeScalars.contains { $0.value < 0x20 || $0 == "\u{2028}" }, "\(line)")
    }
}
