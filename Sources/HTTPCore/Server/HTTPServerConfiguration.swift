import Glibc

/// Everything about the server that a deployment may want to change, each default stated and reasoned.
public struct HTTPServerConfiguration: Sendable {
    /// The address to listen on: an IPv4 or IPv6 address or a host name. Default `0.0.0.0` (every IPv4
    /// interface), as a container needs; use `::` for IPv6 as well.
    public var host: String = "0.0.0.0"
    /// The port; 0 asks the kernel for a free one (tests), which ``HTTPServer/port`` then reports. Default 8080.
    public var port: Int = 8080
    /// Sizes of request heads and bodies (431 and 413 above them).
    public var limits = HTTPParserLimits()
    /// Time to receive a request's head: from accept for a new connection, from the first byte on a reused
    /// one (408, then close). Default 10 s: enough for any real client, short enough that a slowloris
    /// client holding connections open a byte at a time is cut off.
    public var headerTimeout: Duration = .seconds(10)
    /// Longest pause between two pieces of a request body (408, then close). Default 10 s.
    public var bodyTimeout: Duration = .seconds(10)
    /// The slowest a request body may arrive, averaged from its start, once ``bodyRateGracePeriod`` has
    /// passed (408, then close); 0 turns the check off. Default 240 bytes a second, Kestrel's
    /// `MinRequestBodyDataRate`: a body trickled a byte at a time would otherwise hold its connection for
    /// ever, since every byte restarts the body timeout.
    public var minimumBodyBytesPerSecond: Int = 240
    /// How long a body may arrive at any pace before the minimum rate applies. Default 5 s, as Kestrel.
    public var bodyRateGracePeriod: Duration = .seconds(5)
    /// With a limited ``memoryBudget``, a body that holds part of it must also average its size over this
    /// window, once ``bodyRateGracePeriod`` has passed (408, then close): a 20 MB body must keep 167 KB a
    /// second, so that holding the budget costs a client the bandwidth of really sending, not a trickle at
    /// the minimum rate. Default 120 s; zero turns it off.
    public var reservedBodyWindow: Duration = .seconds(120)
    /// The largest body answered on the event loop's own thread by a route marked inline; a larger one (or
    /// any with a `Content-Encoding`) is answered on the worker pool (``workerThreads``), so that parsing it never delays
    /// the loop's other connections. Default 64 KiB: a typical JSON request is a few KiB.
    public var maxInlineBodyBytes: Int = 64 * 1024
    /// How long an idle keep-alive connection is kept for the client's next request. Default 75 s, longer
    /// than the 60 s idle timeout of common load balancers (AWS ALB, HAProxy defaults in their guides), so
    /// the balancer, not the server, closes a pooled connection and never sends on one we just closed.
    public var idleTimeout: Duration = .seconds(75)
    /// How long a client may take none of a response before the connection is dropped. Default 30 s.
    public var writeTimeout: Duration = .seconds(30)
    /// How long to keep discarding a closing client's input after the last response, so that the response
    /// is not destroyed by a TCP reset. Default 2 s.
    public var lingerTimeout: Duration = .seconds(2)
    /// Open connections at most; one more is answered 503 and closed at once. Default 1024.
    public var maxConnections: Int = 1024
    /// Event loops, each a thread that owns the connections it accepts. Default: one per online CPU.
    public var eventLoops: Int = HTTPServerConfiguration.availableProcessors
    /// Pending connections the kernel queues before accept (the `listen` backlog). Default 1024.
    public var backlog: Int32 = 1024
    /// After SIGTERM, how long to keep serving normally while reporting not-ready, so that a load balancer's
    /// health checks see the change and stop sending before the listener closes. Default 0 s; set it to a
    /// few health-check intervals behind a balancer.
    public var drainDelay: Duration = .seconds(0)
    /// After the drain delay, how long in-flight requests get to finish before connections are cut. Default 10 s.
    public var gracePeriod: Duration = .seconds(10)
    /// The `Server` response field. Default `HTTPCore`.
    public var serverName: String = "HTTPCore"
    /// Called once when shutdown begins (before the drain delay), so the application can report itself not ready.
    public var onShutdown: (@Sendable () -> Void)?
    /// How errors outside every route group are written (a route group can have its own format:
    /// ``Router/group(_:errorFormat:_:)``). Default: ``HTTPErrorFormat/standard``.
    public var errorFormat: HTTPErrorFormat = .standard
    /// Which browser origins may call the server (CORS). Default none: no CORS fields, and a preflight gets the plain `OPTIONS` answer (204 with `Allow`), which browsers take as a refusal.
    public var cors: CORSPolicy?
    /// Response header fields the access log records, each under its name in lower case with `_` for `-`
    /// (`Model-Version` as `model_version=2`). Default none.
    public var loggedResponseHeaders: [String] = []
    /// Told of connections and requests, for metrics. Default none.
    public var observer: (any HTTPServerObserver)?
    /// The application's middleware, outermost first, inside the server's own (CORS, error rendering,
    /// content coding). Default none.
    public var middleware: [any HTTPMiddleware] = []

    /// The memory the requests in progress may hold at once (see ``MemoryBudget``). Default unlimited.
    public var memoryBudget: MemoryBudget = .unlimited
    /// The threads that run offloaded handlers (batches, pictures, coded bodies). Default one per CPU.
    public var workerThreads: Int = HTTPServerConfiguration.availableProcessors
    /// Offloaded requests that may wait for a worker; one more is answered 503 at once. Default 1024, the
    /// default connection limit: a connection has one request at most in the queue, so by default only
    /// the memory budget and the queue timeout refuse, and a lower value sheds load sooner.
    public var maxQueuedRequests: Int = 1024
    /// An offloaded request that waited longer than this for a worker is answered 503 instead of run: its
    /// client has likely given up. Default 10 s.
    public var queueTimeout: Duration = .seconds(10)

    public init() {}

    var connectionTimeouts: ConnectionTimeouts {
        ConnectionTimeouts(
            header: headerTimeout.nanoseconds, body: bodyTimeout.nanoseconds, idle: idleTimeout.nanoseconds,
            write: writeTimeout.nanoseconds, linger: lingerTimeout.nanoseconds)
    }
}

extension HTTPServerConfiguration {
    /// The CPUs online. A container's CPU quota does not show here; set the loops explicitly under one.
    public static var availableProcessors: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

extension Duration {
    /// The duration in nanoseconds: 0 for a negative one, `UInt64.max` past 584 years (a setting meaning
    /// "never" must not trap).
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = UInt64(max(0, seconds)).multipliedReportingOverflow(by: 1_000_000_000)
        let (total, carried) = whole.addingReportingOverflow(UInt64(max(0, attoseconds / 1_000_000_000)))
        return overflow || carried ? .max : total
    }
}
