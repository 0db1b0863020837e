import Foundation
import LoopbackClient
import Testing

/// Which JSON an error is written as belongs to the route group: `/v2` answers `{"error": "..."}` as the
/// inference protocol's clients expect, everything else `{"error": {"code", "message"}}`. Also for errors
/// raised before any route saw the request: an unknown path, a wrong method, a body too large, a broken
/// framing, a head that never finished.
@Suite("Errors are written in their route group's format", .serialized)
struct ErrorFormatTests {
    /// The `error` member of an answer's body: a string (the protocol's format) or an object (the service's).
    static func errorMember(_ body: String) -> Any? {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["error"]
    }

    static let cases: [(name: String, request: String, status: Int)] = [
        ("unknown path", "GET /v2/nope HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        ("wrong method", "POST /v2/health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
        (
            "body over the limit, refused from its Content-Length",
            "POST /v2/models/binary/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413
        ),
        (
            "two Content-Lengths",
            "POST /v2/models/binary/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400
        ),
        ("a header field that is not one", "GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400),
    ]

    @Test("under /v2 and elsewhere, routed or not", arguments: 0..<cases.count)
    func format(index: Int) throws {
        let harness = try ServiceHarness { $0.http.limits.maxBodyBytes = 1000 }
        defer { harness.stop() }
        let (name, request, status) = Self.cases[index]
        let protocolClient = try TestClient(port: harness.server.port)
        try protocolClient.send(request)
        let answer = try protocolClient.readResponse()
        #expect(answer.status == status, "\(name)")
        #expect(Self.errorMember(answer.text) is String, "\(name): \(answer.text)")

        // The same mistake outside /v2 is written in the service's format.
        let other = request.replacingOccurrences(of: "/v2/models/binary/infer", with: "/predict")
            .replacingOccurrences(of: "/v2/nope", with: "/nope").replacingOccurrences(
                of: "/v2/health/live", with: "/model"
            )
            .replacingOccurrences(of: "/v2/health/ready", with: "/model")
        let serviceClient = try TestClient(port: harness.server.port)
        try serviceClient.send(other)
        let serviceAnswer = try serviceClient.readResponse()
        #expect(serviceAnswer.status == status, "\(name) outside /v2")
        #expect(Self.errorMember(serviceAnswer.text) is [String: Any], "\(name): \(serviceAnswer.text)")
    }

    @Test("a head that never finishes under /v2 times out in the protocol's format")
    func headTimeout() throws {
        let harness = try ServiceHarness { $0.http.headerTimeout = .milliseconds(300) }
        defer { harness.stop() }
        let client = try TestClient(port: harness.server.port)
        try client.send("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")
        let answer = try client.readResponse()
        #expect(answer.status == 408)
        #expect(Self.errorMember(answer.text) is String, "\(answer.text)")
    }

    @Test("text from the request is quoted in an error at most 64 characters long")
    func echoIsBounded() async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let key = String(repeating: "k", count: 100_000)
        let reply = try await harness.post("/predict", text: "{\"\(key)\": 1}")
        #expect(reply.status == 422)
        #expect(reply.errorMessage.hasPrefix("unknown field \"kkk"))
        #expect(reply.errorMessage.count < 200, "\(reply.errorMessage.count) characters")
        let name = String(repeating: "n", count: 100_000)
        let infer = try await harness.post(
            "/v2/models/binary/infer", text: "{\"inputs\": [{\"name\": \"\(name)\", \"datatype\": \"FP32\"}]}")
        #expect(infer.status == 400)
        #expect((InferenceProtocolTests.v2Error(infer) ?? "").count < 200)
    }
}
