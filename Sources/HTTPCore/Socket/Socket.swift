import Glibc

/// A thin value over a socket descriptor: each method is one system call with `EINTR` retried and
/// errors named. Ownership (who closes it, and when) belongs to the caller.
struct Socket: Sendable, Equatable {
    let descriptor: Int32

    /// What a non-blocking read found.
    enum ReadResult: Equatable {
        case bytes(Int)
        case wouldBlock
        case endOfStream
    }

    /// Opens, binds and listens on `host:port` (IPv4 or IPv6, names resolved), non-blocking.
    /// Port 0 asks the kernel for a free port; ``localPort()`` tells which.
    static func listen(host: String, port: Int, backlog: Int32) throws(SocketError) -> Socket {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw SocketError(operation: "resolving \(host): \(String(cString: gai_strerror(status)))", code: EINVAL)
        }
        defer { freeaddrinfo(list) }
        var lastError = SocketError(operation: "bind", code: EADDRNOTAVAIL)
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let address = candidate {
            candidate = address.pointee.ai_next
            do {
                return try bindAndListen(address.pointee, backlog: backlog)
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    private static func bindAndListen(_ address: addrinfo, backlog: Int32) throws(SocketError) -> Socket {
        let descriptor = try SocketError.check("socket") {
            socket(
                address.ai_family, address.ai_socktype | Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue),
                address.ai_protocol)
        }
        let listener = Socket(descriptor: descriptor)
        do throws(SocketError) {
            try listener.setOption(SOL_SOCKET, SO_REUSEADDR, 1, name: "setsockopt(SO_REUSEADDR)")
            try SocketError.check("bind") { bind(descriptor, address.ai_addr, address.ai_addrlen) }
            try SocketError.check("listen") { Glibc.listen(descriptor, backlog) }
            return listener
        } catch {
            listener.close()
            throw error
        }
    }

    /// Accepts one pending connection as a non-blocking socket, or `nil` when none is pending.
    func accept() throws(SocketError) -> Socket? {
        while true {
            let client = Glibc.accept(descriptor, nil, nil)
            if client >= 0 {
                // Glibc's module map hides accept4, so the flags take two more calls.
                _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                return Socket(descriptor: client)
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            // The peer gave up before we got to it: not an error of ours; look for the next.
            case ECONNABORTED, EPROTO: continue
            default: throw SocketError(operation: "accept", code: errno)
            }
        }
    }

    /// Reads what is available into `buffer`.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) -> ReadResult {
        while true {
            let count = recv(descriptor, buffer.baseAddress, buffer.count, 0)
            if count > 0 { return .bytes(count) }
            if count == 0 { return .endOfStream }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw SocketError(operation: "recv", code: errno)
            }
        }
    }

    /// Writes as much of `bytes` as the socket takes now; `nil` when it takes nothing (EAGAIN).
    /// `MSG_NOSIGNAL`: a peer that has gone away gives `EPIPE` here, never a SIGPIPE that kills the process.
    func write(_ bytes: UnsafeRawBufferPointer) throws(SocketError) -> Int? {
        while true {
            let count = send(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if count >= 0 { return count }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            default: throw SocketError(operation: "send", code: errno)
            }
        }
    }

    /// The port the socket is bound to.
    func localPort() throws(SocketError) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        try withUnsafeMutablePointer(to: &storage) { pointer throws(SocketError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(SocketError) in
                _ = try SocketError.check("getsockname") { getsockname(descriptor, address, &length) }
            }
        }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            }
        default:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    Int(UInt16(bigEndian: $0.pointee.sin6_port))
                }
            }
        }
    }

    func setOption(_ level: Int32, _ option: Int32, _ value: Int32, name: String) throws(SocketError) {
        var value = value
        try SocketError.check(name) {
            setsockopt(descriptor, level, option, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// Disables Nagle's algorithm: a response is written whole, and waiting to coalesce it only adds latency.
    func setNoDelay() {
        try? setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1, name: "setsockopt(TCP_NODELAY)")
    }

    /// Half-closes: the peer reads end-of-stream after what was sent, while we can still read (and discard)
    /// what it is sending, so our last response is not lost to a reset.
    func shutdownWrite() {
        _ = shutdown(descriptor, Int32(SHUT_WR))
    }

    func close() {
        _ = Glibc.close(descriptor)
    }
}
