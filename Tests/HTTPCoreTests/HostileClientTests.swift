import Foundation
import LoopbackClient
import Synchronization
import Testing

@testable import HTTPCore

/// Counts what the server tells its observers, to check the books balance after each storm.
final class CountingObserver: HTTPServerObserver {
    private struct Counts {
        var open = 0
        var rejected = 0
        var inFlight = 0
        var finished = 0
        var statuses: [Int: Int] = [:]
    }

    private let counts = Mutex(Counts())

    func connectionOpened() { counts.withLock { $0.open += 1 } }
    func connectionClosed() { counts.withLock { $0.open -= 1 } }
    func connectionRejected() { counts.withLock { $0.rejected += 1 } }
    func requestStarted() { counts.withLock { $0.inFlight += 1 } }
    func requestFinished(_ exchange: HTTPExchange) {
        counts.withLock {
            $0.inFlight -= 1
            $0.finished += 1
            $0.statuses[exchange.status, default: 0] += 1
        }
    }

    var open: Int { counts.withLock { $0.open } }
    var rejected: Int { counts.withLock { $0.rejected } }
    var inFlight: Int { counts.withLock { $0.inFlight } }
    func count(of status: Int) -> Int { counts.withLock { $0.statuses[status] ?? 0 } }
}

/// The server after a storm: every connection closed, nothing in flight, within a generous wait.
func expectQuiescent(
    _ server: TestServer, _ observer: CountingObserver, sourceLocation: SourceLocation = #_sourceLocation
) {
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline && (server.server.connectionCount > 0 || observer.open > 0 || observer.inFlight > 0) {
        Thread.sleep(forTimeInterval: 0.02)
    }
    #expect(server.server.connectionCount == 0, "connections left open", sourceLocation: sourceLocation)
    #expect(observer.open == 0, "connections the observer still counts open", sourceLocation: sourceLocation)
    #expect(observer.inFlight == 0, "the in-flight count is back to 0", sourceLocation: sourceLocation)
}

/// A test server with inline and offloaded routes and a counting observer.
func hostileServer(
    _ configure: (inout HTTPServerConfiguration) -> Void = { _ in }
) throws -> (
    TestServer, CountingObserver
) {
    let observer = CountingObserver()
    let server = try TestServer(
        configure: {
            $0.observer = observer
            $0.limits.maxBodyBytes = 4 * 1024 * 1024
            configure(&$0)
        },
        extraRoutes: { router in
            router.get("/n/{i}", execution: .inline) { request in
                HTTPResponse(contentType: "text/plain", body: Array((request.pathParameters["i"] ?? "").utf8))
            }
            router.post("/echo-inline", execution: .inline) { request in
                HTTPResponse(contentType: "application/octet-stream", body: request.body)
            }
            router.get("/big") { _ in
                HTTPResponse(contentType: "application/octet-stream", body: [UInt8](repeating: 42, count: 8 << 20))
            }
        })
    return (server, observer)
}

/// Sends on another thread, so that the test can read answers while a large pipelined request is in flight
/// (the server stops reading while the client does not take its answers; a client that only sends would
/// deadlock with it, as a real one would).
func sendInBackground(_ client: TestClient, _ bytes: [UInt8]) -> DispatchSemaphore {
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        try? client.send(bytes)
        done.signal()
    }
    return done
}

@Suite("Hostile clients", .serialized)
struct HostileClientTests {
    @Test(
        "pipelining floods of 10,000 and 100,000 requests on one connection: all answered, in order",
        arguments: [10_000, 100_000])
    func pipelineFlood(count: Int) throws {
        let (server, observer) = try hostileServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port, timeoutSeconds: 60)
        var requests: [UInt8] = []
        requests.reserveCapacity(count * 40)
        for index in 0..<count { requests += Array("GET /n/\(index) HTTP/1.1\r\nHost: x\r\n\r\n".utf8) }
        let sent = sendInBackground(client, requests)
        let responses = client.readResponses(count: count)
        #expect(sent.wait(timeout: .now() + 60) == .success)
        #expect(responses.count == count)
        let outOfOrder = responses.enumerated().first { $0.element.status != 200 || $0.element.body != "\($0.offset)" }
        #expect(outOfOrder == nil, "the first answer out of order or failed: \(String(describing: outOfOrder))")
        try client.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(try client.readResponse().status == 200, "the connection and the server are still alive")
        expectQuiescent(server, observer)
    }

    @Test(
        "answers written together after a batch of events: 40 connections on one loop, with pipelined and closing requests waiting at once, all answered in order"
    )
    func answersWrittenAfterTheBatch() throws {
        let (server, observer) = try hostileServer { $0.eventLoops = 1 }
        defer { server.stop() }
        // More connections than the loop lets wait for their writes (16), each with three requests, the
        // last of them closing on every other connection; everything sent before anything is read.
        let clients = try (0..<40).map { _ in try TestClient(port: server.port, timeoutSeconds: 30) }
        for (index, client) in clients.enumerated() {
            var requests = ""
            for request in 0..<3 {
                let closing = index % 2 == 1 && request == 2 ? "Connection: close\r\n" : ""
                requests += "GET /n/\(index * 10 + request) HTTP/1.1\r\nHost: x\r\n\(closing)\r\n"
            }
            try client.send(requests)
        }
        for (index, client) in clients.enumerated() {
            let answers = client.readResponses(count: 3)
            #expect(answers.map(\.body) == (0..<3).map { "\(index * 10 + $0)" }, "connection \(index)")
            #expect(answers.allSatisfy { $0.status == 200 })
            if index % 2 == 1 { #expect(client.readsEndOfStream(), "connection \(index) closed after its answer") }
        }
        for client in clients { client.closeNow() }
        expectQuiescent(server, observer)
    }

    @Test("a complete request then a half-close, at every size within 3 bytes of each buffer boundary")
    func halfCloseAtBoundaries() throws {
        let (server, observer) = try hostileServer()
        defer { server.stop() }
        for boundary in [4096, 16384, 65536, 131072] {
            for size in (boundary - 3)...(boundary + 3) {
                for path in ["/echo", "/echo-inline"] {
                    let head = "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: "
                    // The head's length depends on the body's length's digits: find the body that makes `size`.
                    let bodyLength = (1...size).first { head.utf8.count + "\($0)\r\n\r\n".utf8.count + $0 == size }!
                    let client = try TestClient(port: server.port)
                    try client.send(
                        Array((head + "\(bodyLength)\r\n\r\n").utf8) + [UInt8](repeating: 65, count: bodyLength))
                    client.shutdownWrite()
                    let response = try client.readResponse()
                    #expect(response.status == 200 && response.body.count == bodyLength, "\(path), \(size) bytes")
                    #expect(client.readsEndOfStream(), "closed after answering a half-closed client")
                    client.closeNow()
                }
            }
        }
        expectQuiescent(server, observer)
    }

    @Test("a client resetting mid-answer 50 times, on offloaded and inline routes, leaves nothing behind")
    func resetsMidResponse() throws {
        let (server, observer) = try hostileServer()
        defer { server.stop() }
        for round in 0..<50 {
            let client = try TestClient(port: server.port)
            try client.send(
                round % 2 == 0
                    ? "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"
                    : "GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /n/1 HTTP/1.1\r\nHost: x\r\n\r\n")
            var some = [UInt8](repeating: 0, count: 1000)
            _ = some.withUnsafeMutableBytes { recv(client.descriptor, $0.baseAddress, $0.count, 0) }
            client.reset()
        }
        expectQuiescent(server, observer)
        let client = try TestClient(port: server.port)
        try client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().status == 200)
    }

    @Test("a client reset while its offloaded request runs is counted as finished (499), once")
    func resetDuringHandler() throws {
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let handled = DispatchSemaphore(value: 0)
        let observer = CountingObserver()
        // One loop: the late answer's hand-back is queued on it before the next request below is read.
        let server = try TestServer(
            configure: {
                $0.observer = observer
                $0.eventLoops = 1
            },
            extraRoutes: { router in
                router.get("/wait") { _ in
                    started.signal()
                    _ = release.wait(timeout: .now() + 10)
                    handled.signal()
                    return HTTPResponse(contentType: "text/plain", body: Array("late".utf8))
                }
            })
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        try client.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        // Reset once the handler runs: a reset while the job still waits for a worker drops it unrun
        // (another test's case), and on a busy machine the worker can start after the reset is read.
        #expect(started.wait(timeout: .now() + 10) == .success)
        let deadline = Date().addingTimeInterval(10)
        client.reset()
        while observer.count(of: 499) == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(observer.count(of: 499) == 1)
        release.signal()
        #expect(handled.wait(timeout: .now() + 10) == .success)
        let next = try TestClient(port: server.port)
        try next.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(try next.readResponse().status == 200)
        next.closeNow()
        #expect(observer.count(of: 499) == 1, "the late answer is not counted again")
        expectQuiescent(server, observer)
    }

    @Test("a slow reader of a large answer does not hold up another connection")
    func slowReader() throws {
        // One loop, so that both connections are its own: a blocked writer must not stall its neighbour.
        let (server, observer) = try hostileServer { $0.eventLoops = 1 }
        defer { server.stop() }
        let slow = try TestClient(port: server.port)
        try slow.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.2)  // the server fills the socket buffer and waits
        let other = try TestClient(port: server.port)
        for index in 0..<20 {
            try other.send("GET /n/\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try other.readResponse().text == "\(index)")
        }
        var received = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while received < 2 * (8 << 20) {
            let count = buffer.withUnsafeMutableBytes { recv(slow.descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            received += count
        }
        #expect(received > 2 * (8 << 20), "both large answers arrive whole once read")
        slow.closeNow()
        other.closeNow()
        expectQuiescent(server, observer)
    }

    @Test("a request sent one byte per write, and a body in one-byte chunks")
    func oneByteAtATime() throws {
        let (server, observer) = try hostileServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        var flag: Int32 = 1
        setsockopt(client.descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &flag, socklen_t(MemoryLayout<Int32>.size))
        for byte in Array("POST /echo-inline HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".utf8) {
            try client.send([byte])
        }
        #expect(try client.readResponse().text == "hello")
        let body = (0..<300).map { _ in "1\r\nz\r\n" }.joined()
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for byte in Array((body + "0\r\n\r\n").utf8) { try client.send([byte]) }
        #expect(try client.readResponse().text == String(repeating: "z", count: 300))
        try client.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(try client.readResponse().status == 200)
        expectQuiescent(server, observer)
    }

    @Test("more connections than the limit: the excess are refused with 503 and counted")
    func overTheConnectionLimit() throws {
        let (server, observer) = try hostileServer { $0.maxConnections = 8 }
        defer { server.stop() }
        var held: [TestClient] = []
        for _ in 0..<8 {
            let client = try TestClient(port: server.port)
            try client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = try client.readResponse()
            held.append(client)
        }
        var refused = 0
        for _ in 0..<12 {
            let client = try TestClient(port: server.port)
            if let response = try? client.readResponse(), response.status == 503 { refused += 1 }
        }
        #expect(refused == 12)
        #expect(observer.rejected == 12, "the rejected-connections count equals the connections refused")
        held.removeAll()
        expectQuiescent(server, observer)
    }

    @Test(
        "NUL and other invalid bytes in the target and header values get 400 and a closed connection",
        arguments: [
            "GET /a\u{0}b HTTP/1.1\r\nHost: x\r\n\r\n", "GET /a\u{7F} HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\u{0}b\r\n\r\n",
            "GET /hello HTTP/1.1\r\nHost: x\r\nX-A: \u{1B}[31m\r\n\r\n",
            "GET /\u{FF} HTTP/1.1\r\nHost: x\r\n\r\n",
        ])
    func invalidBytes(request: String) throws {
        let (server, observer) = try hostileServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        try client.send(request + "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 400 && response.header("Connection") == "close")
        #expect(client.readsEndOfStream(), "nothing after the bad request is answered")
        client.closeNow()
        expectQuiescent(server, observer)
    }

    @Test(
        "after any framing error: 400, Connection: close, and the next request on the connection is never answered",
        arguments: [
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n",
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;\u{1}\r\nab\r\n0\r\n\r\n",
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
            "GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
            "GET /hello HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n",
        ])
    func closesAfterFramingError(request: String) throws {
        let (server, observer) = try hostileServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        try client.send(request + "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 400 && response.header("Connection") == "close")
        #expect(client.readsEndOfStream())
        client.closeNow()
        expectQuiescent(server, observer)
    }

    @Test("a body trickled below the minimum rate is cut off with 408 once the grace period is over")
    func trickledBody() throws {
        // The defaults: 240 bytes a second after 5 s. The client sends a byte now and would send the next in
        // 9 s; each byte would restart the 10 s body timeout, so only the rate check ends it.
        let (server, observer) = try hostileServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port, timeoutSeconds: 20)
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nA")
        let response = try client.readResponse()
        #expect(response.status == 408 && response.header("Connection") == "close")
        // The rate check ended it, not the body timeout (which the next byte would have reset).
        #expect(response.text.contains("a body must average 240 bytes a second"))
        client.closeNow()
        expectQuiescent(server, observer)
    }

    @Test("an unsupported expectation is answered 417 and closes, whether its body comes with its head or not")
    func expectationFailedCloses() throws {
        // The connection fuzzer's first crasher (Tests/Fuzz/connection/crashers/): with the body in the same
        // write, the 417 used to keep the connection and answer the next request.
        let (server, observer) = try hostileServer()
        defer { server.stop() }
        let head = "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 528-continue\r\nContent-Length: 2\r\n\r\n"
        for together in [true, false] {
            let client = try TestClient(port: server.port)
            if together {
                try client.send(head + "hiGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            } else {
                try client.send(head)
            }
            let response = try client.readResponse()
            #expect(response.status == 417 && response.header("Connection") == "close", "body with head: \(together)")
            if !together { try? client.send("hiGET /hello HTTP/1.1\r\nHost: x\r\n\r\n") }
            #expect(client.readsEndOfStream(), "nothing more is answered")
            client.closeNow()
        }
        expectQuiescent(server, observer)
    }

    @Test("methods: one nobody defined is 501, a defined one a path lacks is 405 with Allow, OPTIONS * lists all")
    func methods() throws {
        let (server, observer) = try hostileServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        try client.send("BREW /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        let brew = try client.readResponse()
        #expect(brew.status == 501 && brew.text.contains("method_not_implemented"))
        try client.send("QUERY /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        let query = try client.readResponse()
        #expect(query.status == 405 && query.header("Allow") == "GET, HEAD, OPTIONS")
        try client.send("OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let star = try client.readResponse()
        #expect(star.status == 204 && star.header("Allow") == "GET, HEAD, OPTIONS, POST")
        client.closeNow()
        expectQuiescent(server, observer)
    }
}
