import Dispatch
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An HTTP/1.1 server on POSIX sockets and Dispatch.
///
/// `start()` binds and begins accepting; each connection then lives on its own serial queue
/// (see ``Connection``). `shutdown()` drains gracefully: the `onShutdown` hook, the drain delay, then no
/// new connections, idle ones closed, in-flight requests finished within the grace period.
public final class HTTPServer: Sendable {
    private enum Phase: Sendable {
        case created
        case running
        case draining
        case stopped
    }

    /// Mutable state, shared between the accept queue, connection queues and callers.
    private struct State: @unchecked Sendable {
        var phase = Phase.created
        var listener: Socket?
        var acceptSource: DispatchSourceRead?
        var acceptPaused = false
        var connections: [Int: Connection] = [:]
        var nextConnectionID = 0
        var port = 0
        var lastAcceptErrorLog: UInt64 = 0
    }

    private let context: ServerContext
    private let state = Mutex(State())
    private let acceptQueue = DispatchQueue(label: "digits.accept")
    /// Entered at start and left when the server has stopped, so any number of callers can wait.
    private let running = DispatchGroup()

    /// A server that answers every request with `handler` (typically ``Router/handle(_:)``).
    public init(
        configuration: HTTPServerConfiguration, logger: Logger,
        handler: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse
    ) {
        context = ServerContext(configuration: configuration, handler: handler, logger: logger)
    }

    /// The port the server listens on (the kernel's choice when configured with port 0).
    public var port: Int { state.withLock { $0.port } }

    /// The number of open connections.
    public var connectionCount: Int { state.withLock { $0.connections.count } }

    /// Binds, listens and starts accepting. Fails with the system's reason (address in use, permission).
    public func start() throws(SocketError) {
        // Writes use MSG_NOSIGNAL; this covers anything else that writes to a closed socket or pipe.
        signal(SIGPIPE, SIG_IGN)
        Self.raiseDescriptorLimit()
        let configuration = context.configuration
        let listener = try Socket.listen(
            host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        let port: Int
        do {
            port = try listener.localPort()
        } catch {
            listener.close()
            throw error
        }
        let source = DispatchSource.makeReadSource(fileDescriptor: listener.descriptor, queue: acceptQueue)
        source.setEventHandler { [self] in acceptPending() }
        source.setCancelHandler { listener.close() }
        state.withLock {
            $0.phase = .running
            $0.listener = listener
            $0.acceptSource = source
            $0.port = port
        }
        running.enter()
        source.activate()
        context.logger.debug("listening on \(configuration.host):\(port)")
    }

    /// Begins a graceful shutdown and returns at once; ``waitUntilStopped()`` waits for its end.
    public func shutdown() {
        let proceed = state.withLock { state -> Bool in
            guard state.phase == .running else { return false }
            state.phase = .draining
            return true
        }
        guard proceed else { return }
        context.draining.set()
        let configuration = context.configuration
        configuration.onShutdown?()
        context.logger.notice(
            "shutting down: serving for the drain delay of \(configuration.drainDelay), then finishing in-flight requests within \(configuration.gracePeriod)"
        )
        acceptQueue.asyncAfter(deadline: .now() + .nanoseconds(Int(configuration.drainDelay.nanoseconds))) { [self] in
            stopAccepting()
        }
    }

    /// Stops at once: no drain delay, no grace period (a second SIGTERM or SIGINT).
    public func shutdownNow() {
        state.withLock { state in
            if state.phase == .running { state.phase = .draining }
        }
        context.draining.set()
        acceptQueue.async { [self] in
            stopAccepting()
            for connection in state.withLock({ Array($0.connections.values) }) { connection.forceClose() }
        }
    }

    /// Blocks until the server has stopped.
    public func waitUntilStopped() {
        running.wait()
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully; a second signal stops at once.
    public func runUntilTerminated() {
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let signals = [SIGTERM, SIGINT].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: acceptQueue)
            source.setEventHandler { [self] in
                let first = state.withLock { $0.phase == .running }
                context.logger.notice("received signal \(number)\(first ? "" : " again: stopping now")")
                if first { shutdown() } else { shutdownNow() }
            }
            source.activate()
            return source
        }
        waitUntilStopped()
        signals.forEach { $0.cancel() }
    }

    // MARK: - Accepting

    private func acceptPending() {
        guard let listener = state.withLock({ $0.listener }) else { return }
        // A bounded batch per wake-up, so that accepting cannot starve the queue's other work.
        for _ in 0..<64 {
            let client: Socket?
            do {
                client = try listener.accept()
            } catch {
                pauseAccepting(after: error)
                return
            }
            guard let client else { return }
            admit(client)
        }
    }

    /// Out of descriptors (EMFILE, ENFILE) or memory: log it and stop accepting for 100 ms rather than spin
    /// on a listener that stays readable, then try again. Nothing is lost: clients wait in the backlog.
    private func pauseAccepting(after error: SocketError) {
        let now = Connection.now()
        let (source, shouldLog) = state.withLock { state -> (DispatchSourceRead?, Bool) in
            guard state.phase == .running || state.phase == .draining, !state.acceptPaused else { return (nil, false) }
            state.acceptPaused = true
            let shouldLog = now - state.lastAcceptErrorLog > 1_000_000_000
            if shouldLog { state.lastAcceptErrorLog = now }
            return (state.acceptSource, shouldLog)
        }
        guard let source else { return }
        if shouldLog {
            context.logger.error("accept failed; pausing new connections for 100 ms", metadata: ["error": "\(error)"])
        }
        source.suspend()
        acceptQueue.asyncAfter(deadline: .now() + .milliseconds(100)) { [self] in
            // If shutdown cancelled the source meanwhile, it also resumed it; nothing to do then.
            let source = state.withLock { state -> DispatchSourceRead? in
                state.acceptPaused = false
                return state.acceptSource
            }
            source?.resume()
        }
    }

    private func admit(_ client: Socket) {
        let maxConnections = context.configuration.maxConnections
        let connection = state.withLock { state -> Connection? in
            guard state.phase == .running || state.phase == .draining, state.connections.count < maxConnections else {
                return nil
            }
            state.nextConnectionID += 1
            let connection = Connection(id: state.nextConnectionID, socket: client, context: context) { [self] id in
                connectionClosed(id)
            }
            state.connections[connection.id] = connection
            return connection
        }
        guard let connection else {
            reject(client)
            return
        }
        connection.start()
    }

    /// Over the connection limit: a 503 written without waiting, and the connection closed. The client gets
    /// a clear answer and the server never stalls on it.
    private func reject(_ client: Socket) {
        context.logger.warning(
            "connection limit of \(context.configuration.maxConnections) reached; refusing a connection")
        let error = HTTPError(
            status: .serviceUnavailable, code: "too_many_connections",
            message: "the server is at its limit of \(context.configuration.maxConnections) connections; retry shortly",
            headers: ["Retry-After": "1"])
        let bytes = HTTPResponseEncoder.encode(
            context.errorResponse(error), includeBody: true, closing: true, keepAliveHTTP10: false, requestID: nil,
            serverName: context.configuration.serverName, date: context.dateCache.current())
        _ = bytes.withUnsafeBytes { try? client.write($0) }
        client.shutdownWrite()
        // Read what already arrived, so closing does not reset the connection and destroy the 503.
        withUnsafeTemporaryAllocation(byteCount: 16 * 1024, alignment: 16) { _ = try? client.read(into: $0) }
        client.close()
    }

    // MARK: - Stopping

    private func stopAccepting() {
        let (source, connections) = state.withLock { state -> (DispatchSourceRead?, [Connection]) in
            let source = state.acceptSource
            state.acceptSource = nil
            state.listener = nil
            return (source, Array(state.connections.values))
        }
        if let source {
            source.cancel()
            if state.withLock({ $0.acceptPaused }) { source.resume() }
        }
        connections.forEach { $0.drain() }
        finishIfIdle()
        let grace = context.configuration.gracePeriod
        acceptQueue.asyncAfter(deadline: .now() + .nanoseconds(Int(grace.nanoseconds))) { [self] in
            let remaining = state.withLock { Array($0.connections.values) }
            if !remaining.isEmpty {
                context.logger.warning("grace period over; closing \(remaining.count) connection(s) still in progress")
            }
            remaining.forEach { $0.forceClose() }
        }
    }

    private func connectionClosed(_ id: Int) {
        state.withLock { _ = $0.connections.removeValue(forKey: id) }
        finishIfIdle()
    }

    private func finishIfIdle() {
        let finished = state.withLock { state -> Bool in
            guard state.phase == .draining, state.acceptSource == nil, state.connections.isEmpty else { return false }
            state.phase = .stopped
            return true
        }
        if finished {
            context.logger.notice("stopped")
            running.leave()
        }
    }

    /// Lifts the soft limit on open descriptors to the hard one, so the connection limit, not a default of
    /// 1024 descriptors, decides how many clients are served.
    private static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
