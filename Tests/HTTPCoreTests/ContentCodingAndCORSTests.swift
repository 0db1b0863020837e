import Foundation
import LoopbackClient
import Testing

@testable import HTTPCore

@Suite("gzip and CORS")
struct ContentCodingAndCORSTests {
    @Test("gzip round trip, and gunzip's limits and refusals")
    func gzipUnits() throws {
        let text = Array(String(repeating: "digits 0123456789 ", count: 500).utf8)
        let compressed = ContentCoding.gzip(text)
        #expect(compressed.count < text.count / 10)
        #expect(Array(compressed.prefix(2)) == [0x1F, 0x8B], "a gzip member, as gzip(1) writes")
        #expect(try ContentCoding.gunzip(compressed, limit: text.count) == text)
        #expect(throws: ContentCoding.Failure.tooLarge(limit: 100)) { try ContentCoding.gunzip(compressed, limit: 100) }
        #expect(throws: ContentCoding.Failure.corrupt) {
            try ContentCoding.gunzip(Array(compressed.dropLast(9)), limit: 1 << 20)
        }
        #expect(throws: ContentCoding.Failure.corrupt) { try ContentCoding.gunzip(text, limit: 1 << 20) }
        #expect(throws: ContentCoding.Failure.corrupt) {
            try ContentCoding.gunzip(compressed + [1, 2, 3], limit: 1 << 20)
        }
    }

    @Test(
        "Accept-Encoding: listed, by *, and refused with q=0",
        arguments: [
            ("gzip", true), ("gzip, deflate, br", true), ("br;q=1.0, gzip;q=0.8", true), ("*", true),
            ("gzip;q=0", false),
            ("*;q=0", false), ("deflate", false), ("identity", false), ("*, gzip;q=0", false), ("x-gzip", true),
        ])
    func acceptEncoding(value: String, accepted: Bool) {
        let head = HTTPRequestHead(method: "GET", target: "/", version: .http1_1, headers: ["Accept-Encoding": value])
        #expect(ContentCoding.acceptsGzip(head) == accepted)
    }

    static func server(cors: CORSPolicy? = nil, maxBody: Int = 1 << 20) throws -> TestServer {
        try TestServer(
            configure: {
                $0.cors = cors
                $0.limits.maxBodyBytes = maxBody
            },
            extraRoutes: { router in
                router.get("/big") { _ in
                    HTTPResponse(
                        contentType: "text/plain", body: Array(String(repeating: "seven 7 ", count: 1000).utf8))
                }
            })
    }

    @Test("a gzip request body reaches the handler inflated")
    func gzipRequest() throws {
        let server = try Self.server()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        let body = Array(String(repeating: "0,", count: 2000).utf8)
        let compressed = ContentCoding.gzip(body)
        try client.send(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: \(compressed.count)\r\n\r\n")
        try client.send(compressed)
        let response = try client.readResponse()
        #expect(response.status == 200 && response.body == body)
    }

    @Test("a gzip response when the client accepts it and the body is large; never otherwise")
    func gzipResponse() throws {
        let server = try Self.server()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        try client.send("GET /big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br\r\n\r\n")
        let compressed = try client.readResponse()
        #expect(compressed.header("Content-Encoding") == "gzip" && compressed.header("Vary") == "Accept-Encoding")
        #expect(compressed.body.count < 500)
        #expect(try ContentCoding.gunzip(compressed.body, limit: 1 << 20).count == 8000)
        try client.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        let plain = try client.readResponse()
        #expect(plain.header("Content-Encoding") == nil && plain.body.count == 8000)
        try client.send("GET /hello HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
        #expect(try client.readResponse().header("Content-Encoding") == nil, "5 bytes are not worth compressing")
    }

    @Test("a gzip bomb gets 413, not an out-of-memory; other codings get 415; broken gzip 400")
    func gzipRefusals() throws {
        let server = try Self.server(maxBody: 100_000)
        defer { server.stop() }
        // 50 MB of zeros deflate to about 50 KB; the decoded limit is 100 KB.
        let bomb = ContentCoding.gzip([UInt8](repeating: 0, count: 50_000_000))
        #expect(bomb.count < 100_000)
        let client = try TestClient(port: server.port)
        try client.send(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: \(bomb.count)\r\n\r\n")
        try client.send(bomb)
        let response = try client.readResponse()
        #expect(response.status == 413 && response.text.contains("inflates to more than 100000 bytes"))
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: br\r\nContent-Length: 3\r\n\r\nabc")
        let unsupported = try client.readResponse()
        #expect(unsupported.status == 415 && unsupported.text.contains("unsupported_content_encoding"))
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc")
        #expect(try client.readResponse().status == 400)
    }

    @Test("CORS: a preflight from an allowed origin is answered; others are refused; off by default")
    func corsPreflight() throws {
        let server = try Self.server(cors: CORSPolicy(allowedOrigins: ["https://app.example"]))
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        let preflight = "OPTIONS /echo HTTP/1.1\r\nHost: x\r\nAccess-Control-Request-Method: POST\r\n"
        try client.send(
            preflight + "Origin: https://app.example\r\nAccess-Control-Request-Headers: content-type\r\n\r\n")
        let allowed = try client.readResponse()
        #expect(allowed.status == 204)
        #expect(allowed.header("Access-Control-Allow-Origin") == "https://app.example")
        #expect(allowed.header("Access-Control-Allow-Methods") == "OPTIONS, POST")
        #expect(allowed.header("Access-Control-Allow-Headers") == "content-type")
        #expect(allowed.header("Access-Control-Max-Age") == "600")
        try client.send(preflight + "Origin: https://evil.example\r\n\r\n")
        let refused = try client.readResponse()
        #expect(refused.status == 403 && refused.header("Access-Control-Allow-Origin") == nil)
        try client.send(
            "OPTIONS /echo HTTP/1.1\r\nHost: x\r\nAccess-Control-Request-Method: DELETE\r\nOrigin: https://app.example\r\n\r\n"
        )
        #expect(try client.readResponse().status == 403)
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nContent-Length: 2\r\n\r\nhi")
        let actual = try client.readResponse()
        #expect(actual.header("Access-Control-Allow-Origin") == "https://app.example")
        #expect(actual.header("Access-Control-Expose-Headers")?.contains("X-Request-ID") == true)

        let closed = try Self.server()
        defer { closed.stop() }
        let other = try TestClient(port: closed.port)
        try other.send(preflight + "Origin: https://app.example\r\n\r\n")
        let off = try other.readResponse()
        #expect(off.header("Access-Control-Allow-Origin") == nil)
    }
}
