import Foundation
import Synchronization
import Testing

/// A blocking loopback socket to the child server; `nil` when the connection could not be made.
func connectLoopback(_ port: Int, timeoutSeconds: Int = 30) -> Int32? {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return nil }
    var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
    setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard result == 0 else {
        close(descriptor)
        return nil
    }
    return descriptor
}

func sendAll(_ descriptor: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let count = bytes[offset...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard count > 0 else { return }
        offset += count
    }
}

/// Reads until `marker` has been seen `count` times or the stream ends; returns how often it was seen.
func readCounting(_ descriptor: Int32, marker: String, count: Int) -> Int {
    let pattern = Array(marker.utf8)
    var seen = 0
    var carry: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while seen < count {
        let received = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard received > 0 else { break }
        let window = carry + chunk[0..<received]
        var index = 0
        while index + pattern.count <= window.count {
            if window[index] == pattern[0] && Array(window[index..<index + pattern.count]) == pattern {
                seen += 1
                index += pattern.count
            } else {
                index += 1
            }
        }
        carry = Array(window.suffix(pattern.count - 1))
    }
    return seen
}

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
                        var open: [Int32] = []
                        for _ in 0..<(index == 0 ? 32 : 80) {
                            if let descriptor = connectLoopback(port, timeoutSeconds: 2) { open.append(descriptor) }
                        }
                        open.forEach { close($0) }
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
            var status = 0
            for _ in 0..<100 where status != 200 {
                status = (try? server.get("/model").status) ?? 0
                if status != 200 { Thread.sleep(forTimeInterval: 0.1) }
            }
            #expect(status == 200, "served again once the storm ended")
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
        if let warm = connectLoopback(server.port) {
            sendAll(warm, Array(repeating: live, count: 1000).flatMap { $0 })
            _ = readCounting(warm, marker: "HTTP/1.1 200", count: 1000)
            close(warm)
        }
        Thread.sleep(forTimeInterval: 0.5)
        let baseline = usage(of: pid)

        // A flood of 10,000 pipelined requests, read as they come.
        if let flood = connectLoopback(server.port) {
            let requests = Array(repeating: live, count: 10_000).flatMap { $0 }
            let sender = Thread { sendAll(flood, requests) }
            sender.start()
            #expect(readCounting(flood, marker: "HTTP/1.1 200", count: 10_000) == 10_000)
            close(flood)
        }
        // 50 clients resetting in the middle of a large batch answer.
        let image = "[" + Array(repeating: "0.5", count: 400).joined(separator: ",") + "]"
        let batch = Array(("{\"images\":[" + Array(repeating: image, count: 500).joined(separator: ",") + "]}").utf8)
        let batchRequest =
            Array(
                "POST /predict/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(batch.count)\r\n\r\n"
                    .utf8) + batch
        for _ in 0..<50 {
            guard let client = connectLoopback(server.port) else { continue }
            sendAll(client, batchRequest)
            var some = [UInt8](repeating: 0, count: 100)
            _ = some.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(client, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            close(client)
        }
        // Half-closes around the read buffer's size.
        for size in 65533...65539 {
            guard let client = connectLoopback(server.port) else { continue }
            let head = "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
            let length = (1...size).first { head.utf8.count + "\($0)\r\n\r\n".utf8.count + $0 == size }!
            sendAll(
                client,
                Array((head + "\(length)\r\n\r\n").utf8) + [UInt8](repeating: 32, count: length - 2) + Array("{}".utf8))
            shutdown(client, Int32(SHUT_WR))
            #expect(readCounting(client, marker: "HTTP/1.1 422", count: 1) == 1, "\(size) bytes, then a half-close")
            close(client)
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
        guard let client = connectLoopback(server.port) else {
            Issue.record("no connection")
            return
        }
        let live = Array("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        sendAll(client, Array(repeating: live, count: 300).flatMap { $0 })
        #expect(readCounting(client, marker: "HTTP/1.1 200", count: 300) == 300)
        close(client)
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        // The pipe's last bytes reach the reader soon after the exit.
        let deadline = Date().addingTimeInterval(10)
        while server.log.components(separatedBy: "GET /v2/health/live 200").count < 301 && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        let lines = server.log.split(separator: "\n")
        #expect(lines.filter { $0.hasSuffix("GET /v2/health/live 200") }.count == 300)
        #expect(lines.allSatisfy { $0.dropFirst(19).hasPrefix("+0000 ") }, "timestamps in UTC: \(lines.prefix(2))")
    }
}
