import Foundation

/// A blocking TCP client over a raw socket, for sending exactly the bytes a test wants and reading
/// exactly what the server sends back. Reads time out after a generous 10 s so a broken server fails a
/// test instead of hanging it.
public final class TestClient: @unchecked Sendable {
    public let descriptor: Int32
    private var buffer: [UInt8] = []

    public struct Response: Sendable {
        public let status: Int
        public let reason: String
        public let headers: [(String, String)]
        public let body: [UInt8]

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public init(port: Int, timeoutSeconds: Int = 10) throws {
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
    public func closeNow() {
        guard !isClosed else { return }
        close(descriptor)
        isClosed = true
    }

    /// Closes with a TCP reset (SO_LINGER 0), as a client that crashes or gives up does.
    public func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(descriptor)
        isClosed = true
    }

    public func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    public func send(_ bytes: [UInt8]) throws {
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
    public func shutdownWrite() {
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
    public func readResponse(forHead: Bool = false) throws -> Response {
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

    /// Whether the server has sent something not read yet (or closed), without waiting.
    public func hasBytesWaiting() -> Bool {
        guard buffer.isEmpty else { return true }
        var watched = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&watched, 1, 0) > 0
    }

    /// Whether the server closed the connection (end of stream with nothing more to read).
    public func readsEndOfStream() -> Bool {
        guard buffer.isEmpty else { return false }
        return (try? fill()) == false
    }

    /// Reads answers until `count` have arrived, the stream ends or it stalls past the timeout: (status,
    /// body) for each, 1xx skipped. Parses in place with memchr, since the floods read megabytes.
    public func readResponses(count: Int) -> [(status: Int, body: String)] {
        var answers: [(status: Int, body: String)] = []
        var start = 0
        while answers.count < count {
            while answers.count < count, let end = findHeadEnd(from: start) {
                let head = String(decoding: buffer[start..<end], as: UTF8.self)
                let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
                let length =
                    head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                guard buffer.count >= end + 4 + length else { break }
                if !(100..<200).contains(status) {
                    answers.append((status, String(decoding: buffer[(end + 4)..<(end + 4 + length)], as: UTF8.self)))
                }
                start = end + 4 + length
            }
            if answers.count >= count { break }
            guard (try? fill()) == true else { break }
        }
        buffer.removeFirst(start)
        return answers
    }

    /// Reads whatever arrives next, up to `limit` bytes, and drops it; the count read (0 at end of stream).
    @discardableResult
    public func receiveSome(limit: Int = 1000) -> Int {
        var chunk = [UInt8](repeating: 0, count: limit)
        return max(0, chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) })
    }

    /// The index of the next CRLF CRLF at or after `start`, jumping between carriage returns with memchr.
    private func findHeadEnd(from start: Int = 0) -> Int? {
        buffer.withUnsafeBufferPointer { bytes -> Int? in
            guard let base = bytes.baseAddress else { return nil }
            var index = start
            while index + 3 < bytes.count {
                guard let found = memchr(base + index, 13, bytes.count - index) else { return nil }
                index = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                guard index + 3 < bytes.count else { return nil }
                if bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 { return index }
                index += 1
            }
            return nil
        }
    }
}
