/// The timeouts a connection obeys, in nanoseconds of a monotonic clock.
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
}

/// The policy of one connection: which phase it is in, when a timeout has passed, whether to keep it open
/// after a response. Pure and clock-free (every call is given `now`), so it is tested with made-up times;
/// the Dispatch code in ``Connection`` only carries out its decisions.
struct ConnectionStateMachine: Sendable {
    enum Phase: Equatable, Sendable {
        /// Waiting for the first byte of a request.
        case idle
        /// Part of a request's head has arrived.
        case head
        /// The head is complete; its body is arriving.
        case body
        /// A complete request is with the handler.
        case handling
        /// A response is being written.
        case writing
        /// The last response is written; the write side is shut and input is discarded until the peer closes.
        case lingering
        case closed
    }

    /// What to do when the timer finds a deadline passed.
    enum TimeoutAction: Equatable, Sendable {
        /// Close without a word: an idle keep-alive connection, or a lingering one.
        case close
        /// Answer 408 Request Timeout, then close: a client that is too slow sending its request.
        case requestTimeout
        /// Give up: the client stopped reading its response.
        case abort
    }

    /// What to do once a response is written.
    enum AfterResponse: Equatable, Sendable {
        case readNextRequest
        case close
    }

    let timeouts: ConnectionTimeouts
    private(set) var phase: Phase = .idle
    /// When the current phase started, or for body and writing phases when progress was last made.
    private var since: UInt64
    private var isFirstRequest = true
    /// Set by `Connection: close` from either side, an error, end of input or a drain.
    private(set) var closesAfterResponse = false
    private(set) var isDraining = false

    init(timeouts: ConnectionTimeouts, now: UInt64) {
        self.timeouts = timeouts
        self.since = now
    }

    /// Bytes arrived; the parser says whether they begin or continue a request and whether its head is done.
    mutating func receivedBytes(now: UInt64, insideRequest: Bool, awaitingBody: Bool) {
        switch phase {
        case .idle where insideRequest:
            // A fresh connection's header time counts from accept; a reused one's from this first byte.
            phase = awaitingBody ? .body : .head
            if !isFirstRequest || awaitingBody { since = now }
        case .head where awaitingBody:
            phase = .body
            since = now
        case .body:
            since = now
        default:
            break
        }
    }

    /// A complete request goes to the handler.
    mutating func requestReceived(keepAlive: Bool) {
        phase = .handling
        isFirstRequest = false
        if !keepAlive { closesAfterResponse = true }
    }

    /// The response is queued for writing.
    mutating func responseStarted(now: UInt64, closing: Bool) {
        if closing { closesAfterResponse = true }
        phase = .writing
        since = now
    }

    /// Some of the response was taken by the socket.
    mutating func wroteBytes(now: UInt64) {
        if phase == .writing { since = now }
    }

    /// The response is fully written.
    mutating func responseFinished(now: UInt64) -> AfterResponse {
        since = now
        if closesAfterResponse {
            phase = .lingering
            return .close
        }
        phase = .idle
        return .readNextRequest
    }

    /// The client closed its side. A request in progress can never complete; a response being prepared or
    /// written is still delivered (the client may have half-closed), and then the connection closes.
    mutating func receivedEndOfStream() -> Bool {
        closesAfterResponse = true
        switch phase {
        case .idle, .head, .body, .lingering, .closed:
            phase = .closed
            return true
        case .handling, .writing:
            return false
        }
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
        if phase == .idle {
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
        let elapsed = now >= since ? now - since : 0
        switch phase {
        case .idle:
            return elapsed >= (isFirstRequest ? timeouts.header : timeouts.idle) ? .close : nil
        case .head:
            return elapsed >= timeouts.header ? .requestTimeout : nil
        case .body:
            return elapsed >= timeouts.body ? .requestTimeout : nil
        case .writing:
            return elapsed >= timeouts.write ? .abort : nil
        case .lingering:
            return elapsed >= timeouts.linger ? .close : nil
        case .handling, .closed:
            return nil
        }
    }
}
