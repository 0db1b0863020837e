import DigitCore
import Foundation
import HTTPCore
import Testing

@testable import DigitService

/// A raw loopback connection to a service, for sending exactly the bytes an attacker would.
final class RawConnection: @unchecked Sendable {
    let descriptor: Int32

    init(port: Int, timeoutSeconds: Int = 60) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
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
        guard result == 0 else { throw CancellationError() }
    }

    deinit { close(descriptor) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard count > 0 else { return }
            offset += count
        }
    }

    /// Reads `count` responses (status, body), or fewer if the stream ends or stalls for the timeout.
    func responses(_ count: Int) -> [(status: Int, body: String)] {
        var stream: [UInt8] = []
        var results: [(Int, String)] = []
        var start = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while results.count < count {
            while let end = Self.headEnd(stream, from: start) {
                let head = String(decoding: stream[start..<end], as: UTF8.self)
                let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
                let length =
                    head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                guard stream.count >= end + 4 + length else { break }
                results.append((status, String(decoding: stream[(end + 4)..<(end + 4 + length)], as: UTF8.self)))
                start = end + 4 + length
            }
            if results.count >= count { break }
            let received = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard received > 0 else { break }
            stream += chunk[0..<received]
        }
        return results
    }

    private static func headEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var index = start
        while index + 3 < bytes.count {
            if bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
                return index
            }
            index += 1
        }
        return nil
    }
}

func post(_ path: String, _ body: [UInt8], headers: String = "") -> [UInt8] {
    Array(
        "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\(headers)Content-Length: \(body.count)\r\n\r\n"
            .utf8) + body
}

@Suite("Hostile requests to the service", .serialized)
struct HostileRequestTests {
    @Test(
        "the 70-byte infinite shape that crashed the server is a 400 on both models and the versioned path",
        arguments: ["binary", "ten-class"])
    func infiniteShape(model: String) throws {
        let harness = try ServiceHarness(model: model)
        defer { harness.stop() }
        for shape in ["1e400", "-1e400", "1e400,400", "1,1e999"] {
            for path in ["/v2/models/\(model)/infer", "/v2/models/\(model)/versions/1/infer"] {
                let body = Array(#"{"inputs":[{"name":"pixels","datatype":"FP32","shape":[\#(shape)]}]}"#.utf8)
                let connection = try RawConnection(port: harness.server.port)
                connection.send(post(path, body))
                let answer = connection.responses(1)
                #expect(answer.first?.status == 400, "\(path) \(shape)")
                #expect(answer.first?.body.contains("too large for a 64-bit float") == true, "\(answer)")
            }
        }
        let connection = try RawConnection(port: harness.server.port)
        connection.send(Array("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(connection.responses(1).first?.status == 200, "still serving")
    }

    @Test("a shape declaring 10,000 images in a 100-byte request is refused for its data, not allocated for")
    func declaredShape() async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let reply = try await harness.post(
            "/v2/models/binary/infer",
            text: #"{"inputs":[{"name":"pixels","datatype":"FP32","shape":[10000,400],"data":[0.5]}]}"#)
        #expect(reply.status == 400)
        #expect(reply.json["error"] as? String == "pixels' data holds 1 numbers; its shape [10000, 400] needs 4000000")
    }

    @Test("5,000 pipelined POST /predict on one connection: all answered, in order")
    func pipelinedPredictions() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let one = Array(#"{"pixels":\#(TestDigits.flat(TestDigits.first(1)))}"#.utf8)
        let zero = Array(#"{"pixels":\#(TestDigits.flat(TestDigits.first(0)))}"#.utf8)
        var requests: [UInt8] = []
        for index in 0..<5000 { requests += post("/predict", index % 3 == 0 ? one : zero) }
        let connection = try RawConnection(port: harness.server.port)
        let pipelined = requests
        let sender = Thread { connection.send(pipelined) }
        sender.start()
        let answers = connection.responses(5000)
        #expect(answers.count == 5000)
        let wrong = answers.enumerated().first { index, answer in
            answer.status != 200 || !answer.body.hasPrefix("{\"predicted_class\":\(index % 3 == 0 ? 1 : 0),")
        }
        #expect(wrong == nil, "the first answer out of order: \(String(describing: wrong))")
    }

    @Test(
        "a gzip body inflating to the body limit is handled off the loop: GET /model on another connection is answered first"
    )
    func gzipBombOffTheLoop() throws {
        // One event loop, so that an inflate on the loop would block every other connection.
        let harness = try ServiceHarness { $0.http.eventLoops = 1 }
        defer { harness.stop() }
        let limit = harness.service.configuration.http.limits.maxBodyBytes
        let unit = Array("[0],".utf8)
        var inflated = Array(#"{"pixels":["#.utf8)
        inflated.reserveCapacity(limit)
        while inflated.count + unit.count + 4 <= limit { inflated += unit }
        inflated += Array("[0]]}".utf8)
        let compressed = ContentCoding.gzip(inflated)
        #expect(
            inflated.count <= limit && compressed.count < 200_000, "\(inflated.count) bytes from \(compressed.count)")

        let bomb = try RawConnection(port: harness.server.port)
        let probe = try RawConnection(port: harness.server.port)
        bomb.send(post("/predict/batch", compressed, headers: "Content-Encoding: gzip\r\n"))
        let sent = Date()
        probe.send(Array("GET /model HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let model = probe.responses(1)
        let probeAnswered = Date()
        var peek = [UInt8](repeating: 0, count: 16)
        let pending = peek.withUnsafeMutableBytes {
            recv(bomb.descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT))
        }
        let bombStillWorking = pending < 0 && errno == EAGAIN
        let bombAnswer = bomb.responses(1)
        let bombAnswered = Date()
        #expect(model.first?.status == 200)
        #expect(bombStillWorking, "GET /model was answered while the bomb was still being inflated, not after it")
        #expect(bombAnswer.first?.status == 413, "\(bombAnswer)")
        #expect(bombAnswer.first?.body.contains("too_many_values") == true)
        print(
            "gzip bomb: \(compressed.count) bytes inflating to \(inflated.count); GET /model answered after \(Int(probeAnswered.timeIntervalSince(sent) * 1000)) ms, the bomb after \(Int(bombAnswered.timeIntervalSince(sent) * 1000)) ms"
        )
    }

    @Test("a plain body of brackets is refused before its parse tree grows past what a full batch needs")
    func bracketTree() async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let body = "{\"images\":[" + Array(repeating: "[0]", count: 500_000).joined(separator: ",") + "]}"
        let reply = try await harness.post("/predict/batch", text: body)
        #expect(reply.status == 413 && reply.errorCode == "too_many_values", "\(reply.errorMessage)")
        let single = "{\"image\":" + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "}"
        let nested = try await harness.post("/predict", text: single)
        #expect(nested.status == 422 && nested.errorCode == "invalid_image", "within the limits: refused for its shape")
        let deep = "{\"image\":" + String(repeating: "[", count: 400) + String(repeating: "]", count: 400) + "}"
        let tooDeep = try await harness.post("/predict", text: deep)
        #expect(tooDeep.status == 413 && tooDeep.errorCode == "too_many_values", "\(tooDeep.errorMessage)")
    }

    @Test("refused connections are counted in /metrics; in flight is back to 0 after a reset storm")
    func metricsAfterStorms() async throws {
        let harness = try ServiceHarness { $0.http.maxConnections = 4 }
        defer { harness.stop() }
        var held: [RawConnection] = []
        for _ in 0..<4 {
            let connection = try RawConnection(port: harness.server.port)
            connection.send(Array("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            _ = connection.responses(1)
            held.append(connection)
        }
        for _ in 0..<6 {
            let refused = try RawConnection(port: harness.server.port)
            #expect(refused.responses(1).first?.status == 503)
        }
        held.removeAll()
        var metrics = ""
        for _ in 0..<100 {
            metrics = String(decoding: try await harness.request("GET", "/metrics").body, as: UTF8.self)
            if metrics.contains("digits_http_requests_in_flight 1") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(metrics.contains("digits_http_connections_rejected_total 6"), "\(metrics)")
        // The scrape itself is the one request in flight.
        #expect(metrics.contains("digits_http_requests_in_flight 1"))
    }
}
