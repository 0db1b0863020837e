import Dispatch
import Foundation
import LoopbackClient
import Synchronization
import Testing

@testable import HTTPCore

/// The memory budget and the bounded worker queue, over real loopback sockets: a request that does not fit
/// is answered 503 with `Retry-After` (or 413 past the whole budget) before its body is read, small
/// requests always pass, and what a request held is given back however it ended.
@Suite("overload: memory budget and worker queue", .serialized)
struct OverloadTests {
    /// Counts the refusals the server reports, as the metrics do, and the statuses requests ended with.
    final class Refusals: HTTPServerObserver {
        let counts = Mutex<[RefusalReason: Int]>([:])
        let statuses = Mutex<[Int]>([])
        func connectionOpened() {}
        func connectionClosed() {}
        func connectionRejected() {}
        func requestStarted() {}
        func requestFinished(_ exchange: HTTPExchange) { statuses.withLock { $0.append(exchange.status) } }
        func requestRefused(_ reason: RefusalReason) { counts.withLock { $0[reason, default: 0] += 1 } }
        subscript(_ reason: RefusalReason) -> Int { counts.withLock { $0[reason] ?? 0 } }
    }

    static let kibibyte = 1024

    /// Waits (up to 10 s) until `condition` holds.
    func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0..<200 {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return condition()
    }

    func head(length: Int, expectContinue: Bool = false) -> String {
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(length)\r\n"
            + (expectContinue ? "Expect: 100-continue\r\n" : "") + "\r\n"
    }

    @Test("a body that does not fit is answered 503 with Retry-After before it is sent; freed, it fits")
    func bodyRefusedUntilMemoryFrees() throws {
        let budget = MemoryBudget(capacity: 1024 * Self.kibibyte)
        let refusals = Refusals()
        let server = try TestServer(configure: {
            $0.memoryBudget = budget
            $0.observer = refusals
        })
        defer { server.stop() }
        // A holds 600 KiB: its head is in, its body never comes.
        let holder = try TestClient(port: server.port)
        try holder.send(head(length: 600 * Self.kibibyte))
        #expect(eventually { budget.reserved >= 600 * Self.kibibyte })
        // B asks for 600 KiB more, with Expect: 100-continue as curl sends it: refused instead of continued.
        let refused = try TestClient(port: server.port)
        try refused.send(head(length: 600 * Self.kibibyte, expectContinue: true))
        let answer = try refused.readResponse()
        #expect(answer.status == 503)
        #expect(answer.header("Retry-After") == "1")
        #expect(answer.header("Connection") == "close")
        #expect(answer.text.contains("\"code\":\"server_busy\""))
        #expect(answer.text.contains("The request itself is fine"))
        #expect(refused.readsEndOfStream())
        #expect(refusals[.memory] == 1)
        // A small request still passes while the budget is held.
        let small = try TestClient(port: server.port)
        try small.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try small.readResponse().status == 200)
        // A leaves; its reservation goes with it, and B's request now fits and is answered.
        holder.closeNow()
        #expect(eventually { budget.reserved == 0 })
        let retried = try TestClient(port: server.port)
        let body = String(repeating: "d", count: 600 * Self.kibibyte)
        try retried.send(head(length: body.utf8.count) + body)
        let echoed = try retried.readResponse()
        #expect(echoed.status == 200 && echoed.body.count == body.utf8.count)
        #expect(eventually { budget.reserved == 0 })
    }

    @Test("a body larger than the whole budget gets 413 over_memory_budget, naming the budget")
    func bodyOverWholeBudget() throws {
        let server = try TestServer(configure: { $0.memoryBudget = MemoryBudget(capacity: 512 * Self.kibibyte) })
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        try client.send(head(length: 900 * Self.kibibyte))
        let answer = try client.readResponse()
        #expect(answer.status == 413)
        #expect(answer.text.contains("over_memory_budget"))
        #expect(answer.text.contains("memory budget of 0.5 MiB"))
        #expect(answer.header("Retry-After") == nil)
    }

    @Test("a chunked body that outgrows the budget mid-way is answered 503 and its connection closed")
    func chunkedBodyOutgrowsBudget() throws {
        let budget = MemoryBudget(capacity: 2048 * Self.kibibyte)
        let server = try TestServer(configure: {
            $0.memoryBudget = budget
            $0.limits.maxBodyBytes = 8 << 20
        })
        defer { server.stop() }
        // Another request holds 1 MiB of the 2.
        let holder = try TestClient(port: server.port)
        try holder.send(head(length: 1024 * Self.kibibyte))
        #expect(eventually { budget.reserved >= 1024 * Self.kibibyte })
        let client = try TestClient(port: server.port)
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        let chunk = String(repeating: "c", count: 256 * Self.kibibyte)
        var sent = 0
        // Six chunks of 256 KiB: the fifth or sixth goes past the free 1 MiB. The server may close while
        // the client still writes; the answer was sent before that.
        for _ in 0..<6 {
            guard (try? client.send(String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n")) != nil else {
                break
            }
            sent += 1
        }
        let answer = try client.readResponse()
        #expect(answer.status == 503)
        #expect(answer.header("Retry-After") == "1")
        #expect(client.readsEndOfStream())
        #expect(sent >= 4)
        holder.closeNow()
        #expect(eventually { budget.reserved == 0 })
    }

    @Test("what requests hold is given back: answered, refused, reset mid-body, or left before the answer")
    func everyPathReleases() throws {
        let budget = MemoryBudget(capacity: 4096 * Self.kibibyte)
        let server = try TestServer(configure: { $0.memoryBudget = budget })
        defer { server.stop() }
        let body = String(repeating: "e", count: 300 * Self.kibibyte)
        // Answered, several on one connection (offloaded: above the inline limit).
        let client = try TestClient(port: server.port)
        for _ in 0..<3 {
            try client.send(head(length: body.utf8.count) + body)
            #expect(try client.readResponse().status == 200)
        }
        // Reset in the middle of a body.
        let reset = try TestClient(port: server.port)
        try reset.send(head(length: 2 * body.utf8.count) + body)
        #expect(eventually { budget.reserved >= 600 * Self.kibibyte })
        reset.reset()
        // Gone before its answer was read.
        let gone = try TestClient(port: server.port)
        try gone.send(head(length: body.utf8.count) + body)
        gone.closeNow()
        #expect(eventually { budget.reserved == 0 })
    }

    @Test("a small gzip body is reserved as it inflates: past the budget it is refused, and freed")
    func gzipInflatesWithinBudget() throws {
        let budget = MemoryBudget(capacity: 1024 * Self.kibibyte)
        let server = try TestServer(configure: {
            $0.memoryBudget = budget
            $0.limits.maxBodyBytes = 8 << 20
        })
        defer { server.stop() }
        let compressed = ContentCoding.gzip([UInt8](repeating: 0, count: 4 << 20))
        #expect(compressed.count < 64 * Self.kibibyte)
        let client = try TestClient(port: server.port)
        try client.send(
            Array(
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: \(compressed.count)\r\n\r\n"
                    .utf8) + compressed)
        let answer = try client.readResponse()
        #expect(answer.status == 413)
        #expect(answer.text.contains("over_memory_budget") && answer.text.contains("its inflated body"))
        #expect(eventually { budget.reserved == 0 })
    }

    /// A route whose handler waits until the test lets it go: the worker stays busy as long as the test says.
    final class Gate: Sendable {
        let release = DispatchSemaphore(value: 0)
        let entered = Atomic<Int>(0)
    }

    func gatedServer(_ gate: Gate, refusals: Refusals, queueTimeout: Duration = .seconds(30)) throws -> TestServer {
        try TestServer(
            configure: {
                $0.workerThreads = 1
                $0.maxQueuedRequests = 1
                $0.queueTimeout = queueTimeout
                $0.observer = refusals
            },
            extraRoutes: { router in
                router.get("/gate") { _ in
                    gate.entered.add(1, ordering: .relaxed)
                    _ = gate.release.wait(timeout: .now() + 30)
                    return HTTPResponse(contentType: "text/plain", body: Array("passed".utf8))
                }
            })
    }

    /// The one worker held at the gate by one request, and a second waiting in the queue.
    func occupy(_ server: TestServer, _ gate: Gate) throws -> (running: TestClient, waiting: TestClient) {
        let running = try TestClient(port: server.port)
        try running.send("GET /gate HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(eventually { gate.entered.load(ordering: .relaxed) == 1 })
        let waiting = try TestClient(port: server.port)
        try waiting.send("GET /gate HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(eventually { server.server.queueLength == 1 })
        return (running, waiting)
    }

    @Test("one worker, a queue of one: the third request is refused at once with 503 queue_full")
    func queueFull() throws {
        let gate = Gate()
        let refusals = Refusals()
        let server = try gatedServer(gate, refusals: refusals)
        defer { server.stop() }
        let (running, waiting) = try occupy(server, gate)
        let refused = try TestClient(port: server.port)
        try refused.send("GET /gate HTTP/1.1\r\nHost: x\r\n\r\n")
        let answer = try refused.readResponse()
        #expect(answer.status == 503 && answer.header("Retry-After") == "1")
        #expect(answer.text.contains("1 requests already wait for the server's workers"))
        #expect(refusals[.queueFull] == 1)
        gate.release.signal()
        gate.release.signal()
        #expect(try running.readResponse().text == "passed")
        #expect(try waiting.readResponse().text == "passed")
    }

    @Test("a request that waited longer than the queue timeout is answered 503 instead of run")
    func queueTimeout() throws {
        let gate = Gate()
        let refusals = Refusals()
        let server = try gatedServer(gate, refusals: refusals, queueTimeout: .milliseconds(200))
        defer { server.stop() }
        let (running, waiting) = try occupy(server, gate)
        // Well past the 200 ms timeout before the worker is free again.
        Thread.sleep(forTimeInterval: 1)
        gate.release.signal()
        #expect(try running.readResponse().text == "passed")
        let answer = try waiting.readResponse()
        #expect(answer.status == 503 && answer.header("Retry-After") == "1")
        #expect(answer.text.contains("longer than the server's queue timeout of 0.2 s"))
        #expect(refusals[.queueTimeout] == 1)
        #expect(gate.entered.load(ordering: .relaxed) == 1)
    }

    @Test("a queued request whose client reset its connection is dropped, not run")
    func abandonedJobIsNotRun() throws {
        let gate = Gate()
        let refusals = Refusals()
        let server = try gatedServer(gate, refusals: refusals)
        defer { server.stop() }
        let (running, leaving) = try occupy(server, gate)
        // Gone with a reset, as a client that gave up or died does (a FIN alone may be a half-close, after
        // which the client still waits for its answer). The request ends as 499 while still queued.
        leaving.reset()
        #expect(eventually { refusals.statuses.withLock { $0.contains(499) } })
        gate.release.signal()
        #expect(try running.readResponse().text == "passed")
        #expect(eventually { server.server.queueLength == 0 })
        Thread.sleep(forTimeInterval: 0.3)
        #expect(gate.entered.load(ordering: .relaxed) == 1, "the handler never ran for the client that left")
        // Had it run, it would wait at the gate: let it go.
        gate.release.signal()
    }

    @Test("a body that holds the budget must keep pace: a trickle of a large one is cut off and freed")
    func tricklingLargeBodyIsCutOff() throws {
        let budget = MemoryBudget(capacity: 4096 * Self.kibibyte)
        let server = try TestServer(configure: {
            $0.memoryBudget = budget
            $0.bodyRateGracePeriod = .seconds(1)
            $0.reservedBodyWindow = .seconds(2)
        })
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        // 1 MiB announced, so it must average 512 KiB a second; 4 KiB a second is far above the 240
        // bytes a second of the minimum rate, and far below that.
        try client.send(head(length: 1024 * Self.kibibyte))
        #expect(eventually { budget.reserved >= 1024 * Self.kibibyte })
        var answer: TestClient.Response?
        for _ in 0..<40 {
            guard (try? client.send(String(repeating: "t", count: 1024))) != nil else { break }
            if client.hasBytesWaiting() { break }
            Thread.sleep(forTimeInterval: 0.25)
        }
        answer = try client.readResponse()
        #expect(answer?.status == 408)
        #expect(answer?.text.contains("must arrive within 2 s") == true)
        #expect(eventually { budget.reserved == 0 })
    }

    /// Found by the storm test: the queue kept the jobs it had handed out, and with them their requests'
    /// bodies, 17 MB a batch, until 64 had been taken.
    @Test("the worker queue lets go of a job, and the request it holds, once a worker has taken it")
    func poolReleasesJobs() {
        final class Payload: Sendable {}
        let pool = WorkPool(threads: 1, maxQueued: 4, queueTimeout: .seconds(30))
        let done = DispatchSemaphore(value: 0)
        weak var released: Payload?
        do {
            let payload = Payload()
            released = payload
            #expect(
                pool.submit(
                    WorkPool.Job(cancellation: WorkPool.Cancellation()) { _, _ in
                        _ = payload
                        done.signal()
                    }))
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(eventually { released == nil })
        pool.stop()
    }
}
