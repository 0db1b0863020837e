import Foundation
import Logging
import Testing

@testable import HTTPCore

/// A ``Connection`` driven directly over `socketpair()`, without a listener.
@Suite("Connection over a socket pair")
struct ConnectionTests {
    /// Runs a connection on one end of a socket pair and returns the other end, with a semaphore signalled on close.
    func connectedPair(
        configure: (inout HTTPServerConfiguration) -> Void = { _ in },
        handler: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse
    ) -> (client: Int32, closed: DispatchSemaphore, connection: Connection) {
        var descriptors: [Int32] = [0, 0]
        socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &descriptors)
        _ = fcntl(descriptors[0], F_SETFL, fcntl(descriptors[0], F_GETFL) | O_NONBLOCK)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptors[1], SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var configuration = HTTPServerConfiguration()
        configure(&configuration)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let context = ServerContext(
            configuration: configuration, responder: ClosureResponder(handler: handler), logger: logger)
        let closed = DispatchSemaphore(value: 0)
        let loop = try! EventLoop(index: 0, tickInterval: context.tick)
        loop.start()
        let connection = Connection(id: 1, socket: Socket(descriptor: descriptors[0]), loop: loop, context: context) {
            _ in closed.signal()
        }
        loop.execute { connection.start() }
        return (descriptors[1], closed, connection)
    }

    func readAll(_ descriptor: Int32) -> String {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            output += buffer[0..<count]
        }
        return String(decoding: output, as: UTF8.self)
    }

    @Test("answers a request and closes when asked, closing its descriptor")
    func requestAndClose() {
        let (client, closed, _) = connectedPair { request in
            HTTPResponse(contentType: "text/plain", body: Array("got \(request.path)".utf8))
        }
        defer { close(client) }
        let request = Array("GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(client, $0.baseAddress, $0.count, 0) }
        let response = readAll(client)
        #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(response.contains("\r\nConnection: close\r\n"))
        #expect(response.hasSuffix("\r\n\r\ngot /x"))
        #expect(closed.wait(timeout: .now() + 10) == .success)
    }

    @Test("a large response to a client that reads slowly is delivered whole (partial writes, EAGAIN)")
    func backpressure() {
        let size = 8 * 1024 * 1024
        let (client, closed, _) = connectedPair { _ in
            HTTPResponse(contentType: "application/octet-stream", body: [UInt8](repeating: 7, count: size))
        }
        defer { close(client) }
        let request = Array("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(client, $0.baseAddress, $0.count, 0) }
        Thread.sleep(forTimeInterval: 0.2)  // let the server fill the socket buffer and wait on EAGAIN
        var received = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += count
        }
        #expect(received > size)
        #expect(closed.wait(timeout: .now() + 10) == .success)
    }

    @Test("the peer vanishing mid-response does not crash the server (EPIPE, no SIGPIPE)")
    func peerVanishes() {
        signal(SIGPIPE, SIG_IGN)
        let (client, closed, _) = connectedPair { _ in
            HTTPResponse(contentType: "application/octet-stream", body: [UInt8](repeating: 1, count: 4 * 1024 * 1024))
        }
        let request = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(client, $0.baseAddress, $0.count, 0) }
        close(client)
        #expect(closed.wait(timeout: .now() + 10) == .success)
    }
}
