import Foundation
import LoopbackClient
import Synchronization
import Testing

@testable import HTTPCore

/// End-to-end tests over real loopback sockets. No test asserts on speed; waits are bounded by generous
/// timeouts so a broken server fails instead of hanging.
@Suite("HTTP server over loopback", .serialized)
struct HTTPServerTests {
    @Test("keep-alive: several requests on one connection, with the server's own fields")
    func keepAlive() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        for _ in 0..<3 {
            try client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 200 && response.reason == "OK")
            #expect(response.text == "hello")
            #expect(response.header("Content-Length") == "5")
            #expect(response.header("Content-Type") == "text/plain")
            #expect(response.header("Server") == "HTTPCore")
            #expect(response.header("Date")?.hasSuffix(" GMT") == true)
            #expect(response.header("X-Request-ID") != nil)
            #expect(response.header("Connection") == nil)
        }
    }

    @Test("HTTP/1.0 closes by default and keeps alive on request")
    func http10() throws {
        let server = try TestServer()
        defer { server.stop() }
        let plain = try TestClient(port: server.port)
        try plain.send("GET /hello HTTP/1.0\r\n\r\n")
        #expect(try plain.readResponse().header("Connection") == "close")
        #expect(plain.readsEndOfStream())
        let keepAlive = try TestClient(port: server.port)
        for _ in 0..<2 {
            try keepAlive.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(try keepAlive.readResponse().header("Connection") == "keep-alive")
        }
    }

    @Test("Connection: close from the client is honoured")
    func connectionClose() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        try client.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200 && response.header("Connection") == "close")
        #expect(client.readsEndOfStream())
    }

    @Test("100 pipelined requests in one write are answered in order")
    func pipelining() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        try client.send((0..<100).map { "GET /items/\($0) HTTP/1.1\r\nHost: x\r\n\r\n" }.joined())
        for index in 0..<100 {
            #expect(try client.readResponse().text == "item \(index)")
        }
    }

    @Test("Expect: 100-continue is answered before the body is sent")
    func expectContinue() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        let body = String(repeating: "x", count: 4096)
        try client.send(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\nExpect: 100-continue\r\n\r\n")
        // The client waits here, as curl does; only the server's interim answer lets it go on.
        let interim = try client.readResponse()
        #expect(interim.status == 100)
        try client.send(body)
        let response = try client.readResponse()
        #expect(response.status == 200 && response.body.count == 4096)
    }

    @Test("other expectations get 417")
    func otherExpectation() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: teapot\r\n\r\n")
        #expect(try client.readResponse().status == 417)
    }

    @Test("chunked request bodies are decoded")
    func chunked() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        try client.send(
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n")
        #expect(try client.readResponse().text == "Wikipedia")
    }

    @Test("HEAD is served from GET without a body; 404; 405 with Allow; OPTIONS")
    func routing() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        try client.send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try client.readResponse(forHead: true)
        #expect(head.status == 200 && head.header("Content-Length") == "5" && head.body.isEmpty)
        try client.send("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
        let notFound = try client.readResponse()
        #expect(notFound.status == 404 && notFound.header("Content-Type") == "application/json")
        #expect(notFound.text.contains("\"code\":\"not_found\""))
        try client.send("DELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        let notAllowed = try client.readResponse()
        #expect(notAllowed.status == 405 && notAllowed.header("Allow") == "GET, HEAD, OPTIONS")
        try client.send("OPTIONS /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        let options = try client.readResponse()
        #expect(options.status == 204 && options.header("Allow") == "OPTIONS, POST")
        try client.send("GET /fail HTTP/1.1\r\nHost: x\r\n\r\n")
        let failure = try client.readResponse()
        #expect(failure.status == 500 && failure.text.contains("internal_error"))
        try client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().status == 200, "the connection survives handler errors")
    }

    @Test("a sane X-Request-ID is echoed; otherwise one is made")
    func requestID() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        try client.send("GET /request-id HTTP/1.1\r\nHost: x\r\nX-Request-ID: trace-123.abc\r\n\r\n")
        let echoed = try client.readResponse()
        #expect(echoed.header("X-Request-ID") == "trace-123.abc" && echoed.text == "trace-123.abc")
        try client.send("GET /request-id HTTP/1.1\r\nHost: x\r\nX-Request-ID: bad id <script>\r\n\r\n")
        let made = try client.readResponse()
        #expect(made.header("X-Request-ID") != "bad id <script>")
        #expect(made.header("X-Request-ID") == made.text && !made.text.isEmpty)
    }

    @Test(
        "malformed requests get 400 and a closed connection",
        arguments: [
            ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
            ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
            ("GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505),
        ])
    func malformed(raw: String, status: Int) throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        try client.send(raw)
        let response = try client.readResponse()
        #expect(response.status == status)
        #expect(response.header("Connection") == "close")
        #expect(response.header("Content-Type") == "application/json")
        #expect(client.readsEndOfStream())
    }

    @Test("headers over the limit get 431; a body over the limit gets 413 without being read")
    func limits() throws {
        let server = try TestServer { $0.limits = HTTPParserLimits(maxHeaderBytes: 1024, maxBodyBytes: 1000) }
        defer { server.stop() }
        let big = try TestClient(port: server.port)
        try big.send("GET /hello HTTP/1.1\r\nHost: x\r\nX: \(String(repeating: "a", count: 2000))\r\n\r\n")
        #expect(try big.readResponse().status == 431)
        let upload = try TestClient(port: server.port)
        // Only the head is sent: the 413 must come without the server waiting for 10 MB.
        try upload.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        let response = try upload.readResponse()
        #expect(response.status == 413 && response.header("Connection") == "close")
        #expect(response.text.contains("1000 bytes"))
    }

    @Test("a client sending its head one byte at a time is cut off by the header timeout")
    func slowloris() throws {
        let server = try TestServer { $0.headerTimeout = .seconds(2) }
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        let head = Array(
            "GET /hello HTTP/1.1\r\nHost: x\r\nX-Padding: \(String(repeating: "a", count: 40))\r\n\r\n".utf8)
        var sent = 0
        var response: TestClient.Response?
        // One byte every 500 ms: the 2 s timeout passes long before the 70-byte head is complete.
        for byte in head {
            guard (try? client.send([byte])) != nil else { break }
            sent += 1
            Thread.sleep(forTimeInterval: 0.5)
            var readable = pollfd(fd: client.descriptor, events: Int16(POLLIN), revents: 0)
            if poll(&readable, 1, 0) > 0 {
                response = try client.readResponse()
                break
            }
        }
        #expect(response?.status == 408)
        #expect(sent < head.count)
        #expect(client.readsEndOfStream())
    }

    @Test("a stalled body gets 408; an idle connection is closed quietly")
    func bodyAndIdleTimeouts() throws {
        let server = try TestServer {
            $0.bodyTimeout = .seconds(1)
            $0.idleTimeout = .seconds(1)
        }
        defer { server.stop() }
        let stalled = try TestClient(port: server.port)
        try stalled.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        #expect(try stalled.readResponse().status == 408)
        let idle = try TestClient(port: server.port)
        try idle.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try idle.readResponse().status == 200)
        #expect(idle.readsEndOfStream(), "closed after the idle timeout without a response")
    }

    @Test("over the connection limit a new connection gets 503 and is closed; freed slots are reused")
    func connectionLimit() throws {
        let server = try TestServer { $0.maxConnections = 3 }
        defer { server.stop() }
        var clients: [TestClient] = []
        for _ in 0..<3 {
            let client = try TestClient(port: server.port)
            try client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().status == 200)
            clients.append(client)
        }
        let refused = try TestClient(port: server.port)
        let response = try refused.readResponse()
        #expect(response.status == 503 && response.header("Retry-After") == "1")
        #expect(response.text.contains("too_many_connections"))
        #expect(refused.readsEndOfStream())
        // Free a slot; the server notices the close, and a new client is served.
        clients.removeFirst()
        var served = false
        for _ in 0..<100 where !served {
            Thread.sleep(forTimeInterval: 0.05)
            guard server.server.connectionCount < 3, let client = try? TestClient(port: server.port) else { continue }
            try client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            served = (try? client.readResponse().status) == 200
        }
        #expect(served)
    }

    @Test("500 concurrent keep-alive connections are all served, twice each")
    func manyConnections() throws {
        let server = try TestServer()
        defer { server.stop() }
        let clients = try (0..<500).map { _ in try TestClient(port: server.port) }
        for round in 0..<2 {
            for (index, client) in clients.enumerated() {
                try client.send("GET /items/\(index)-\(round) HTTP/1.1\r\nHost: x\r\n\r\n")
            }
            for (index, client) in clients.enumerated() {
                #expect(try client.readResponse().text == "item \(index)-\(round)")
            }
        }
        #expect(server.server.connectionCount == 500)
    }

    @Test("a slow handler does not hold up other connections")
    func slowHandler() throws {
        let release = DispatchSemaphore(value: 0)
        let server = try TestServer(extraRoutes: { router in
            router.get("/slow") { _ in
                _ = release.wait(timeout: .now() + 30)
                return HTTPResponse(contentType: "text/plain", body: Array("slow".utf8))
            }
        })
        defer { server.stop() }
        let slow = try TestClient(port: server.port)
        try slow.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        // While /slow is blocked in its handler, other connections are answered.
        for _ in 0..<5 {
            let fast = try TestClient(port: server.port)
            try fast.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try fast.readResponse().text == "hello")
        }
        release.signal()
        #expect(try slow.readResponse().text == "slow")
    }

    @Test("shutdown: the hook runs, an in-flight request completes, then the server stops")
    func gracefulShutdown() throws {
        let handlerStarted = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let hookCalls = Atomic<Int>(0)
        let server = try TestServer(
            configure: { configuration in
                configuration.onShutdown = { hookCalls.add(1, ordering: .relaxed) }
                configuration.gracePeriod = .seconds(20)
            },
            extraRoutes: { router in
                router.get("/slow") { _ in
                    handlerStarted.signal()
                    _ = release.wait(timeout: .now() + 30)
                    return HTTPResponse(contentType: "text/plain", body: Array("finished".utf8))
                }
            })
        let idle = try TestClient(port: server.port)
        try idle.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try idle.readResponse().status == 200)
        let inFlight = try TestClient(port: server.port)
        try inFlight.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(handlerStarted.wait(timeout: .now() + 10) == .success)

        server.server.shutdown()
        #expect(idle.readsEndOfStream(), "the idle connection is closed")
        // The listener closes asynchronously, on the accept queue: wait (boundedly) for connects to be refused.
        var refused = false
        for _ in 0..<200 where !refused {
            refused = (try? TestClient(port: server.port)) == nil
            if !refused { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(refused, "new connections are refused")
        release.signal()
        let response = try inFlight.readResponse()
        #expect(response.text == "finished" && response.header("Connection") == "close")
        server.server.waitUntilStopped()
        #expect(hookCalls.load(ordering: .relaxed) == 1)
        #expect(server.server.connectionCount == 0)
    }

    @Test("the drain delay keeps serving before the listener closes")
    func drainDelay() throws {
        let server = try TestServer { $0.drainDelay = .seconds(2) }
        server.server.shutdown()
        let client = try TestClient(port: server.port)
        try client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200 && response.header("Connection") == "close")
        server.server.waitUntilStopped()
    }

    @Test("a client that half-closes after its request still gets the response")
    func halfClose() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        try client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        client.shutdownWrite()
        #expect(try client.readResponse().text == "hello")
        #expect(client.readsEndOfStream())
    }

    @Test("a port in use is reported with the system's reason")
    func portInUse() throws {
        let first = try TestServer()
        defer { first.stop() }
        var configuration = HTTPServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = first.port
        let second = HTTPServer(configuration: configuration, logger: .init(label: "test")) { _ in HTTPResponse() }
        #expect(throws: SocketError(operation: "bind", code: EADDRINUSE)) { try second.start() }
    }

    @Test("IPv6 loopback")
    func ipv6() throws {
        var configuration = HTTPServerConfiguration()
        configuration.host = "::1"
        configuration.port = 0
        let server = HTTPServer(configuration: configuration, logger: .init(label: "test")) { _ in
            HTTPResponse(contentType: "text/plain", body: Array("six".utf8))
        }
        do {
            try server.start()
        } catch {
            // A machine without IPv6 on loopback cannot run this test; that is not the server's fault.
            return
        }
        defer {
            server.shutdownNow()
            server.waitUntilStopped()
        }
        let descriptor = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = UInt16(server.port).bigEndian
        address.sin6_addr = in6addr_loopback
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
            }
        }
        #expect(connected == 0)
        let request = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
        var buffer = [UInt8](repeating: 0, count: 1024)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        #expect(String(decoding: buffer[0..<max(0, count)], as: UTF8.self).hasSuffix("six"))
    }
}
