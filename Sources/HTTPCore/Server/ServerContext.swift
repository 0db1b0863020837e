import Logging
import Synchronization

/// What every connection shares with the server: the configuration, the responder wrapped in its
/// middleware, the observers, and the draining flag.
struct ServerContext: Sendable {
    let configuration: HTTPServerConfiguration
    /// The application's responder inside the server's middleware: CORS, then error rendering, then content
    /// coding, then the application's own middleware (outermost first).
    let responder: MiddlewareChain
    let logger: Logger
    /// Told of every connection and answered request: the access log first, then the configured observer.
    let observers: [any HTTPServerObserver]
    let requestIDs = RequestIDGenerator()
    /// Set when shutdown begins: from then on every response says `Connection: close`, so that clients
    /// (and balancers) reconnect, to another replica, while this one drains.
    let draining = DrainingFlag()
    let timeouts: ConnectionTimeouts
    /// How often a loop checks its connections' deadlines: a quarter of the shortest timeout, at most a second.
    let tick: UInt64
    /// Where offloaded handlers run.
    let pool: WorkPool
    var memoryBudget: MemoryBudget { configuration.memoryBudget }

    init(configuration: HTTPServerConfiguration, responder: any HTTPResponder, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var observers: [any HTTPServerObserver] = []
        if logger.logLevel <= .info {
            observers.append(
                AccessLogObserver(logger: logger, loggedResponseHeaders: configuration.loggedResponseHeaders))
        }
        if let observer = configuration.observer { observers.append(observer) }
        self.observers = observers
        var middleware: [any HTTPMiddleware] = []
        if let cors = configuration.cors {
            middleware.append(CORSMiddleware(policy: cors, serverFormat: configuration.errorFormat))
        }
        middleware.append(
            ErrorMiddleware(serverFormat: configuration.errorFormat, logger: logger, observers: observers))
        middleware.append(ContentCodingMiddleware(maxDecodedBytes: configuration.limits.maxBodyBytes))
        middleware += configuration.middleware
        self.responder = MiddlewareChain(middleware, around: responder)
        var timeouts = configuration.connectionTimeouts
        timeouts.minimumBodyBytesPerSecond = UInt64(max(0, configuration.minimumBodyBytesPerSecond))
        timeouts.bodyRateGrace = configuration.bodyRateGracePeriod.nanoseconds
        timeouts.reservedBodyWindow = configuration.reservedBodyWindow.nanoseconds
        self.timeouts = timeouts
        let shortest = min(timeouts.header, timeouts.body, timeouts.idle, timeouts.write, timeouts.linger)
        tick = max(10_000_000, min(1_000_000_000, shortest / 4))
        pool = WorkPool(
            threads: configuration.workerThreads, maxQueued: configuration.maxQueuedRequests,
            queueTimeout: configuration.queueTimeout)
    }

    /// The response for an error raised before routing, in the format of the route group its path is
    /// under (the server's own without a head or a group).
    func errorResponse(_ error: HTTPError, for head: HTTPRequestHead?) -> HTTPResponse {
        (head.flatMap(responder.errorFormat(for:)) ?? configuration.errorFormat).render(error)
    }

    /// Answers a routed request through the middleware. The error middleware, outside the application's,
    /// renders every error, so nothing should reach the catch here; it is the last line that keeps an error
    /// a logged 500, never a crash, should a middleware ever be placed outside it.
    func respond(to request: HTTPRequest) -> HTTPResponse {
        do {
            return try responder.respond(to: request)
        } catch {
            logger.error("middleware failed", metadata: ["error": "\(error)", "request_id": "\(request.requestID)"])
            return (request.errorFormat ?? configuration.errorFormat).render(
                .internalError(requestID: request.requestID))
        }
    }

    /// Whether an inline route's request may really run on the loop: not with a body above the inline
    /// limit, nor with a coded body (inflating it is unbounded work), so the loop's other connections are
    /// never held up by one request's bytes.
    func mayRunInline(_ request: HTTPRequest) -> Bool {
        request.body.count <= configuration.maxInlineBodyBytes && !request.headers.contains("Content-Encoding")
    }

    func notify(_ event: (any HTTPServerObserver) -> Void) {
        for observer in observers { event(observer) }
    }
}

/// A flag set once, read by every connection.
final class DrainingFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    var isSet: Bool { flag.load(ordering: .relaxed) }

    func set() { flag.store(true, ordering: .relaxed) }
}
