import CLinux
import Dispatch
import Glibc
import Logging
import Synchronization

/// An HTTP/1.1 server on POSIX sockets, epoll event loops and Dispatch.
///
/// `start()` binds one listening socket and starts one event loop per core; every loop watches the listener
/// (with `EPOLLEXCLUSIVE`, so a new connection wakes one loop, not all) and owns the connections it
/// accepts. `shutdown()` drains gracefully: the `onShutdown` hook, the drain delay, then no new
/// connections, idle ones closed, in-flight requests finished within the grace period.
public final class HTTPServer: Sendable {
    private enum Phase: Sendable {
        case created
        case running
        case draining
        case stopped
    }

    /// Mutable state shared between the loops, Dispatch and callers.
    private struct State: @unchecked Sendable {
        var phase = Phase.created
        var listener: Socket?
        var acceptors: [Acceptor] = []
        var loops: [EventLoop] = []
        var connectionCount = 0
        var port = 0
        var lastAcceptErrorLog: UInt64 = 0
        /// ``shutdown()`` was called before ``start()``: drain as soon as the server runs.
        var shutdownAtStart = false
    }

    private let context: ServerContext
    private let state = Mutex(State())
    private let nextConnectionID = Atomic<Int>(0)
    private let control = DispatchQueue(label: "httpcore.server")
    /// Entered at start and left when the server has stopped, so any number of callers can wait.
    private let running = DispatchGroup()

    /// A server whose requests are answered by `responder` (typically a ``Router``).
    public init(configuration: HTTPServerConfiguration, logger: Logger, responder: any HTTPResponder) {
        context = ServerContext(configuration: configuration, responder: responder, logger: logger)
    }

    /// A server that answers every request with `handler`, run on Dispatch's worker threads.
    public convenience init(
        configuration: HTTPServerConfiguration, logger: Logger,
        handler: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse
    ) {
        self.init(configuration: configuration, logger: logger, responder: ClosureResponder(handler: handler))
    }

    /// The port the server listens on (the kernel's choice when configured with port 0).
    public var port: Int { state.withLock { $0.port } }

    /// The number of open connections.
    public var connectionCount: Int { state.withLock { $0.connectionCount } }

    /// The offloaded requests waiting for a worker.
    public var queueLength: Int { context.pool.queueLength }

    /// Binds, listens and starts the event loops. Fails with the system's reason (address in use, permission).
    public func start() throws(SocketError) {
        // Writes use MSG_NOSIGNAL; this covers anything else that writes to a closed socket or pipe.
        signal(SIGPIPE, SIG_IGN)
        Self.raiseDescriptorLimit()
        let configuration = context.configuration
        let listener = try Socket.listen(
            host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        let port: Int
        var loops: [EventLoop] = []
        do throws(SocketError) {
            port = try listener.localPort()
            for index in 0..<max(1, configuration.eventLoops) {
                loops.append(try EventLoop(index: index, tickInterval: context.tick))
            }
        } catch {
            listener.close()
            throw error
        }
        let acceptors = loops.map { Acceptor(server: self, listener: listener, loop: $0) }
        state.withLock {
            $0.phase = .running
            $0.listener = listener
            $0.loops = loops
            $0.acceptors = acceptors
            $0.port = port
        }
        running.enter()
        if !context.memoryBudget.isUnlimited { Self.returnLargeBlocksAtOnce() }
        context.pool.start()
        for (loop, acceptor) in zip(loops, acceptors) {
            loop.start()
            loop.execute { acceptor.start() }
        }
        context.logger.debug("listening on \(configuration.host):\(port) with \(loops.count) event loops")
        if state.withLock({ $0.shutdownAtStart }) { shutdown() }
    }

    /// Begins a graceful shutdown and returns at once; ``waitUntilStopped()`` waits for its end.
    public func shutdown() {
        let proceed = state.withLock { state -> Bool in
            if state.phase == .created { state.shutdownAtStart = true }
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
        control.asyncAfter(deadline: .now() + .nanoseconds(Int(configuration.drainDelay.nanoseconds))) { [self] in
            stopAccepting()
        }
    }

    /// Stops at once: no drain delay, no grace period (a second SIGTERM or SIGINT).
    public func shutdownNow() {
        state.withLock { state in
            if state.phase == .running { state.phase = .draining }
        }
        context.draining.set()
        control.async { [self] in
            stopAccepting()
            forEachConnection { $0.forceClose() }
        }
    }

    /// Blocks until the server has stopped.
    public func waitUntilStopped() {
        running.wait()
    }

    /// From now on the first SIGTERM or SIGINT shuts the server down gracefully and a second one stops it at
    /// once. Call it before ``start()``: a signal that comes before the server runs makes it drain as soon
    /// as it starts, so none falls between the process's start-up handler and this one.
    public func handleSignals(_ signals: TerminationSignals) {
        signals.handle { [self] number in
            let first = state.withLock { $0.phase == .running || $0.phase == .created }
            context.logger.notice("received signal \(number)\(first ? "" : " again: stopping now")")
            if first { shutdown() } else { shutdownNow() }
        }
    }

    /// Runs until SIGTERM or SIGINT (see ``handleSignals(_:)``), then until the server has stopped. `signals`
    /// are the ones the process caught while it started; without them they are caught from now on.
    public func runUntilTerminated(signals: TerminationSignals? = nil) {
        let signals = signals ?? TerminationSignals(whileStarting: { _ in })
        handleSignals(signals)
        waitUntilStopped()
        signals.cancel()
    }

    // MARK: - Accepting (on the loops' threads)

    /// Accepts a bounded batch of pending connections into `loop`.
    fileprivate func acceptPending(from listener: Socket, into loop: EventLoop, acceptor: Acceptor) {
        for _ in 0..<64 {
            let client: Socket?
            do {
                client = try listener.accept()
            } catch {
                pauseAccepting(acceptor, after: error)
                return
            }
            guard let client else { return }
            admit(client, into: loop)
        }
    }

    /// Out of descriptors (EMFILE, ENFILE) or memory: log it (once a second at most) and stop accepting on
    /// this loop for 100 ms rather than spin on a listener that stays readable. Nothing is lost: clients
    /// wait in the backlog.
    private func pauseAccepting(_ acceptor: Acceptor, after error: SocketError) {
        let shouldLog = state.withLock { state -> Bool in
            // Read inside the lock: another loop may have logged a moment later than this one's clock.
            let now = EventLoop.now()
            guard now >= state.lastAcceptErrorLog + 1_000_000_000 || state.lastAcceptErrorLog == 0 else {
                return false
            }
            state.lastAcceptErrorLog = now
            return true
        }
        if shouldLog {
            context.logger.error("accept failed; pausing new connections for 100 ms", metadata: ["error": "\(error)"])
        }
        acceptor.pause(until: EventLoop.now() + 100_000_000)
    }

    private func admit(_ client: Socket, into loop: EventLoop) {
        let maxConnections = context.configuration.maxConnections
        let admitted = state.withLock { state -> Bool in
            guard state.phase == .running || state.phase == .draining, state.connectionCount < maxConnections else {
                return false
            }
            state.connectionCount += 1
            return true
        }
        guard admitted else {
            reject(client)
            return
        }
        // Connections are dealt to the loops in turn. Whichever loop the kernel wakes accepts, and left to
        // itself it would keep most connections (measured: one loop doing all the work a third of the time).
        let id = nextConnectionID.add(1, ordering: .relaxed).newValue
        let loops = state.withLock { $0.loops }
        let owner = loops[id % loops.count]
        let connection = Connection(id: id, socket: client, loop: owner, context: context) { [self] _ in
            connectionClosed()
        }
        if owner === loop {
            connection.start()
        } else {
            owner.execute { connection.start() }
        }
    }

    /// Over the connection limit: a 503 written without waiting, and the connection closed. The client gets
    /// a clear answer and the server never stalls on it.
    private func reject(_ client: Socket) {
        context.notify { $0.connectionRejected() }
        context.logger.warning(
            "connection limit of \(context.configuration.maxConnections) reached; refusing a connection")
        let error = HTTPError(
            status: .serviceUnavailable, code: "too_many_connections",
            message: "the server is at its limit of \(context.configuration.maxConnections) connections; retry shortly",
            headers: ["Retry-After": "1"])
        let bytes = HTTPResponseEncoder.encode(
            context.errorResponse(error, for: nil), includeBody: true, closing: true, keepAliveHTTP10: false,
            requestID: nil,
            serverName: context.configuration.serverName, date: HTTPDateCache.format(time(nil)))
        _ = bytes.withUnsafeBytes { try? client.write($0) }
        client.shutdownWrite()
        // Read what already arrived, so closing does not reset the connection and destroy the 503.
        withUnsafeTemporaryAllocation(byteCount: 16 * 1024, alignment: 16) { _ = try? client.read(into: $0) }
        client.close()
    }

    // MARK: - Stopping

    private func forEachConnection(_ body: @escaping @Sendable (Connection) -> Void) {
        for loop in state.withLock({ $0.loops }) {
            loop.execute {
                for case let connection as Connection in loop.allSources { body(connection) }
            }
        }
    }

    /// Closes the listener on every loop, then asks every connection to drain; after the grace period,
    /// closes whatever is left.
    private func stopAccepting() {
        let (listener, acceptors) = state.withLock { state -> (Socket?, [Acceptor]) in
            let listener = state.listener
            state.listener = nil
            let acceptors = state.acceptors
            state.acceptors = []
            return (listener, acceptors)
        }
        guard let listener else { return }
        let group = DispatchGroup()
        for acceptor in acceptors {
            group.enter()
            acceptor.loop.execute {
                acceptor.stop()
                group.leave()
            }
        }
        group.wait()
        listener.close()
        forEachConnection { $0.drain() }
        finishIfIdle()
        let grace = context.configuration.gracePeriod
        control.asyncAfter(deadline: .now() + .nanoseconds(Int(grace.nanoseconds))) { [self] in
            let remaining = connectionCount
            if remaining > 0 {
                context.logger.warning("grace period over; closing \(remaining) connection(s) still in progress")
                forEachConnection { $0.forceClose() }
            }
        }
    }

    private func connectionClosed() {
        state.withLock { $0.connectionCount -= 1 }
        finishIfIdle()
    }

    private func finishIfIdle() {
        let loops = state.withLock { state -> [EventLoop]? in
            guard state.phase == .draining, state.listener == nil, state.connectionCount == 0 else { return nil }
            state.phase = .stopped
            return state.loops
        }
        guard let loops else { return }
        // Called on a loop's thread: stop the loops from elsewhere, since a loop cannot wait for itself.
        control.async { [self] in
            loops.forEach { $0.stopAndWait() }
            context.pool.stop()
            context.logger.notice("stopped")
            running.leave()
        }
    }

    /// Makes what the memory budget counts what the process holds: every block of 256 KiB or more (a body,
    /// decoded images, an answer) gets pages of its own, given back to the system when freed. By default
    /// glibc raises that threshold each time such a block is freed (up to 32 MiB), after which large
    /// blocks come from per-thread heaps that keep their pages: measured, a 256 MiB container with a
    /// budget of 128 MiB was killed by the kernel, its heaps at the limit while the budget was respected.
    private static func returnLargeBlocksAtOnce() {
        _ = mallopt(M_MMAP_THRESHOLD, 256 * 1024)
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

/// The listening socket as one loop sees it: every loop watches the same socket, registered with
/// `EPOLLEXCLUSIVE` so that a new connection wakes one loop, which accepts it and then owns it.
private final class Acceptor: EventLoopSource, @unchecked Sendable {
    unowned let server: HTTPServer
    let listener: Socket
    let loop: EventLoop
    private var isWatching = false
    private var pausedUntil: UInt64?

    init(server: HTTPServer, listener: Socket, loop: EventLoop) {
        self.server = server
        self.listener = listener
        self.loop = loop
    }

    func start() {
        guard !isWatching, pausedUntil == nil else { return }
        guard loop.register(listener.descriptor, source: self, readable: true, writable: false, exclusive: true) else {
            // epoll refused (out of memory): try again shortly rather than stop accepting on this loop.
            pause(until: EventLoop.now() + 100_000_000)
            return
        }
        isWatching = true
    }

    func stop() {
        if pausedUntil != nil {
            pausedUntil = nil
            loop.removeTicker(self)
        }
        guard isWatching else { return }
        isWatching = false
        loop.unregister(listener.descriptor)
    }

    /// Stops watching the listener until `deadline`; the loop keeps ticking the acceptor meanwhile.
    func pause(until deadline: UInt64) {
        stop()
        pausedUntil = deadline
        loop.addTicker(self)
    }

    func handleEvents(readable: Bool, writable: Bool, hangUp: Bool) {
        if readable { server.acceptPending(from: listener, into: loop, acceptor: self) }
    }

    func tick(now: UInt64) {
        guard let pausedUntil, now >= pausedUntil else { return }
        self.pausedUntil = nil
        loop.removeTicker(self)
        start()
    }
}
