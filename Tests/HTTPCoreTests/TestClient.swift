import Foundation
import HTTPCore
import Logging
import Testing

/// A blocking TCP client over a raw socket, for sending exactly the bytes a test wants and reading
/// exactly what the server sends back. Reads time out after a generous 10 s so a broken server fails a
/// test instead of hanging it.
final class TestClient {
    let descriptor: Int32
    private var buffer: [UInt8] = []

    struct Response {
        let status: Int
        let reason: String
        let headers: [(String, String)]
        let body: [UInt8]

        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        var text: String { String(decoding: body, as: UTF8.self) }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(port: Int, timeoutSeconds: Int = 10) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket: \(errno)") }
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
            let code = errno
            close(descriptor)
            throw Failure(description: "connect: \(String(cString: strerror(code)))")
        }
    }

    private var isClosed = false

    deinit {
        if !isClosed { close(descriptor) }
    }

    /// Closes the connection now (a FIN), as a client does once it has its answer.
    func closeNow() {
        guard !isClosed else { return }
        close(descriptor)
        isClosed = true
    }

    /// Closes with a TCP reset (SO_LINGER 0), as a client that crashes or gives up does.
    func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(descriptor)
        isClosed = true
    }

    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard count > 0 else { throw Failure(description: "send: \(String(cString: strerror(errno)))") }
            offset += count
        }
    }

    /// Half-closes: the server reads end-of-stream.
    func shutdownWrite() {
        shutdown(descriptor, Int32(SHUT_WR))
    }

    /// Reads more bytes into the buffer; false at end of stream.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            buffer += chunk[0..<count]
            return true
        }
        if count == 0 { return false }
        throw Failure(description: "recv: \(String(cString: strerror(errno)))")
    }

    /// Reads one response (Content-Length framed, or none for 1xx/204/304 and HEAD).
    func readResponse(forHead: Bool = false) throws -> Response {
        while true {
            if let end = findHeadEnd() {
                let headText = String(decoding: buffer[0..<end], as: UTF8.self)
                var lines = headText.components(separatedBy: "\r\n")
                let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
                let status = Int(statusLine[1]) ?? 0
                let headers = lines.filter { !$0.isEmpty }.map { line -> (String, String) in
                    let parts = line.split(separator: ":", maxSplits: 1)
                    return (
                        String(parts[0]), String(parts.count > 1 ? parts[1] : "").trimmingCharacters(in: .whitespaces)
                    )
                }
                let length =
                    forHead || (100..<200).contains(status) || status == 204 || status == 304
                    ? 0 : Int(headers.first { $0.0.lowercased() == "content-length" }?.1 ?? "0") ?? 0
                while buffer.count < end + 4 + length {
                    guard try fill() else { throw Failure(description: "end of stream inside a body") }
                }
                let body = Array(buffer[end + 4..<end + 4 + length])
                buffer.removeFirst(end + 4 + length)
                return Response(
                    status: status, reason: statusLine.count > 2 ? String(statusLine[2]) : "", headers: headers,
                    body: body)
            }
            guard try fill() else {
                throw Failure(description: "end of stream before a response (\(buffer.count) bytes buffered)")
            }
        }
    }

    /// Whether the server closed the connection (end of stream with nothing more to read).
    func readsEndOfStream() -> Bool {
        guard buffer.isEmpty else { return false }
        return (try? fill()) == false
    }

    private func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for index in 0...(buffer.count - 4)
        where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
            return index
        }
        return nil
    }
}

/// A server on 127.0.0.1 and an ephemeral port with a few test routes; stopped by `stop()`.
struct TestServer {
    let server: HTTPServer
    var port: Int { server.port }

    init(
        configure: (inout HTTPServerConfiguration) -> Void = { _ in }, extraRoutes: (inout Router) -> Void = { _ in }
    ) throws {
        var configuration = HTTPServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configure(&configuration)
        var router = Router()
        router.get("/hello") { _ in HTTPResponse(contentType: "text/plain", body: Array("hello".utf8)) }
        router.post("/echo") { request in HTTPResponse(contentType: "application/octet-stream", body: request.body) }
        router.get("/items/{id}") { request in
            HTTPResponse(contentType: "text/plain", body: Array("item \(request.pathParameters["id"] ?? "")".utf8))
        }
        router.get("/request-id") { request in
            HTTPResponse(contentType: "text/plain", body: Array(request.requestID.utf8))
        }
        router.get("/fail") { _ in throw CancellationError() }
        extraRoutes(&router)
        let routes = router
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        // The router itself is the responder, so that routes marked inline do run on the loop.
        server = HTTPServer(configuration: configuration, logger: logger, responder: routes)
        try server.start()
    }

    func stop() {
        server.shutdownNow()
        server.waitUntilStopped()
    }
}
