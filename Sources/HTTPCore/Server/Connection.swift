import Dispatch
import Glibc
import Logging
import Synchronization

/// One client connection, owned by one event loop: every method runs on that loop's thread, which is what
/// makes the class safe to hand between threads (hence `@unchecked Sendable`). It knows framing and bytes
/// only: what to answer is the responder's (the middleware and the router), when to read, write, answer
/// and close is ``ConnectionStateMachine``'s.
///
/// Each readiness event runs one bounded loop, ``pump()``: answer the complete requests already buffered,
/// write what is queued, read what has arrived, repeat; never re-entered (nothing it calls calls back into
/// it). While the loop handles a batch of events the write waits: the pump stops there, and the loop
/// resumes it once the batch is handled, with what is left of its budget (``EventLoop/deferWrite(_:)``
/// says why). After `maxRequestsPerWake` requests or `maxBytesPerWake` bytes read, across both parts, it
/// goes back to epoll and resumes on the next turn, so one pipelining client cannot starve the other
/// connections on its loop.
final class Connection: EventLoopSource, @unchecked Sendable {
    let id: Int
    let loop: EventLoop
    private let socket: Socket
    private let context: ServerContext
    private let onClosed: @Sendable (Int) -> Void

    private var parser: HTTPRequestParser
    private var machine: ConnectionStateMachine
    private var isClosed = false
    /// The parser has no complete request left: reading is what can move things on.
    private var parserNeedsMore = true
    /// Bytes read since the state machine was last told.
    private var unreportedBytes = 0
    /// What the loop watches for now.
    private var watchingRead = true
    private var watchingWrite = false
    /// A resumption is posted to the loop: the budget ran out with work left.
    private var resumePending = false
    /// What a pump has spent of its wake-up's budget, and whether its last read found the socket empty.
    private struct PumpBudget {
        var requests = 0
        var bytesRead = 0
        /// A read returned less than the buffer holds: the socket is empty for now, and reading again would
        /// only cost an `EAGAIN` system call (epoll, level-triggered, says when more arrives).
        var socketEmpty = false
    }
    /// Set while the queued answers wait for the loop to write them at the end of its batch of events,
    /// with what the pump had spent; the deferred write goes on from there.
    private var deferredPump: PumpBudget?

    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    /// What the request being received holds of the memory budget, until it is handed to its handler.
    private var receiving: MemoryReservation?
    /// What the answers queued and not yet written hold of it.
    private let outboundMemory: MemoryReservation
    /// The request being answered off the loop, for the exchange record if the client leaves first.
    private var offloaded:
        (
            head: HTTPRequestHead, route: String?, requestID: String, start: UInt64,
            cancellation: WorkPool.Cancellation, memory: MemoryReservation
        )?
    private var dateCache = HTTPDateCache()

    /// Requests answered, and bytes read, in one wake-up before yielding to the loop's other connections.
    static let maxRequestsPerWake = 64
    static let maxBytesPerWake = 256 * 1024
    /// Above this much unwritten output, answer no more pipelined requests until the client takes some.
    static let maxQueuedOutput = 256 * 1024

    init(id: Int, socket: Socket, loop: EventLoop, context: ServerContext, onClosed: @escaping @Sendable (Int) -> Void)
    {
        self.id = id
        self.socket = socket
        self.loop = loop
        self.context = context
        self.onClosed = onClosed
        parser = HTTPRequestParser(limits: context.configuration.limits)
        machine = ConnectionStateMachine(timeouts: context.timeouts, now: EventLoop.now())
        outboundMemory = MemoryReservation(budget: context.memoryBudget)
    }

    /// Starts watching the socket; on the loop's thread.
    func start() {
        context.notify { $0.connectionOpened() }
        socket.setNoDelay()
        guard loop.register(socket.descriptor, source: self, readable: true, writable: false) else {
            context.logger.warning("connection \(id): the event loop refused its socket; closing it")
            close()
            return
        }
    }

    /// Begins a graceful close: now if idle, otherwise after the current response. On the loop's thread.
    func drain() {
        guard !isClosed else { return }
        if machine.beginDrain() { close() }
    }

    /// Closes at once, whatever is in progress (the grace period is over). On the loop's thread. Answers
    /// still waiting for the loop's end-of-batch write are tried first: the observers have counted them.
    func forceClose() {
        if deferredPump != nil && machine.outputPending && !machine.writeBlocked { writeOutbound() }
        close()
    }

    // MARK: - Events

    func handleEvents(readable: Bool, writable: Bool, hangUp: Bool) {
        guard !isClosed else { return }
        if hangUp && !readable {
            close()
            return
        }
        if writable { machine.becameWritable(now: EventLoop.now()) }
        // A client that made room is awake and reading: its write has no wake-up to save by waiting.
        pump(mayDeferWrite: !writable)
    }

    func tick(now: UInt64) {
        guard !isClosed, let action = machine.timeoutAction(now: now) else { return }
        switch action {
        case .close, .abort:
            close()
        case .requestTimeout, .bodyTooSlow, .reservedBodyTooSlow:
            machine.closeAfterResponse()
            let grace = context.timeouts.bodyRateGrace / 1_000_000_000
            let message =
                switch action {
                case .bodyTooSlow:
                    "the request body arrived too slowly: after its first \(grace) s a body must average \(context.timeouts.minimumBodyBytesPerSecond) bytes a second; send it faster or in one piece"
                case .reservedBodyTooSlow:
                    "the request body arrived too slowly: a body that holds part of the server's memory budget must arrive within \(context.timeouts.reservedBodyWindow / 1_000_000_000) s at an even pace (after its first \(grace) s), and the client must read its earlier answers meanwhile; send it faster, or in smaller requests"
                default:
                    machine.phase == .body
                        ? "the request body stalled for longer than the body timeout"
                        : "the request head was not received within the header timeout"
                }
            queueError(
                HTTPError(status: .requestTimeout, code: "request_timeout", message: message),
                for: parser.headSoFar)
            pump()
        }
    }

    // MARK: - The loop

    /// Answers, writes and reads until nothing more can be done now or the budget for this wake-up is spent.
    /// While the loop handles a batch of events the answers stay queued, and the loop calls
    /// ``writeDeferredOutput()`` once the batch is handled (``EventLoop/deferWrite(_:)`` says why).
    private func pump(resuming spent: PumpBudget = PumpBudget(), mayDeferWrite: Bool = true) {
        guard !isClosed else { return }
        var spent = spent
        var budgetSpent = false
        while !isClosed {
            if machine.phase == .lingering {
                discardInput()
                break
            }
            if !parserNeedsMore && machine.mayAnswerRequest && outbound.count - outboundOffset < Self.maxQueuedOutput {
                guard spent.requests < Self.maxRequestsPerWake else {
                    budgetSpent = true
                    break
                }
                spent.requests += 1
                answerNextRequest()
                continue
            }
            if machine.outputPending && !machine.writeBlocked {
                if mayDeferWrite && loop.defersWrites {
                    // The loop lists it once and resumes this pump after the batch; interest is left as
                    // it is until then.
                    if deferredPump == nil { loop.deferWrite(self) }
                    deferredPump = spent
                    return
                }
                writeOutbound()
                continue
            }
            if parserNeedsMore && machine.wantsRead && !spent.socketEmpty {
                guard spent.bytesRead < Self.maxBytesPerWake else {
                    budgetSpent = true
                    break
                }
                guard let count = readInput() else { break }
                spent.bytesRead += count
                spent.socketEmpty = count > 0 && count < loop.readBuffer.count
                continue
            }
            break
        }
        guard !isClosed else { return }
        if machine.isFinished(moreRequestsBuffered: !parserNeedsMore) {
            close()
            return
        }
        updateInterest()
        if budgetSpent { resumeSoon() }
    }

    /// Writes the answers left queued during the loop's batch of events, then goes on as ``pump()`` does.
    func writeDeferredOutput() {
        guard let spent = deferredPump else { return }
        deferredPump = nil
        pump(resuming: spent, mayDeferWrite: false)
    }

    /// Comes back to this connection after the loop has served the others.
    private func resumeSoon() {
        guard !resumePending else { return }
        resumePending = true
        loop.execute { [self] in
            resumePending = false
            pump()
        }
    }

    /// Reads once. Returns the bytes read (0 at end of stream), or `nil` when there is nothing to read now
    /// or the connection failed.
    private func readInput() -> Int? {
        let buffer = loop.readBuffer
        let result: Socket.ReadResult
        do {
            result = try socket.read(into: buffer)
        } catch {
            context.logger.debug("connection \(id): \(error)")
            close()
            return nil
        }
        switch result {
        case .bytes(let count):
            parser.append(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            parserNeedsMore = false
            unreportedBytes += count
            return count
        case .wouldBlock:
            return nil
        case .endOfStream:
            machine.receivedEndOfStream()
            return 0
        }
    }

    /// After the last response: read and drop whatever the client still sends until it closes.
    private func discardInput() {
        for _ in 0..<4 {
            switch try? socket.read(into: loop.readBuffer) {
            case .bytes: continue
            case .wouldBlock: return
            case .endOfStream, nil:
                machine.receivedEndOfStream()
                return
            }
        }
    }

    // MARK: - Requests

    /// Parses the next buffered request and answers it, or, when it is incomplete, lets the state machine
    /// know how far it got (and answers `Expect: 100-continue`).
    private func answerNextRequest() {
        let request: HTTPRequest?
        do {
            request = try parser.nextRequest()
        } catch {
            // After a framing error nobody knows where the next request starts: answer, then close. The
            // answer needs the head as far as it came (its route group's format, no body for HEAD, its id).
            parserNeedsMore = true
            machine.closeAfterResponse()
            queueError(error.httpError, for: parser.headSoFar)
            return
        }
        guard let request else {
            parserNeedsMore = true
            awaitMoreBytes()
            return
        }
        answer(request)
    }

    /// Updates the phase for a partial request and answers `Expect` once its head is in.
    private func awaitMoreBytes() {
        let head = parser.headAwaitingBody
        machine.receivedBytes(
            now: EventLoop.now(), count: unreportedBytes, insideRequest: parser.isInsideRequest,
            awaitingBody: head != nil)
        unreportedBytes = 0
        guard let head, reserveBody(of: head) else { return }
        if head.hasUnsupportedExpectation {
            // Its body will never be read: answer, then close.
            machine.closeAfterResponse()
            queueError(expectationFailed(head), for: head)
        } else if head.expectsContinue && machine.shouldSendContinue() {
            outbound += HTTPResponseEncoder.continueResponse
            machine.outputQueued(now: EventLoop.now())
        }
    }

    /// Reserves the body of the request being received, before it is read (and before `100 Continue`): all
    /// of it from `Content-Length` once the head is in, or what has been announced of a chunked one. When
    /// the budget has no room, the request is answered at once (503, or 413 past the whole budget) and the
    /// connection closed: the rest of its body is never read. Returns whether it may go on.
    private func reserveBody(of head: HTTPRequestHead) -> Bool {
        let reservation = receiving ?? MemoryReservation(budget: context.memoryBudget)
        receiving = reservation
        do {
            try reservation.grow(to: parser.announcedBodyBytes, for: "its body")
            if !context.memoryBudget.isUnlimited { machine.bodyHolds(reservedBytes: reservation.bytes) }
            return true
        } catch {
            reservation.release()
            receiving = nil
            machine.closeAfterResponse()
            context.notify { $0.requestRefused(.memory) }
            queueError(error, for: head)
            return false
        }
    }

    private func expectationFailed(_ head: HTTPRequestHead) -> HTTPError {
        HTTPError(
            status: .expectationFailed, code: "expectation_failed",
            message: "the expectation '\(head.headers["Expect"] ?? "")' is not supported; only 100-continue is")
    }

    /// Routes the request once, then answers it here or, for an offloaded route, a large body or a coded
    /// one, on the server's worker pool, reading nothing more until the answer is back.
    private func answer(_ request: HTTPRequest) {
        var request = request
        let start = EventLoop.now()
        context.notify { $0.requestStarted() }
        request.requestID = context.requestIDs.id(for: request.headers["X-Request-ID"])
        unreportedBytes = 0
        if request.head.hasUnsupportedExpectation {
            // Answered and closed however the bytes arrived: with its body or before it (found by the fuzzer).
            machine.requestReceived(keepAlive: false, offloaded: false, now: start)
            queue(
                context.errorResponse(expectationFailed(request.head), for: request.head), for: request.head,
                route: nil, requestID: request.requestID, start: start)
            return
        }
        request.memory = receiving ?? MemoryReservation(budget: context.memoryBudget)
        receiving = nil
        do {
            // Requests that arrived whole in one read were not reserved on the way.
            try request.memory.grow(to: request.body.count, for: "its body")
        } catch {
            request.memory.release()
            machine.requestReceived(keepAlive: false, offloaded: false, now: start)
            context.notify { $0.requestRefused(.memory) }
            queue(
                context.errorResponse(error, for: request.head), for: request.head, route: nil,
                requestID: request.requestID, start: start)
            return
        }
        let execution = context.responder.route(&request)
        let runsInline = execution == .inline && context.mayRunInline(request)
        machine.requestReceived(keepAlive: request.head.wantsKeepAlive, offloaded: !runsInline, now: start)
        if runsInline {
            let response = context.respond(to: request)
            request.memory.release()
            queue(response, for: request.head, route: request.routePattern, requestID: request.requestID, start: start)
            return
        }
        offload(request, start: start)
    }

    /// Answers `request` on the worker pool; reads nothing more from the connection until the answer is
    /// back. Refused with 503 at once when the pool's queue is full, and when it waited too long; dropped
    /// unrun when the client leaves while it waits.
    private func offload(_ request: HTTPRequest, start: UInt64) {
        let cancellation = WorkPool.Cancellation()
        offloaded = (request.head, request.routePattern, request.requestID, start, cancellation, request.memory)
        let context = self.context
        let answer: @Sendable (HTTPResponse) -> Void = { [self] response in
            request.memory.release()
            loop.execute { [self] in
                guard !isClosed else { return }
                offloaded = nil
                queue(
                    response, for: request.head, route: request.routePattern, requestID: request.requestID,
                    start: start)
                pump()
            }
        }
        let job = WorkPool.Job(cancellation: cancellation) { start, waited in
            context.notify { $0.requestDequeued(waitedNanoseconds: waited) }
            switch start {
            case .run:
                answer(context.respond(to: request))
            case .expired:
                context.notify { $0.requestRefused(.queueTimeout) }
                let seconds = Double(waited / 1_000_000) / 1000
                answer(
                    context.errorResponse(
                        HTTPError.serverBusy(
                            "the request waited \(seconds) s for a worker, longer than the server's queue timeout of \(Double(context.pool.queueTimeout / 1_000_000) / 1000) s"
                        ), for: request.head))
            case .abandoned:
                // close() has ended the request for metrics and the log, and given back its memory.
                break
            }
        }
        if context.pool.submit(job) {
            context.notify { $0.requestQueued() }
            return
        }
        offloaded = nil
        request.memory.release()
        context.notify { $0.requestRefused(.queueFull) }
        queue(
            context.errorResponse(
                HTTPError.serverBusy("\(context.pool.maxQueued) requests already wait for the server's workers"),
                for: request.head),
            for: request.head, route: request.routePattern, requestID: request.requestID, start: start)
    }

    /// Queues the answer to a request that could not be read (or timed out) as a whole.
    private func queueError(_ error: HTTPError, for head: HTTPRequestHead?) {
        context.notify { $0.requestStarted() }
        let requestID = context.requestIDs.id(for: head?.headers["X-Request-ID"])
        queue(
            context.errorResponse(error, for: head), for: head, route: nil, requestID: requestID, start: EventLoop.now()
        )
    }

    /// Encodes a response behind those already queued and tells the observers (metrics, access log): the one
    /// point every answer passes.
    private func queue(
        _ response: HTTPResponse, for head: HTTPRequestHead?, route: String?, requestID: String, start: UInt64
    ) {
        if context.draining.isSet { machine.closeAfterResponse() }
        let now = EventLoop.now()
        let closing = machine.responseQueued(now: now)
        // Held until written, with the other answers queued on this connection.
        outboundMemory.force(response.body.count)
        HTTPResponseEncoder.encode(
            response, into: &outbound, includeBody: head?.method != "HEAD", closing: closing,
            keepAliveHTTP10: head?.version == .http1_0, requestID: requestID,
            serverName: context.configuration.serverName, date: dateCache.current())
        let exchange = HTTPExchange(
            head: head, routePattern: route, status: response.status.code, bodyBytes: response.body.count,
            responseHeaders: response.headers,
            requestID: requestID, durationNanoseconds: now >= start ? now - start : 0)
        context.notify { $0.requestFinished(exchange) }
    }

    // MARK: - Writing

    /// Writes what is queued until it is all out or the socket takes no more.
    private func writeOutbound() {
        while outboundOffset < outbound.count {
            let written: Int?
            do {
                written = try outbound.withUnsafeBytes { bytes in
                    try socket.write(UnsafeRawBufferPointer(rebasing: bytes[outboundOffset...]))
                }
            } catch {
                context.logger.debug("connection \(id): \(error)")
                close()
                return
            }
            guard let written, written > 0 else {
                machine.writeWouldBlock()
                return
            }
            outboundOffset += written
            if outboundOffset < outbound.count {
                _ = machine.wrote(now: EventLoop.now(), everything: false)
                return
            }
        }
        outbound.removeAll(keepingCapacity: outbound.capacity <= 64 * 1024)
        outboundOffset = 0
        outboundMemory.release()
        switch machine.wrote(now: EventLoop.now(), everything: true) {
        case .proceed:
            break
        case .linger:
            socket.shutdownWrite()
        case .close:
            close()
        }
    }

    /// Tells the loop what to watch for, when that changed.
    private func updateInterest() {
        let read = machine.wantsRead
        let write = machine.wantsWrite
        guard !isClosed, read != watchingRead || write != watchingWrite else { return }
        watchingRead = read
        watchingWrite = write
        if !loop.update(socket.descriptor, readable: read, writable: write) {
            context.logger.warning("connection \(id): the event loop refused a change of interest; closing it")
            close()
        }
    }

    private func close() {
        guard !isClosed else { return }
        isClosed = true
        machine.closed()
        loop.unregister(socket.descriptor)
        socket.close()
        receiving?.release()
        receiving = nil
        outboundMemory.release()
        if let offloaded {
            // The client left before its answer: the request still ends, once, for metrics and the log;
            // if it still waits for a worker it never runs, and what it holds is given back now.
            if offloaded.cancellation.cancel() { offloaded.memory.release() }
            self.offloaded = nil
            let now = EventLoop.now()
            let exchange = HTTPExchange(
                head: offloaded.head, routePattern: offloaded.route, status: 499, bodyBytes: 0,
                responseHeaders: [:], requestID: offloaded.requestID,
                durationNanoseconds: now >= offloaded.start ? now - offloaded.start : 0)
            context.notify { $0.requestFinished(exchange) }
        }
        context.notify { $0.connectionClosed() }
        onClosed(id)
    }
}
