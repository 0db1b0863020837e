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
    let handler: @Sendable (HTTPRequest) throws -> HTTPResponse
    let logger: Logger
    let dateCache = HTTPDateCache()
    let requestIDs = RequestIDGenerator()
    /// Set when shutdown begins: from then on every response says `Connection: close`, so that clients
    /// (and balancers) reconnect, to another replica, while this one drains.
    let draining = DrainingFlag()
    let timeouts: ConnectionTimeouts
    /// How often a connection checks its deadlines: a quarter of the shortest timeout, at most a second.
    let tick: DispatchTimeInterval

    init(
        configuration: HTTPServerConfiguration, handler: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse,
        logger: Logger
    ) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        timeouts = configuration.connectionTimeouts
        let shortest = min(timeouts.header, timeouts.body, timeouts.idle, timeouts.write, timeouts.linger)
        tick = .nanoseconds(Int(max(10_000_000, min(1_000_000_000, shortest / 4))))
    }

    /// The encoded response for an error.
    func errorResponse(_ error: some HTTPResponseError) -> HTTPResponse {
        configuration.errorRenderer(HTTPError(error))
    }
}

/// A flag set once, read by every connection.
final class DrainingFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    var isSet: Bool { flag.load(ordering: .relaxed) }

    func set() { flag.store(true, ordering: .relaxed) }
}

/// One client connection, driven by Dispatch read and write sources and a timer on its own serial queue.
///
/// Every property is touched only on `queue`, which is what makes the class safe to send between threads
/// (hence `@unchecked Sendable`). The queue is a serial queue of its own, so a slow handler holds up only
/// its own connection: Dispatch runs other connections' queues on other threads.
final class Connection: @unchecked Sendable {
    let id: Int
    let queue: DispatchQueue
    private let socket: Socket
    private let context: ServerContext
    private let onClosed: @Sendable (Int) -> Void

    private var parser: HTTPRequestParser
    private var machine: ConnectionStateMachine
    private var readSource: DispatchSourceRead?
    private var writeSource: DispatchSourceWrite?
    private var timer: DispatchSourceTimer?
    private var readSuspended = false
    private var writeSuspended = true
    private var liveSources = 0
    private var isClosed = false
    private var peerClosedInput = false

    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    /// Whether `outbound` ends with a final response (not just `100 Continue`).
    private var responseInFlight = false
    private var sentContinue = false

    private static let readChunkSize = 16 * 1024

    init(id: Int, socket: Socket, context: ServerContext, onClosed: @escaping @Sendable (Int) -> Void) {
        self.id = id
        self.socket = socket
        self.context = context
        self.onClosed = onClosed
        queue = DispatchQueue(label: "digits.connection")
        parser = HTTPRequestParser(limits: context.configuration.limits)
        machine = ConnectionStateMachine(timeouts: context.timeouts, now: Self.now())
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Starts reading. Called once, from any thread.
    func start() {
        queue.async { self.startOnQueue() }
    }

    private func startOnQueue() {
        socket.setNoDelay()
        // The handlers hold the connection strongly: it lives while its sources do, and Dispatch lets go
        // of the handlers once the sources are cancelled.
        let read = DispatchSource.makeReadSource(fileDescriptor: socket.descriptor, queue: queue)
        read.setEventHandler { [self] in onReadable() }
        read.setCancelHandler { [self] in sourceCancelled() }
        let write = DispatchSource.makeWriteSource(fileDescriptor: socket.descriptor, queue: queue)
        write.setEventHandler { [self] in flush() }
        write.setCancelHandler { [self] in sourceCancelled() }
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + context.tick, repeating: context.tick, leeway: context.tick)
        timer.setEventHandler { [self] in onTick() }
        readSource = read
        writeSource = write
        self.timer = timer
        liveSources = 2
        read.activate()
        timer.activate()
        // The write source stays inactive (counted as suspended) until a write would block.
    }

    /// Begins a graceful close: now if idle, otherwise after the current response.
    func drain() {
        queue.async {
            guard !self.isClosed else { return }
            if self.machine.beginDrain() { self.close() }
        }
    }

    /// Closes at once, whatever is in progress (the grace period is over).
    func forceClose() {
        queue.async { self.close() }
    }

    // MARK: - Reading

    private func onReadable() {
        guard !isClosed else { return }
        if machine.phase == .lingering {
            discardInput()
            return
        }
        var reads = 0
        readLoop: while reads < 4 {
            reads += 1
            let result: Socket.ReadResult
            do {
                result = try withUnsafeTemporaryAllocation(byteCount: Self.readChunkSize, alignment: 16) { buffer in
                    let result = try socket.read(into: buffer)
                    if case .bytes(let count) = result {
                        parser.append(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                    }
                    return result
                }
            } catch {
                context.logger.debug("connection \(id): \(error)")
                close()
                return
            }
            switch result {
            case .bytes(let count) where count < Self.readChunkSize:
                break readLoop
            case .bytes:
                continue
            case .wouldBlock:
                break readLoop
            case .endOfStream:
                peerClosedInput = true
                if machine.receivedEndOfStream() {
                    close()
                    return
                }
                suspendReading()
                break readLoop
            }
        }
        process()
    }

    /// After the last response: read and drop whatever the client still sends until it closes.
    private func discardInput() {
        var done = false
        withUnsafeTemporaryAllocation(byteCount: Self.readChunkSize, alignment: 16) { buffer in
            for _ in 0..<4 {
                switch try? socket.read(into: buffer) {
                case .bytes: continue
                case .wouldBlock: return
                case .endOfStream, nil:
                    done = true
                    return
                }
            }
        }
        if done { close() }
    }

    // MARK: - Requests

    /// Parses and answers requests until the parser needs more bytes or a response is being written.
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
        machine.receivedBytes(now: Self.now(), insideRequest: parser.isInsideRequest, awaitingBody: head != nil)
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
        var request = request
        request.requestID = context.requestIDs.id(for: request.headers["X-Request-ID"])
        let start = Self.now()
        let response: HTTPResponse
        if request.head.hasUnsupportedExpectation {
            response = context.errorResponse(expectationFailed(request.head))
        } else {
            do {
                response = try context.handler(request)
            } catch let error as any HTTPResponseError {
                response = context.errorResponse(error)
            } catch {
                context.logger.error(
                    "handler failed",
                    metadata: ["error": "\(error)", "path": "\(request.path)", "request_id": "\(request.requestID)"])
                response = context.errorResponse(
                    HTTPError(
                        status: .internalServerError, code: "internal_error",
                        message: "the server failed to answer; the error is logged with request id \(request.requestID)"
                    ))
            }
        }
        send(response, for: request.head, requestID: request.requestID, start: start)
    }

    private func sendError(_ error: some HTTPResponseError, for head: HTTPRequestHead?) {
        let requestID = context.requestIDs.id(for: head?.headers["X-Request-ID"])
        send(context.errorResponse(error), for: head, requestID: requestID, start: Self.now())
    }

    private func send(_ response: HTTPResponse, for head: HTTPRequestHead?, requestID: String, start: UInt64) {
        if context.draining.isSet { machine.closeAfterResponse() }
        let closing = machine.closesAfterResponse
        let bytes = HTTPResponseEncoder.encode(
            response, includeBody: head?.method != "HEAD", closing: closing,
            keepAliveHTTP10: head?.version == .http1_0, requestID: requestID,
            serverName: context.configuration.serverName, date: context.dateCache.current())
        machine.responseStarted(now: Self.now(), closing: closing)
        logAccess(
            head: head, status: response.status.code, bytes: response.body.count, requestID: requestID, start: start)
        outbound += bytes
        responseInFlight = true
        flush()
    }

    // MARK: - Writing

    /// Writes what is queued. On `EAGAIN` it waits for the write source and stops reading meanwhile, so a
    /// client that does not read its responses cannot make the server buffer more of them.
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
                suspendReading()
                resumeWriting()
                return
            }
            outboundOffset += written
            machine.wroteBytes(now: Self.now())
        }
        outbound.removeAll(keepingCapacity: outbound.capacity <= 64 * 1024)
        outboundOffset = 0
        suspendWriting()
        guard responseInFlight else { return }
        responseInFlight = false
        switch machine.responseFinished(now: Self.now()) {
        case .readNextRequest:
            resumeReading()
            process()
        case .close:
            if peerClosedInput {
                close()
            } else {
                socket.shutdownWrite()
                resumeReading()
            }
        }
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
                "duration_ms": "\(Double((Self.now() - start) / 1000) / 1000)", "request_id": "\(requestID)",
            ])
    }

    // MARK: - Timeouts and closing

    private func onTick() {
        guard !isClosed, let action = machine.timeoutAction(now: Self.now()) else { return }
        switch action {
        case .close, .abort:
            close()
        case .requestTimeout:
            machine.closeAfterResponse()
            let phase = machine.phase
            sendError(
                HTTPError(
                    status: .requestTimeout, code: "request_timeout",
                    message: phase == .body
                        ? "the request body stalled for longer than the body timeout"
                        : "the request head was not received within the header timeout"),
                for: parser.headAwaitingBody)
        }
    }

    private func suspendReading() {
        guard !readSuspended, let readSource else { return }
        readSuspended = true
        readSource.suspend()
    }

    private func resumeReading() {
        guard readSuspended, let readSource, !peerClosedInput else { return }
        readSuspended = false
        readSource.resume()
    }

    private func suspendWriting() {
        guard !writeSuspended, let writeSource else { return }
        writeSuspended = true
        writeSource.suspend()
    }

    private func resumeWriting() {
        guard writeSuspended, let writeSource else { return }
        writeSuspended = false
        writeSource.resume()
    }

    /// Cancels the sources; the descriptor is closed once both have let go of it.
    private func close() {
        guard !isClosed else { return }
        isClosed = true
        machine.closed()
        timer?.cancel()
        guard let readSource, let writeSource else {
            socket.close()
            onClosed(id)
            return
        }
        readSource.cancel()
        if readSuspended { readSource.resume() }
        writeSource.cancel()
        if writeSuspended { writeSource.resume() }
    }

    private func sourceCancelled() {
        liveSources -= 1
        guard liveSources == 0 else { return }
        socket.close()
        readSource = nil
        writeSource = nil
        timer = nil
        onClosed(id)
    }
}
