import DigitCore
import Foundation
import HTTPCore
import LoopbackClient
import Testing

@testable import DigitService

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
                let connection = try TestClient(port: harness.server.port)
                try connection.send(post(path, body))
                let answer = connection.readResponses(count: 1)
                #expect(answer.first?.status == 400, "\(path) \(shape)")
                #expect(answer.first?.body.contains("too large for a 64-bit float") == true, "\(answer)")
            }
        }
        let connection = try TestClient(port: harness.server.port)
        try connection.send(Array("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(connection.readResponses(count: 1).first?.status == 200, "still serving")
    }

    @Test("a shape declaring 10,000 images in a 100-byte request is refused for its data, not allocated for")
    func declaredShape() async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let reply = try await harness.post(
            "/v2/models/binary/infer",
            text: #"{"inputs":[{"name":"pixels","datatype":"FP32","shape":[10000,400],"data":[0.5]}]}"#)
        #expect(reply.status == 400)
        #expect(reply.json["error"] as? String == "inputs[0].data must hold 4000000 numbers; got 1")
    }

    @Test("5,000 pipelined POST /predict on one connection: all answered, in order")
    func pipelinedPredictions() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let one = Array(#"{"pixels":\#(TestDigits.flat(TestDigits.first(1)))}"#.utf8)
        let zero = Array(#"{"pixels":\#(TestDigits.flat(TestDigits.first(0)))}"#.utf8)
        var requests: [UInt8] = []
        for index in 0..<5000 { requests += post("/predict", index % 3 == 0 ? one : zero) }
        let connection = try TestClient(port: harness.server.port)
        let pipelined = requests
        let sender = Thread { try? connection.send(pipelined) }
        sender.start()
        let answers = connection.readResponses(count: 5000)
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

        let bomb = try TestClient(port: harness.server.port)
        let probe = try TestClient(port: harness.server.port)
        try bomb.send(post("/predict/batch", compressed, headers: "Content-Encoding: gzip\r\n"))
        try probe.send(Array("GET /model HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let model = probe.readResponses(count: 1)
        var peek = [UInt8](repeating: 0, count: 16)
        let pending = peek.withUnsafeMutableBytes {
            recv(bomb.descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT))
        }
        let bombStillWorking = pending < 0 && errno == EAGAIN
        let bombAnswer = bomb.readResponses(count: 1)
        #expect(model.first?.status == 200)
        #expect(bombStillWorking, "GET /model was answered while the bomb was still being inflated, not after it")
        #expect(bombAnswer.first?.status == 413, "\(bombAnswer)")
        #expect(bombAnswer.first?.body.contains("too_many_values") == true)
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
        var held: [TestClient] = []
        for _ in 0..<4 {
            let connection = try TestClient(port: harness.server.port)
            try connection.send(Array("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            _ = connection.readResponses(count: 1)
            held.append(connection)
        }
        for _ in 0..<6 {
            let refused = try TestClient(port: harness.server.port)
            #expect(refused.readResponses(count: 1).first?.status == 503)
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
