import Logging

/// One answered request, as observers see it: for metrics and the access log.
public struct HTTPExchange: Sendable {
    /// The request's head; `nil` for a request too broken to parse.
    public let head: HTTPRequestHead?
    /// The route's pattern (`/users/{id}/orders`), or `nil` when no route matched or none was asked.
    public let routePattern: String?
    /// The status answered; 499 (nginx's "client closed request") when the client left before its answer.
    public let status: Int
    /// The response body's size in bytes, as sent (after compression).
    public let bodyBytes: Int
    /// The response's own header fields (not the framing ones the server adds).
    public let responseHeaders: HTTPHeaders
    public let requestID: String
    /// From the complete request to its response being queued, in nanoseconds.
    public let durationNanoseconds: UInt64
}

/// Receives the server's events, for metrics and logs. Called on the loop threads as things happen, so an
/// implementation must be quick and thread-safe.
public protocol HTTPServerObserver: Sendable {
    func connectionOpened()
    func connectionClosed()
    /// A connection refused at the connection limit (answered 503).
    func connectionRejected()
    /// A complete request (or a broken one about to get its error) is about to be answered.
    func requestStarted()
    /// Every request that ``requestStarted()`` announced ends here exactly once: answered, or abandoned
    /// because its client left first (status 499).
    func requestFinished(_ exchange: HTTPExchange)
    /// A request answered 503 for the server's load, not for anything wrong with it.
    func requestRefused(_ reason: RefusalReason)
    /// An offloaded request joined the queue of the worker threads. Told after the job is queued, so a
    /// worker may take it (``requestDequeued(waitedNanoseconds:)``) before this arrives: count queue length
    /// from ``HTTPServer/queueLength``, not from these two.
    func requestQueued()
    /// An offloaded request left the queue after `waitedNanoseconds`: to run, expired, or dropped because
    /// its client reset the connection.
    func requestDequeued(waitedNanoseconds: UInt64)
}

/// Why a request was refused with 503 and `Retry-After`.
public enum RefusalReason: String, Sendable, CaseIterable {
    /// The memory budget had no room for it (or, past the whole budget, 413).
    case memory
    /// Every slot of the worker queue was taken.
    case queueFull = "queue_full"
    /// It waited for a worker longer than the queue timeout.
    case queueTimeout = "queue_timeout"
}

extension HTTPServerObserver {
    public func requestRefused(_ reason: RefusalReason) {}
    public func requestQueued() {}
    public func requestDequeued(waitedNanoseconds: UInt64) {}
}

/// The access log as an observer: one info line per answered request, `METHOD path status` with the
/// status, body bytes, duration and request id as metadata, and the response header fields named in
/// ``HTTPServerConfiguration/loggedResponseHeaders`` (as `model_name=...` for `Model-Name`). Lines go
/// through the server's logger, whose handler decides how they are written (``BufferedLogOutput`` batches
/// them).
struct AccessLogObserver: HTTPServerObserver {
    let logger: Logger
    /// Header names and the metadata keys they are logged under.
    let loggedHeaders: [(header: String, key: String)]
    /// With a ``BufferedLogHandler`` of no metadata of its own, lines are formatted straight into its
    /// output, byte for byte as the logger would write them: building, sorting and copying a metadata
    /// dictionary per request cost a fifth of a prediction's instructions.
    private let direct: (label: String, output: BufferedLogOutput)?
    /// The fields' keys in the order the line gives them (sorted, as the handler sorts metadata):
    /// `nil` for the fixed ones, else the index of a logged header.
    private let fieldOrder: [(key: String, header: Int?)]

    init(logger: Logger, loggedResponseHeaders: [String] = [], allowsDirectOutput: Bool = true) {
        self.logger = logger
        // Each key once (a header named twice is logged once), and none that would replace a fixed one.
        var keys = Set(Self.fixedKeys)
        loggedHeaders = loggedResponseHeaders.compactMap { header in
            let key = header.lowercased().replacingDashes
            return keys.insert(key).inserted ? (header, key) : nil
        }
        direct = allowsDirectOutput ? (logger.handler as? BufferedLogHandler)?.directOutput : nil
        fieldOrder = (Self.fixedKeys.map { ($0, nil as Int?) } + loggedHeaders.enumerated().map { ($1.key, $0) })
            .sorted { $0.0 < $1.0 }
    }

    private static let fixedKeys = ["bytes", "duration_ms", "request_id", "status"]
    /// The `source` swift-log gives a line logged from this file: its module's name.
    private static let source = String(#fileID.prefix { $0 != "/" })

    func connectionOpened() {}
    func connectionClosed() {}
    func connectionRejected() {}
    func requestStarted() {}

    func requestFinished(_ exchange: HTTPExchange) {
        guard logger.logLevel <= .info else { return }
        if let direct {
            writeDirect(exchange, label: direct.label, output: direct.output)
            return
        }
        let status = exchange.status
        var metadata: Logger.Metadata = [
            "status": "\(status)", "bytes": "\(exchange.bodyBytes)",
            "duration_ms": "\(Double(exchange.durationNanoseconds / 1000) / 1000)",
            "request_id": "\(exchange.requestID)",
        ]
        for (header, key) in loggedHeaders {
            if let value = exchange.responseHeaders[header] { metadata[key] = "\(value)" }
        }
        logger.info("\(exchange.head?.method ?? "-") \(exchange.head?.path ?? "-") \(status)", metadata: metadata)
    }
}

extension AccessLogObserver {
    /// The access line written straight into the buffered output: the same bytes as through the logger.
    private func writeDirect(_ exchange: HTTPExchange, label: String, output: BufferedLogOutput) {
        let timestamp = UTCTimestamp.now()
        let status = String(exchange.status)
        let duration = Self.millisecondsText(nanoseconds: exchange.durationNanoseconds)
        let bytesText = String(exchange.bodyBytes)
        // The logged headers' values, looked up before the output's lock (which every loop shares), in
        // scratch space rather than an array allocated per line.
        withUnsafeTemporaryAllocation(of: String?.self, capacity: loggedHeaders.count) { headerValues in
            for (index, logged) in loggedHeaders.enumerated() {
                (headerValues.baseAddress! + index).initialize(to: exchange.responseHeaders[logged.header])
            }
            defer { headerValues.baseAddress?.deinitialize(count: loggedHeaders.count) }
            output.appendFormatted(immediately: false) { bytes in
                BufferedLogOutput.writeLine(
                    timestamp: timestamp, level: .info, label: label, source: Self.source, into: &bytes,
                    metadata: { bytes in
                        for (key, headerIndex) in fieldOrder {
                            let value: String?
                            if let headerIndex {
                                value = headerValues[headerIndex]
                            } else {
                                switch key {
                                case "bytes": value = bytesText
                                case "duration_ms": value = duration
                                case "request_id": value = exchange.requestID
                                case "status": value = status
                                default: preconditionFailure("a fixed access-log key without a value: \(key)")
                                }
                            }
                            if let value { BufferedLogOutput.addField(key, value, into: &bytes) }
                        }
                    },
                    message: { bytes in
                        bytes.appendText(exchange.head?.method ?? "-")
                        bytes.appendText(" ")
                        bytes.appendText(exchange.head?.path ?? "-")
                        bytes.appendText(" ")
                        bytes.appendText(status)
                    })
            }
        }
    }
}

extension AccessLogObserver {
    /// A duration as the logger's line gives it, `"\(Double(nanoseconds / 1000) / 1000)"` (`0.035`, `12.0`),
    /// written from the integer. Why: a Double's general formatting cost 1,400 instructions a line. Up to 15
    /// significant digits, the shortest digits that read back as the same Double (what Swift prints) are
    /// the exact decimal, so the two agree; a duration too long for that (over 31 years) takes the Double's.
    static func millisecondsText(nanoseconds: UInt64) -> String {
        let microseconds = nanoseconds / 1000
        guard microseconds < 1_000_000_000_000_000 else { return "\(Double(microseconds) / 1000)" }
        let capacity = 24
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            var end = capacity
            func put(_ digit: UInt64) {
                end -= 1
                buffer[end] = UInt8(ascii: "0") + UInt8(digit)
            }
            // The thousandths without their trailing zeros, and at least one digit.
            var fraction = microseconds % 1000
            var width = 3
            if fraction == 0 {
                width = 1
            } else {
                while fraction % 10 == 0 {
                    fraction /= 10
                    width -= 1
                }
            }
            for _ in 0..<width {
                put(fraction % 10)
                fraction /= 10
            }
            end -= 1
            buffer[end] = UInt8(ascii: ".")
            var whole = microseconds / 1000
            repeat {
                put(whole % 10)
                whole /= 10
            } while whole > 0
            return String(decoding: UnsafeBufferPointer(rebasing: buffer[end..<capacity]), as: UTF8.self)
        }
    }
}

extension String {
    /// `model-name` → `model_name`: a header name as a log key.
    fileprivate var replacingDashes: String { String(map { $0 == "-" ? "_" : $0 }) }
}
