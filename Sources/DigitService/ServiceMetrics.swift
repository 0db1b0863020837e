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
    /// Requests refused with 503 for the server's load, by reason (memory, queue_full, queue_timeout).
    private let refusals: [RefusalReason: CoreMetrics.Counter]
    /// The worker queue's length, read from the server when `/metrics` is asked: counting queued and
    /// dequeued events could read -1 for the moment between a worker taking a job and the event.
    private let queueLength: CoreMetrics.Gauge
    private let queueLengthSource = Mutex<(@Sendable () -> Int)?>(nil)
    private let queueWait: CoreMetrics.Timer
    /// The memory budget's state, read when `/metrics` is asked.
    private let memoryReserved: CoreMetrics.Gauge
    private let memoryBudgetBytes: CoreMetrics.Gauge
    /// The series of each served version, made when it is published and destroyed when it is retired, so
    /// that load and unload cycles leave no series behind.
    private let modelSeries = Mutex<[ModelKey: ModelVersionSeries]>([:])
    private let loadFailures = Mutex<[String: CoreMetrics.Counter]>([:])

    /// The labels of one `digits_http_requests_total` series.
    private struct RequestKey: Hashable {
        let route: String
        let method: String
        let status: Int
    }

    private struct ModelKey: Hashable {
        let name: String
        let version: Int
    }

    /// `digits_images_predicted_total` and `digits_model_info` of one version.
    private struct ModelVersionSeries {
        let imagesPredicted: CoreMetrics.Counter
        var info: CoreMetrics.Gauge
        var sha256: String
    }

    private struct Series {
        var requestCounters: [RequestKey: CoreMetrics.Counter] = [:]
        var durationTimers: [String: CoreMetrics.Timer] = [:]
    }

    static let durationName = "digits_http_request_duration_seconds"
    static let queueWaitName = "digits_work_queue_wait_seconds"
    private static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "PATCH"]

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        // From 25 µs: a prediction takes tens of microseconds, which the default buckets (from 5 ms) would hide.
        factory.durationHistogramBuckets[Self.durationName] = [
            .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2),
            .seconds(5),
        ]
        // A wait in the worker queue: none at all when a worker is free, seconds under a storm.
        factory.durationHistogramBuckets[Self.queueWaitName] = [
            .microseconds(100), .milliseconds(1), .milliseconds(10), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
        ]
        self.factory = factory
        refusals = Dictionary(
            uniqueKeysWithValues: RefusalReason.allCases.map { reason in
                (
                    reason,
                    CoreMetrics.Counter(
                        label: "digits_requests_refused_total", dimensions: [("reason", reason.rawValue)],
                        factory: factory)
                )
            })
        queueLength = CoreMetrics.Gauge(label: "digits_work_queue_length", factory: factory)
        queueWait = CoreMetrics.Timer(label: Self.queueWaitName, factory: factory)
        memoryReserved = CoreMetrics.Gauge(label: "digits_memory_reserved_bytes", factory: factory)
        memoryBudgetBytes = CoreMetrics.Gauge(label: "digits_memory_budget_bytes", factory: factory)
        inFlight = Meter(label: "digits_http_requests_in_flight", factory: factory)
        openConnections = Meter(label: "digits_http_connections_open", factory: factory)
        rejectedConnections = CoreMetrics.Counter(label: "digits_http_connections_rejected_total", factory: factory)
    }

    /// Counts `count` images predicted by `served`.
    func predicted(_ count: Int, by served: ServedModel) {
        let counter = modelSeries.withLock { $0[ModelKey(name: served.name, version: served.version)]?.imagesPredicted }
        counter?.increment(by: Int64(count))
    }

    /// A version now serves: its info series (`name`, `version`, `sha256`) and its prediction counter. A
    /// version published again with another file keeps its counter and changes its info series.
    func modelPublished(_ served: ServedModel) {
        let key = ModelKey(name: served.name, version: served.version)
        let dimensions = [("model", served.name), ("version", served.versionText)]
        let stale: CoreMetrics.Gauge? = modelSeries.withLock { series in
            if let existing = series[key], existing.sha256 == served.sha256 { return nil }
            let info = CoreMetrics.Gauge(
                label: "digits_model_info", dimensions: dimensions + [("sha256", served.sha256)], factory: factory)
            info.record(1)
            let previous = series[key]
            series[key] = ModelVersionSeries(
                imagesPredicted: previous?.imagesPredicted
                    ?? CoreMetrics.Counter(
                        label: "digits_images_predicted_total",
                        dimensions: [("model", served.name), ("version", served.versionText)], factory: factory),
                info: info, sha256: served.sha256)
            return previous?.info
        }
        stale?.destroy()
    }

    /// A version no longer serves: its series leave the exposition.
    func modelRetired(_ served: ServedModel) {
        let removed = modelSeries.withLock {
            $0.removeValue(forKey: ModelKey(name: served.name, version: served.version))
        }
        removed?.info.destroy()
        removed?.imagesPredicted.destroy()
    }

    /// A version of `name` failed to load.
    func modelLoadFailed(_ name: String) {
        let counter = loadFailures.withLock { counters in
            if let counter = counters[name] { return counter }
            let counter = CoreMetrics.Counter(
                label: "digits_model_load_failures_total", dimensions: [("model", name)], factory: factory)
            counters[name] = counter
            return counter
        }
        counter.increment()
    }

    /// The registry in Prometheus's text format, with the memory budget as it is now (an unlimited budget
    /// shows as 0).
    func exposition(memory budget: MemoryBudget) -> [UInt8] {
        queueLength.record(queueLengthSource.withLock { $0 }?() ?? 0)
        memoryReserved.record(budget.reserved)
        memoryBudgetBytes.record(budget.isUnlimited ? 0 : budget.capacity)
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }

    func connectionOpened() { openConnections.increment() }
    func connectionClosed() { openConnections.decrement() }
    func connectionRejected() { rejectedConnections.increment() }
    func requestStarted() { inFlight.increment() }
    func requestRefused(_ reason: RefusalReason) { refusals[reason]?.increment() }
    /// Where `digits_work_queue_length` is read: the server's worker pool.
    func readQueueLength(from source: @escaping @Sendable () -> Int) {
        queueLengthSource.withLock { $0 = source }
    }

    func requestDequeued(waitedNanoseconds: UInt64) {
        queueWait.recordNanoseconds(Int64(min(waitedNanoseconds, UInt64(Int64.max))))
    }

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
