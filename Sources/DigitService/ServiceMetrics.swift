import CoreMetrics
import HTTPCore
import Prometheus
import Synchronization

/// The service's Prometheus metrics, recorded through swift-metrics into a swift-prometheus registry of
/// the service's own (not the process-wide bootstrap, so that several services can live in one test
/// process), and told of connections and requests by the HTTP server.
///
/// Labels are kept few whatever clients send: routes are the patterns the router matched, once, for the
/// request (`/v2/models/{name}/infer`, or `unmatched`), methods the registered ones or `other`.
final class ServiceMetrics: HTTPServerObserver, Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    /// The per-label metrics made so far, under one lock: a request takes it once.
    private let series = Mutex(Series())
    private let inFlight: Meter
    private let openConnections: Meter
    private let rejectedConnections: CoreMetrics.Counter
    let imagesPredicted: CoreMetrics.Counter

    /// The labels of one `digits_http_requests_total` series.
    private struct RequestKey: Hashable {
        let route: String
        let method: String
        let status: Int
    }

    private struct Series {
        var requestCounters: [RequestKey: CoreMetrics.Counter] = [:]
        var durationTimers: [String: CoreMetrics.Timer] = [:]
    }

    static let durationName = "digits_http_request_duration_seconds"
    private static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "PATCH"]

    init(modelName: String, sha256: String) {
        var factory = PrometheusMetricsFactory(registry: registry)
        // From 25 µs: a prediction takes tens of microseconds, which the default buckets (from 5 ms) would hide.
        factory.durationHistogramBuckets[Self.durationName] = [
            .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2),
            .seconds(5),
        ]
        self.factory = factory
        inFlight = Meter(label: "digits_http_requests_in_flight", factory: factory)
        openConnections = Meter(label: "digits_http_connections_open", factory: factory)
        rejectedConnections = CoreMetrics.Counter(label: "digits_http_connections_rejected_total", factory: factory)
        imagesPredicted = CoreMetrics.Counter(label: "digits_images_predicted_total", factory: factory)
        Gauge(label: "digits_model_info", dimensions: [("name", modelName), ("sha256", sha256)], factory: factory)
            .record(1)
    }

    /// The registry in Prometheus's text format.
    func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }

    func connectionOpened() { openConnections.increment() }
    func connectionClosed() { openConnections.decrement() }
    func connectionRejected() { rejectedConnections.increment() }
    func requestStarted() { inFlight.increment() }

    func requestFinished(_ exchange: HTTPExchange) {
        inFlight.decrement()
        let route = exchange.routePattern ?? "unmatched"
        let method = exchange.head.map { Self.knownMethods.contains($0.method) ? $0.method : "other" } ?? "other"
        let status = exchange.status
        let key = RequestKey(route: route, method: method, status: status)
        let (counter, timer) = series.withLock { series in
            if let counter = series.requestCounters[key], let timer = series.durationTimers[route] {
                return (counter, timer)
            }
            let counter =
                series.requestCounters[key]
                ?? CoreMetrics.Counter(
                    label: "digits_http_requests_total",
                    dimensions: [("route", route), ("method", method), ("status", "\(status)")],
                    factory: factory)
            let timer =
                series.durationTimers[route]
                ?? CoreMetrics.Timer(label: Self.durationName, dimensions: [("route", route)], factory: factory)
            series.requestCounters[key] = counter
            series.durationTimers[route] = timer
            return (counter, timer)
        }
        counter.increment()
        timer.recordNanoseconds(Int64(min(exchange.durationNanoseconds, UInt64(Int64.max))))
    }
}
