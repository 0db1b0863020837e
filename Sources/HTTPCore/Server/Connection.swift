import Dispatch
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What every connection shares with the server.
struct ServerContext: Sendable {
    let configuration: HTTPServerConfiguration
    let responder: any HTTPResponder
    let logger: Logger
    let requestIDs = RequestIDGenerator()
    /// Set when shutdown begins: from then on every response says `Connection: close`, so that clients
    /// (and balancers) reconnect, to another replica, while this one drains.
    let draining = DrainingFlag()
    let timeouts: ConnectionTimeouts
    /// How often a loop checks its connections' deadlines: a quarter of the shortest timeout, at most a second.
    let tick: UInt64

    init(configuration: HTTPServerConfiguration, responder: any HTTPResponder, logger: Logger) {
        self.configuration = configuration
        self.responder = responder
        self.logger = logger
        timeouts = configuration.connectionTimeouts
        let shortest = min(timeouts.header, timeouts.body, timeouts.idle, timeouts.write, timeouts.linger)
        tick = max(10_000_000, min(1_000_000_000, shortest / 4))
    }

    /// The response for an error, in the format the application chooses for the request.
    func errorResponse(_ error: some HTTPResponseError, for head: HTTPRequestHead?) -> HTTPResponse {
        configuration.errorRenderer(HTTPError(error), head)
    }
}

/// A flag set once, read by every connection.
final class DrainingFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    var isSet: Bool { flag.load(ordering: .relaxed) }

    func set() { flag.store(true, ordering: .relaxed) }
}

/// One client connection, owned by one event loop: every method runs on that loop's thread, which is what
/// makes the class safe to hand between threads (hence `@unchecked Sendable`). Handlers that are not
/// marked inline run on Dispatch's worker threads and post their response back to the loop.
final class Connection: EventLoopSource, @unchecked Sendable {
    let id: Int
    let loop: EventLoop
    private let socket: Socket
    private let context: ServerContext
    private let onClosed: @Sendable (Int) -> Void

    private var parser: HTTPRequestParser
    private var machine: ConnectionStateMachine
    private var isClosed = false
    private var peerClosedInput = false
    /// What the loop is asked to watch for.
    private var wantsRead = true
    private var wantsWrite = false

    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    /// Whether `outbound` ends with a final response (not just `100 Continue`).
    private var responseInFlight = false
    private var sentContinue = false
    private var dateCache = HTTPDateCache()

    init(id: Int, socket: Socket, loop: EventLoop, context: ServerContext, onClosed: @escaping @Sendable (Int) -> Void)
    {
        self.id = id
        self.socket = socket
        self.loop = loop
        self.context = context
        self.onClosed = onClosed
        parser = HTTPRequestParser(limits: context.configuration.limits)
        machine = ConnectionStateMachine(timeouts: context.timeouts, now: EventLoop.now())
    }

    /// Starts watching the socket; on the loop's thread.
    func start() {
        context.configuration.observer?.connectionOpened()
        socket.setNoDelay()
        loop.register(socket.descriptor, source: self, readable: true, writable: false)
    }

    /// Begins a graceful close: now if idle, otherwise after the current response. On the loop's thread.
    func drain() {
        guard !isClosed else { return }
        if machine.beginDrain() { close() }
    }

    /// Closes at once, whatever is in progress (the grace period is over). On the loop's thread.
    func forceClose() {
        close()
    }

    // MARK: - Events

    func handleEvents(readable: Bool, writable: Bool, hangUp: Bool) {
        if writable && wantsWrite { flush() }
        if readable && wantsRead && !isClosed { onReadable() }
        if hangUp && !isClosed && !readable { close() }
    }

    func tick(now: UInt64) {
        guard !isClosed, let action = machine.timeoutAction(now: now) else { return }
        switch action {
        case .close, .abort:
            close()
        case .requestTimeout:
            machine.closeAfterResponse()
            sendError(
                HTTPError(
                    status: .requestTimeout, code: "request_timeout",
                    message: machine.phase == .body
                        ? "the request body stalled for longer than the body timeout"
                        : "the request head was not received within the header timeout"),
                for: parser.headAwaitingBody)
        }
    }

    // MARK: - Reading

    private func onReadable() {
        if machine.phase == .lingering {
            discardInput()
            return
        }
        let buffer = loop.readBuffer
        for _ in 0..<4 {
            let result: Socket.ReadResult
            do {
                result = try socket.read(into: buffer)
            } catch {
                context.logger.debug("connection \(id): \(error)")
                close()
                return
            }
            switch result {
            case .bytes(let count):
                parser.append(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                if count < buffer.count { return process() }
            case .wouldBlock:
                return process()
            case .endOfStream:
                peerClosedInput = true
                if machine.receivedEndOfStream() {
                    close()
                    return
                }
                setInterest(read: false, write: wantsWrite)
                return process()
            }
        }
        process()
    }

    /// After the last response: read and drop whatever the client still sends until it closes.
    private func discardInput() {
        for _ in 0..<4 {
            switch try? socket.read(into: loop.readBuffer) {
            case .bytes: continue
            case .wouldBlock: return
            case .endOfStream, nil:
                close()
                return
            }
        }
    }

    // MARK: - Requests

    /// Parses and answers requests until the parser needs more bytes or a response is in progress.
    /// Pipelined requests wait in the parser's buffer and are answered one after another, in order.
    private func process() {
        while !isClosed {
            switch machine.phase {
            case .idle, .head, .body: break
            case .handling, .writing, .lingering, .closed: return
            }
            let request: HTTPRequest?
            do {
                request = try parser.nextRequest()
            } catch {
                machine.closeAfterResponse()
                sendError(error, for: nil)
                return
            }
            guard let request else {
                awaitMoreBytes()
                return
            }
            sentContinue = false
            machine.requestReceived(keepAlive: request.head.wantsKeepAlive)
            answer(request)
        }
    }

    /// Updates the phase for a partial request and answers `Expect: 100-continue` once its head is in.
    private func awaitMoreBytes() {
        let head = parser.headAwaitingBody
        machine.receivedBytes(now: EventLoop.now(), insideRequest: parser.isInsideRequest, awaitingBody: head != nil)
        guard let head else { return }
        if head.hasUnsupportedExpectation {
            machine.closeAfterResponse()
            sendError(expectationFailed(head), for: head)
        } else if head.expectsContinue && !sentContinue {
            sentContinue = true
            outbound += HTTPResponseEncoder.continueResponse
            flush()
        }
    }

    private func expectationFailed(_ head: HTTPRequestHead) -> HTTPError {
        HTTPError(
            status: .expectationFailed, code: "expectation_failed",
            message: "the expectation '\(head.headers["Expect"] ?? "")' is not supported; only 100-continue is")
    }

    private func answer(_ request: HTTPRequest) {
        context.configuration.observer?.requestStarted()
        var request = request
        request.requestID = context.requestIDs.id(for: request.headers["X-Request-ID"])
        let start = EventLoop.now()
        if request.head.hasUnsupportedExpectation {
            send(
                context.errorResponse(expectationFailed(request.head), for: request.head), for: request.head,
                requestID: request.requestID, start: start)
            return
        }
        let responder = context.responder
        if responder.runsInline(request) {
            send(
                Self.respond(to: request, with: context), for: request.head, requestID: request.requestID, start: start)
            return
        }
        // While the handler runs elsewhere, read nothing more: pipelined requests wait in the kernel.
        setInterest(read: false, write: wantsWrite)
        let context = self.context
        let offloaded = request
        DispatchQueue.global().async { [self] in
            let response = Self.respond(to: offloaded, with: context)
            loop.execute { [self] in
                guard !isClosed else { return }
                send(response, for: offloaded.head, requestID: offloaded.requestID, start: start)
            }
        }
    }

    /// Answers a request: CORS preflight, the body's content coding, the responder (its errors turned into
    /// responses: one point for all of them), CORS fields and gzip on the way out. Runs where the handler
    /// runs, so that a large body is inflated or compressed off the event loop when the handler is offloaded.
    private static func respond(to request: HTTPRequest, with context: ServerContext) -> HTTPResponse {
        let configuration = context.configuration
        let origin = configuration.cors == nil ? nil : request.headers["Origin"]
        if let cors = configuration.cors, let origin, request.method == "OPTIONS",
            request.headers.contains("Access-Control-Request-Method")
        {
            let allowed = (try? context.responder.respond(to: request))?.headers["Allow"]
            guard let allowed else {
                return context.errorResponse(
                    HTTPError(status: .notFound, code: "not_found", message: "no resource at \(request.path)"),
                    for: request.head)
            }
            return cors.preflight(request.head, origin: origin, allowedMethods: allowed)
        }
        var response: HTTPResponse
        do {
            let decoded = try ContentCoding.decode(request, limit: configuration.limits.maxBodyBytes)
            response = try context.responder.respond(to: decoded)
        } catch let failure as ContentCoding.Failure {
            response = context.errorResponse(Self.contentCodingError(failure), for: request.head)
        } catch let error as any HTTPResponseError {
            response = context.errorResponse(error, for: request.head)
        } catch {
            context.logger.error(
                "handler failed",
                metadata: ["error": "\(error)", "path": "\(request.path)", "request_id": "\(request.requestID)"])
            response = context.errorResponse(
                HTTPError(
                    status: .internalServerError, code: "internal_error",
                    message: "the server failed to answer; the error is logged with request id \(request.requestID)"),
                for: request.head)
        }
        if let cors = configuration.cors, let origin, cors.allows(origin) {
            cors.decorate(&response, origin: origin)
        }
        return ContentCoding.compress(response, for: request.head)
    }

    private static func contentCodingError(_ failure: ContentCoding.Failure) -> HTTPError {
        switch failure {
        case .unsupported(let coding):
            HTTPError(
                status: .unsupportedMediaType, code: "unsupported_content_encoding",
                message: "Content-Encoding '\(coding)' is not supported; send the body as it is or gzip it")
        case .corrupt:
            HTTPError(
                status: .badRequest, code: "invalid_gzip", message: "the body is declared gzip but does not inflate")
        case .tooLarge(let limit):
            HTTPError(
                status: .contentTooLarge, code: "body_too_large",
                message: "the body inflates to more than \(limit) bytes; send less at once")
        }
    }

    private func sendError(_ error: some HTTPResponseError, for head: HTTPRequestHead?) {
        context.configuration.observer?.requestStarted()
        let requestID = context.requestIDs.id(for: head?.headers["X-Request-ID"])
        send(context.errorResponse(error, for: head), for: head, requestID: requestID, start: EventLoop.now())
    }

    private func send(_ response: HTTPResponse, for head: HTTPRequestHead?, requestID: String, start: UInt64) {
        if context.draining.isSet { machine.closeAfterResponse() }
        let closing = machine.closesAfterResponse
        HTTPResponseEncoder.encode(
            response, into: &outbound, includeBody: head?.method != "HEAD", closing: closing,
            keepAliveHTTP10: head?.version == .http1_0, requestID: requestID,
            serverName: context.configuration.serverName, date: dateCache.current())
        let now = EventLoop.now()
        machine.responseStarted(now: now, closing: closing)
        context.configuration.observer?.requestFinished(
            head: head, status: response.status.code, durationNanoseconds: now >= start ? now - start : 0)
        logAccess(
            head: head, status: response.status.code, bytes: response.body.count, requestID: requestID, start: start)
        responseInFlight = true
        flush()
    }

    /// The access log line, written as the response is queued: its duration is the time from the complete
    /// request to the response, and a response the client never reads is still logged.
    private func logAccess(head: HTTPRequestHead?, status: Int, bytes: Int, requestID: String, start: UInt64) {
        guard context.logger.logLevel <= .info else { return }
        let method = head?.method ?? "-"
        let path = head?.path ?? "-"
        context.logger.info(
            "\(method) \(path) \(status)",
            metadata: [
                "status": "\(status)", "bytes": "\(bytes)",
                "duration_ms": "\(Double((EventLoop.now() - start) / 1000) / 1000)", "request_id": "\(requestID)",
            ])
    }

    // MARK: - Writing

    /// Writes what is queued. When the socket takes no more, it waits to be writable and stops reading
    /// meanwhile, so that a client that does not read its responses cannot make the server buffer more.
    private func flush() {
        guard !isClosed else { return }
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
            guard let written else {
                setInterest(read: false, write: true)
                return
            }
            outboundOffset += written
            machine.wroteBytes(now: EventLoop.now())
        }
        outbound.removeAll(keepingCapacity: outbound.capacity <= 64 * 1024)
        outboundOffset = 0
        guard responseInFlight else {
            if wantsWrite { setInterest(read: !peerClosedInput, write: false) }
            return
        }
        responseInFlight = false
        switch machine.responseFinished(now: EventLoop.now()) {
        case .readNextRequest:
            setInterest(read: !peerClosedInput, write: false)
            process()
        case .close:
            if peerClosedInput {
                close()
            } else {
                socket.shutdownWrite()
                setInterest(read: true, write: false)
            }
        }
    }

    private func setInterest(read: Bool, write: Bool) {
        guard !isClosed, read != wantsRead || write != wantsWrite else { return }
        wantsRead = read
        wantsWrite = write
        loop.update(socket.descriptor, readable: read, writable: write)
    }

    private func close() {
        guard !isClosed else { return }
        isClosed = true
        machine.closed()
        loop.unregister(socket.descriptor)
        socket.close()
        context.configuration.observer?.connectionClosed()
        onClosed(id)
    }
}
