import Foundation
import LoopbackClient
import Synchronization
import Testing

/// The child's open descriptors and resident memory, from /proc.
func usage(of pid: Int32) -> (descriptors: Int, residentKB: Int) {
    let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return (descriptors, Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1)
}

@Suite("digits serve under attack", .serialized)
struct ServeUnderAttackTests {
    /// How long the descriptor storm lasts: 10 s in `swift test`, 60 s in CI's own run of this test
    /// (`DIGITS_EMFILE_SECONDS=60`), which keeps the README's test command quick.
    static let stormSeconds = Double(ProcessInfo.processInfo.environment["DIGITS_EMFILE_SECONDS"] ?? "") ?? 10

    @Test("EMFILE on many loops at once under low descriptor limits: logged, survived, then served")
    func descriptorExhaustionOnManyLoops() throws {
        // 16 loops under 64 descriptors, and 64 loops under 192 (64 loops hold 128 descriptors of their own,
        // an epoll set and an eventfd each, so 64 descriptors could not start them), churned at once.
        let servers = try [("16", "--nofile=64:64"), ("64", "--nofile=192:192")].map { loops, limit in
            let server = try ServeProcess(
                ["--host", "127.0.0.1", "--port", "0", "--event-loops", loops, "--log-level", "notice"],
                prefix: ["prlimit", limit])
            try server.waitUntilReady()
            return server
        }
        let stop = Atomic<Bool>(false)
        let finished = DispatchGroup()
        for (index, server) in servers.enumerated() {
            let port = server.port
            for _ in 0..<2 {
                finished.enter()
                Thread.detachNewThread {
                    // Connect and close in a loop, many at a time, so the server keeps running out of descriptors.
                    while !stop.load(ordering: .relaxed) {
                        var open: [TestClient] = []
                        for _ in 0..<(index == 0 ? 32 : 80) {
                            if let client = try? TestClient(port: port, timeoutSeconds: 2) { open.append(client) }
                        }
                        open.forEach { $0.closeNow() }
                        usleep(5000)
                    }
                    finished.leave()
                }
            }
        }
        Thread.sleep(forTimeInterval: Self.stormSeconds)
        stop.store(true, ordering: .relaxed)
        #expect(finished.wait(timeout: .now() + 30) == .success)
        for server in servers {
            #expect(server.process.isRunning, "the server survived: \(server.log.suffix(2000))")
            #expect(server.log.contains("Too many open files"), "descriptors did run out")
            #expect(server.statusOnceServing() == 200, "served again once the storm ended")
            server.signal(SIGTERM)
            #expect(server.waitForExit() == 0)
        }
    }

    @Test("after floods, resets and half-closes the process is back to its descriptors and near its memory")
    func backToBaseline() throws {
        let server = try ServeProcess(["--host", "127.0.0.1", "--port", "0", "--log-level", "notice"])
        try server.waitUntilReady()
        let pid = server.process.processIdentifier
        let live = Array("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        // Warm up, so that the baseline includes what the first requests allocate once.
        let warm = try TestClient(port: server.port)
        try warm.send(Array(repeating: live, count: 1000).flatMap { $0 })
        #expect(warm.readResponses(count: 1000).count == 1000)
        warm.closeNow()
        Thread.sleep(forTimeInterval: 0.5)
        let baseline = usage(of: pid)

        // A flood of 10,000 pipelined requests, read as they come.
        let flood = try TestClient(port: server.port, timeoutSeconds: 30)
        let requests = Array(repeating: live, count: 10_000).flatMap { $0 }
        let sender = Thread { try? flood.send(requests) }
        sender.start()
        #expect(flood.readResponses(count: 10_000).filter { $0.status == 200 }.count == 10_000)
        flood.closeNow()
        // 50 clients resetting in the middle of a large batch answer.
        let image = "[" + Array(repeating: "0.5", count: 400).joined(separator: ",") + "]"
        let batch = Array(("{\"images\":[" + Array(repeating: image, count: 500).joined(separator: ",") + "]}").utf8)
        let batchRequest =
            Array(
                "POST /predict/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(batch.count)\r\n\r\n"
                    .utf8) + batch
        for _ in 0..<50 {
            let client = try TestClient(port: server.port, timeoutSeconds: 30)
            try client.send(batchRequest)
            client.receiveSome(limit: 100)
            client.reset()
        }
        // Half-closes around the read buffer's size.
        for size in 65533...65539 {
            let client = try TestClient(port: server.port)
            let head = "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
            let length = (1...size).first { head.utf8.count + "\($0)\r\n\r\n".utf8.count + $0 == size }!
            try client.send(
                Array((head + "\(length)\r\n\r\n").utf8) + [UInt8](repeating: 32, count: length - 2) + Array("{}".utf8))
            client.shutdownWrite()
            #expect(client.readResponses(count: 1).first?.status == 422, "\(size) bytes, then a half-close")
            client.closeNow()
        }
        var after = usage(of: pid)
        for _ in 0..<100 where after.descriptors > baseline.descriptors {
            Thread.sleep(forTimeInterval: 0.1)
            after = usage(of: pid)
        }
        print(
            "resident \(baseline.residentKB) KB before the storms, \(after.residentKB) KB after; descriptors \(baseline.descriptors) and \(after.descriptors)"
        )
        #expect(after.descriptors == baseline.descriptors, "every connection's descriptor is closed")
        #expect(after.residentKB < baseline.residentKB + 64 * 1024, "resident memory back near its baseline")
        let metrics = String(decoding: try server.get("/metrics").body, as: UTF8.self)
        #expect(metrics.contains("digits_http_requests_in_flight 1"), "only the scrape itself is in flight")
        #expect(metrics.contains("digits_http_connections_open 1"))
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
    }

    @Test("at the default log level every request's access line is written, none lost at SIGTERM, in UTC")
    func accessLogFlushedAtShutdown() throws {
        let server = try ServeProcess(["--host", "127.0.0.1", "--port", "0"])
        try server.waitUntilReady()
        let client = try TestClient(port: server.port)
        let live = Array("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        try client.send(Array(repeating: live, count: 300).flatMap { $0 })
        #expect(client.readResponses(count: 300).count == 300)
        client.closeNow()
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        let lines = server.log.split(separator: "\n")
        #expect(lines.filter { $0.hasSuffix("GET /v2/health/live 200") }.count == 300, "\(server.log.suffix(300))")
        #expect(lines.allSatisfy { $0.dropFirst(19).hasPrefix("+0000 ") }, "timestamps in UTC: \(lines.prefix(2))")
    }
}
