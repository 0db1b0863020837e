/// The timeouts and the body rate a connection obeys, in nanoseconds of a monotonic clock.
struct ConnectionTimeouts: Sendable, Equatable {
    /// From the first byte of a request (or from accept, for a connection's first request) until its head is complete.
    var header: UInt64
    /// Between two pieces of a request body.
    var body: UInt64
    /// Waiting, after a response, for the first byte of the next request.
    var idle: UInt64
    /// Without the client taking any of a response's bytes.
    var write: UInt64
    /// After the last response on a closing connection, discarding what the client still sends.
    var linger: UInt64
    /// How long a body may arrive at any pace before the minimum rate applies.
    var bodyRateGrace: UInt64 = 5_000_000_000
    /// Bytes a second a body must average, counted from its start, once the grace period is over; 0 for none.
    var minimumBodyBytesPerSecond: UInt64 = 240
    /// The time within which a body must arrive, at an average pace, in proportion to the memory budget it
    /// holds (``ConnectionStateMachine/bodyHolds(reservedBytes:)``); 0 for none.
    var reservedBodyWindow: UInt64 = 120_000_000_000
}

/// The policy of one connection: which phase its request is in, whether output is waiting, whether the
/// client has closed its side, when a deadline has passed and whether to keep the connection after a
/// response. Every flag the connection's behaviour depends on lives here; it is pure and clock-free (every
/// call is given `now`), so it is tested with made-up times, and ``Connection`` only carries out what it says.
struct ConnectionStateMachine: Sendable {
    /// Where the connection's current request is.
    enum Phase: Equatable, Sendable {
        /// Waiting for the first byte of a request.
        case idle
        /// Part of a request's head has arrived.
        case head
        /// The head is complete; its body is arriving.
        case body
        /// A complete request is with a handler on another thread: nothing more is read meanwhile.
        case handling
        /// The last response is queued; no further request is read.
        case closing
        /// The last response is written; the write side is shut and input is discarded until the peer closes.
        case lingering
        case closed
    }

    /// What to do when the timer finds a deadline passed.
    enum TimeoutAction: Equatable, Sendable {
        /// Close without a word: an idle keep-alive connection, or a lingering one.
        case close
        /// Answer 408 Request Timeout, then close: a client that is too slow sending its request head or body.
        case requestTimeout
        /// Answer 408 and close: a body arriving below the minimum rate after the grace period.
        case bodyTooSlow
        /// Answer 408 and close: a body that holds part of the memory budget arriving too slowly to be
        /// complete within the reserved-body window.
        case reservedBodyTooSlow
        /// Give up: the client stopped reading its response.
        case abort
    }

    /// What to do once all queued output is written.
    enum AfterFlush: Equatable, Sendable {
        /// Carry on: read and answer the next request.
        case proceed
        /// Shut the write side and discard input until the peer closes (so the last response is not reset).
        case linger
        /// Close now: the peer has closed its side, so there is no one to linger for.
        case close
    }

    let timeouts: ConnectionTimeouts
    private(set) var phase: Phase = .idle
    /// When the current phase started, or for the body phase when progress was last made.
    private var since: UInt64
    /// When output was queued or last taken by the socket.
    private var writeSince: UInt64 = 0
    private var bodyStart: UInt64 = 0
    private var bodyBytes: UInt64 = 0
    /// What the current body holds of the server's memory budget: it raises the rate the body must keep.
    private var bodyReservedBytes: UInt64 = 0
    private var isFirstRequest = true
    /// Set by `Connection: close` from either side, an error, end of input or a drain.
    private(set) var closesAfterResponse = false
    private(set) var isDraining = false
    /// The client has closed its side (end of stream): no more bytes will come.
    private(set) var inputClosed = false
    /// Bytes are queued that the socket has not taken yet.
    private(set) var outputPending = false
    /// The socket took none of the queued bytes: wait until it is writable, reading nothing meanwhile.
    private(set) var writeBlocked = false
    /// `100 Continue` went out for the current request.
    private(set) var continueSent = false

    init(timeouts: ConnectionTimeouts, now: UInt64) {
        self.timeouts = timeouts
        self.since = now
    }

    // MARK: - Decisions

    /// Whether the next buffered request may be parsed and answered.
    var mayAnswerRequest: Bool {
        switch phase {
        case .idle, .head, .body: true
        case .handling, .closing, .lingering, .closed: false
        }
    }

    /// Whether to read from the socket: not once the client closed its side, not while a handler runs
    /// elsewhere (pipelined requests wait in the kernel), and not while the client is not taking its answers
    /// (so that a client that never reads cannot make the server buffer without end).
    var wantsRead: Bool {
        guard !inputClosed, !writeBlocked else { return false }
        switch phase {
        case .idle, .head, .body, .lingering: return true
        case .handling, .closing, .closed: return false
        }
    }

    /// Whether to wait for the socket to become writable.
    var wantsWrite: Bool { outputPending && writeBlocked }

    /// Whether nothing more can happen on the connection, so it should close now: the client closed its
    /// side, no complete request is left in the buffer (`moreRequestsBuffered`), no handler is running and
    /// nothing is left to write. A partial request is abandoned: it can never complete.
    func isFinished(moreRequestsBuffered: Bool) -> Bool {
        switch phase {
        case .closed: return true
        case .lingering: return inputClosed
        // While closing, the last answer is still being written; ``wrote(now:everything:)`` ends it.
        case .handling, .closing: return false
        case .idle, .head, .body: return inputClosed && !outputPending && !moreRequestsBuffered
        }
    }

    // MARK: - Events

    /// Bytes arrived (`count` of them); the parser says whether they begin or continue a request and
    /// whether its head is done.
    mutating func receivedBytes(now: UInt64, count: Int, insideRequest: Bool, awaitingBody: Bool) {
        switch phase {
        case .idle where insideRequest:
            // A fresh connection's header time counts from accept; a reused one's from this first byte.
            phase = awaitingBody ? .body : .head
            if !isFirstRequest || awaitingBody { since = now }
            if awaitingBody { startBody(now: now) }
        case .head where awaitingBody:
            phase = .body
            since = now
            startBody(now: now)
        case .body:
            since = now
            bodyBytes += UInt64(count)
        default:
            break
        }
    }

    private mutating func startBody(now: UInt64) {
        bodyStart = now
        bodyBytes = 0
    }

    /// The current request holds `reservedBytes` of the memory budget for its body (from its
    /// `Content-Length`, or what its chunks announced). Past the grace period, the body must then average
    /// `reservedBytes / reservedBodyWindow` a second as well as the minimum rate: a client that announces
    /// 20 MB and trickles it at the minimum rate would otherwise keep 20 MB of the budget from everyone else
    /// for a day, and fifty such clients, sending 12 KB a second between them, would turn every large
    /// request away.
    mutating func bodyHolds(reservedBytes: Int) {
        bodyReservedBytes = UInt64(max(0, reservedBytes))
    }

    /// Whether to send `100 Continue` now: the client asked for it and it has not gone out for this request.
    mutating func shouldSendContinue() -> Bool {
        guard phase == .body, !continueSent else { return false }
        continueSent = true
        return true
    }

    /// A complete request goes to a handler. `offloaded`: on another thread, so nothing is read until its
    /// response is queued.
    mutating func requestReceived(keepAlive: Bool, offloaded: Bool, now: UInt64) {
        phase = offloaded ? .handling : .idle
        since = now
        isFirstRequest = false
        continueSent = false
        bodyReservedBytes = 0
        if !keepAlive { closesAfterResponse = true }
    }

    /// A response is queued for writing; returns whether it is the last (the connection closes after it).
    mutating func responseQueued(now: UInt64) -> Bool {
        let closing = closesAfterResponse || isDraining
        outputQueued(now: now)
        if closing {
            closesAfterResponse = true
            phase = .closing
        } else if phase == .handling {
            phase = .idle
            since = now
        }
        return closing
    }

    /// Bytes are queued: a final response (through ``responseQueued(now:)``) or `100 Continue`. The write
    /// timeout counts from the first unwritten byte.
    mutating func outputQueued(now: UInt64) {
        if !outputPending { writeSince = now }
        outputPending = true
    }

    /// The socket took queued bytes: some (`everything` false: wait until it is writable again) or all of
    /// them, after which the connection proceeds, lingers after its last answer, or closes.
    mutating func wrote(now: UInt64, everything: Bool) -> AfterFlush {
        writeSince = now
        guard everything else {
            writeBlocked = true
            return .proceed
        }
        outputPending = false
        writeBlocked = false
        switch phase {
        // The last answer is out; or a drain found this connection idle but still writing, and now it ends.
        case .closing,
            .idle where isDraining:
            since = now
            if inputClosed {
                phase = .closed
                return .close
            }
            phase = .lingering
            return .linger
        case .idle:
            // The idle wait for the next request starts once the previous answer is out.
            since = now
            return .proceed
        default:
            return .proceed
        }
    }

    /// The socket took none of the queued bytes.
    mutating func writeWouldBlock() {
        writeBlocked = true
    }

    /// The socket can take bytes again. A request's clocks restart: while the client was not taking its
    /// answers nothing was read, so time spent blocked is not the client's slowness in sending.
    mutating func becameWritable(now: UInt64) {
        guard writeBlocked else { return }
        writeBlocked = false
        if phase == .head || phase == .body {
            since = now
            // A body that holds budget keeps its clock: see ``timeoutAction(now:)``.
            if phase == .body && bodyReservedBytes == 0 { startBody(now: now) }
        }
    }

    /// The client closed its side. What is buffered is still answered and what is queued still written
    /// (the client may have half-closed to say it has sent everything); then the connection closes.
    mutating func receivedEndOfStream() {
        inputClosed = true
        closesAfterResponse = true
    }

    /// The next response is the last: after a protocol error, or while the server drains.
    mutating func closeAfterResponse() {
        closesAfterResponse = true
    }

    /// The server is shutting down: an idle connection closes now; a busy one after its current response.
    /// Returns whether to close at once.
    mutating func beginDrain() -> Bool {
        isDraining = true
        closesAfterResponse = true
        if phase == .idle && !outputPending {
            phase = .closed
            return true
        }
        return false
    }

    mutating func closed() {
        phase = .closed
    }

    /// The action due at `now`, if a deadline has passed.
    func timeoutAction(now: UInt64) -> TimeoutAction? {
        if outputPending && elapsed(since: writeSince, now: now) >= timeouts.write { return .abort }
        let elapsed = elapsed(since: since, now: now)
        switch phase {
        case .idle:
            guard !outputPending else { return nil }
            return elapsed >= (isFirstRequest ? timeouts.header : timeouts.idle) ? .close : nil
        case .body where writeBlocked && bodyReservedBytes > 0:
            // Not read while the client does not take its answers, but holding memory budget meanwhile: a
            // client that pipelines a large head behind answers it reads a little at a time would hold
            // the budget for hours. The clock keeps running (``becameWritable(now:)``).
            return isBelowReservedRate(now: now) ? .reservedBodyTooSlow : nil
        case .head where writeBlocked, .body where writeBlocked:
            // Nothing is being read while the client does not take its answers: not its fault as a sender.
            return nil
        case .head:
            return elapsed >= timeouts.header ? .requestTimeout : nil
        case .body:
            if elapsed >= timeouts.body { return .requestTimeout }
            if isBelowMinimumRate(now: now) { return .bodyTooSlow }
            return isBelowReservedRate(now: now) ? .reservedBodyTooSlow : nil
        case .lingering:
            return elapsed >= timeouts.linger ? .close : nil
        case .handling, .closing, .closed:
            return nil
        }
    }

    /// Whether the body, past its grace period, has averaged fewer bytes a second than the minimum
    /// (Kestrel's `MinRequestBodyDataRate`): a trickle of a byte every few seconds would otherwise hold a
    /// connection slot for ever, since each byte restarts the body timeout.
    private func isBelowMinimumRate(now: UInt64) -> Bool {
        let duration = elapsed(since: bodyStart, now: now)
        let rate = timeouts.minimumBodyBytesPerSecond
        guard rate > 0, duration >= timeouts.bodyRateGrace else { return false }
        // In floating point: the products (bytes × nanoseconds) pass 64 bits for bodies of a few hundred MB,
        // and the comparison needs no exactness.
        return Double(bodyBytes) * 1e9 < Double(rate) * Double(duration)
    }

    /// Whether a body that holds memory budget, past its grace period, is behind the pace that brings all of
    /// it within the reserved-body window (``bodyHolds(reservedBytes:)``).
    private func isBelowReservedRate(now: UInt64) -> Bool {
        let duration = elapsed(since: bodyStart, now: now)
        let window = timeouts.reservedBodyWindow
        guard window > 0, bodyReservedBytes > 0, duration >= timeouts.bodyRateGrace else { return false }
        return Double(bodyBytes) * Double(window) < Double(bodyReservedBytes) * Double(duration)
    }

    private func elapsed(since start: UInt64, now: UInt64) -> UInt64 {
        now >= start ? now - start : 0
    }
}
