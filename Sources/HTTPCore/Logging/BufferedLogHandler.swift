import Dispatch
import Glibc
import JSON
import Logging
import Synchronization

/// One log event, as the handler hands it to the output.
struct PendingLogLine: Sendable {
    let level: Logger.Level
    let label: String
    let metadata: Logger.Metadata
    let source: String
    let message: Logger.Message
}

/// Where log lines go: formatted by the thread that logs, buffered, and written to a file descriptor in
/// batches by a thread of its own, at least every `flushInterval`, soon after `capacity` bytes wait or a
/// line at `notice` or above, and on ``flush()`` (which the server's owner calls after shutdown, so that no
/// line is lost at SIGTERM). The thread that logs never writes: an event loop is never held up by a slow
/// reader of standard output. If the reader stalls altogether, lines beyond `maxPending` bytes are dropped
/// and counted, and the count is logged once the output moves again.
///
/// Why: written line by line, the access log cost a `write` per request, as many system calls as the
/// request's own read and write. (Formatting on the flush thread instead was tried and measured: a burst of
/// 5,000 lines every 100 ms preempts an event loop on a small machine and took the p99 from 0.7 to 4 ms.)
public final class BufferedLogOutput: Sendable {
    private let descriptor: Int32
    private let capacity: Int
    /// Lines not yet written.
    private let pending = Mutex<(bytes: [UInt8], dropped: Int)>(([], 0))
    private let maxPending: Int
    private let queue = DispatchQueue(label: "httpcore.log-flush")
    /// Held while writing, so that batches reach the descriptor in the order they were taken.
    private let writing = Mutex<Void>(())
    /// Set once in `init`, then only cancelled: safe to share.
    nonisolated(unsafe) private let timer: DispatchSourceTimer

    /// Lines written to `descriptor` (standard output by default).
    public init(
        descriptor: Int32 = 1, flushInterval: Duration = .milliseconds(100), capacity: Int = 1024 * 1024,
        maxPending: Int = 16 * 1024 * 1024
    ) {
        self.descriptor = descriptor
        self.capacity = capacity
        self.maxPending = maxPending
        timer = DispatchSource.makeTimerSource(queue: queue)
        let interval = Int(flushInterval.nanoseconds)
        timer.schedule(deadline: .now() + .nanoseconds(interval), repeating: .nanoseconds(interval))
        timer.setEventHandler { [weak self] in self?.flush() }
        timer.activate()
    }

    deinit {
        timer.cancel()
        flush()
    }

    /// Formats and adds a line; asks the flush thread to write soon when `immediately` or `capacity` bytes wait.
    func append(_ line: PendingLogLine, immediately: Bool) {
        let timestamp = UTCTimestamp.now()
        // Sorted before the lock is taken: only the copying into the buffer holds it.
        let metadata = line.metadata.sorted { $0.key < $1.key }
        appendFormatted(immediately: immediately) { bytes in
            Self.format(line, metadata: metadata, timestamp: timestamp, into: &bytes)
        }
    }

    /// Adds the line `write` formats straight into the shared buffer (no string per line). The lock is held
    /// for that (about a microsecond); the flush thread holds it only to swap buffers.
    func appendFormatted(immediately: Bool, _ write: (inout [UInt8]) -> Void) {
        let (full, first) = pending.withLock { pending -> (Bool, Bool) in
            guard pending.bytes.count < maxPending else {
                pending.dropped += 1
                return (false, false)
            }
            let first = pending.bytes.count < capacity
            write(&pending.bytes)
            return (pending.bytes.count >= capacity, first)
        }
        // One flush is asked for when the buffer first fills, not one per line after it.
        if immediately || (full && first) { queue.async { [self] in flush() } }
    }

    /// Writes everything added so far, on the caller's thread.
    public func flush() {
        writing.withLock { _ in
            var (bytes, dropped) = pending.withLock { pending -> ([UInt8], Int) in
                let taken = pending
                pending = ([], 0)
                pending.bytes.reserveCapacity(capacity)
                return taken
            }
            if dropped > 0 {
                bytes += Array(
                    "\(UTCTimestamp.now()) warning: [HTTPCore] \(dropped) log lines were dropped: the log's reader did not keep up\n"
                        .utf8)
            }
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    // A non-blocking descriptor (a pipe its reader set so) that is full: wait for room, on this
                    // thread, never an event loop's. Lost only if the reader takes nothing for 10 s.
                    var ready = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                    if poll(&ready, 1, 10_000) > 0 { continue }
                    return
                }
                // A closed descriptor loses these lines, but never blocks or crashes the server.
                guard written > 0 else { return }
                offset += written
            }
        }
    }

    /// `StreamLogHandler`'s format: `timestamp info label: key=value [source] message`, with `metadata`
    /// (the line's, sorted by key).
    static func format(
        _ line: PendingLogLine, metadata: [(key: String, value: Logger.MetadataValue)], timestamp: String,
        into bytes: inout [UInt8]
    ) {
        writeLine(
            timestamp: timestamp, level: line.level, label: line.label, source: line.source, into: &bytes,
            metadata: { bytes in
                for (key, value) in metadata {
                    if case .string(let text) = value {
                        addField(key, text, into: &bytes)
                    } else {
                        addField(key, value.description, into: &bytes)
                    }
                }
            },
            message: { $0.appendText(line.message.description) })
    }

    /// The one layout of a line, whoever formats it: `timestamp level label: key=value [source] message`.
    /// `metadata` writes the fields (each with ``addField(_:_:into:)``, sorted by key), `message` the text.
    static func writeLine(
        timestamp: String, level: Logger.Level, label: String, source: String, into bytes: inout [UInt8],
        metadata: (inout [UInt8]) -> Void, message: (inout [UInt8]) -> Void
    ) {
        bytes.appendText(timestamp)
        bytes.appendText(" ")
        bytes.appendText(level.rawValue)
        if !label.isEmpty {
            bytes.appendText(" ")
            bytes.appendText(label)
        }
        bytes.appendText(":")
        metadata(&bytes)
        bytes.appendText(" [")
        bytes.appendText(source)
        bytes.appendText("] ")
        message(&bytes)
        bytes.appendText("\n")
    }

    /// ` key=value`, as a line's field.
    static func addField(_ key: String, _ value: String, into bytes: inout [UInt8]) {
        bytes.appendText(" ")
        bytes.appendText(key)
        bytes.appendText("=")
        bytes.appendText(value)
    }
}

/// A swift-log handler with `StreamLogHandler`'s line format, writing through a ``BufferedLogOutput``, with
/// timestamps in UTC: formatting a local time makes glibc stat `/etc/localtime` for every line, one more
/// system call per request.
public struct BufferedLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata = Logger.Metadata()
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let output: BufferedLogOutput

    public init(label: String, output: BufferedLogOutput, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.output = output
        self.metadataProvider = metadataProvider
    }

    /// Where a caller may write a line straight into the output, in this handler's format, when nothing
    /// of the handler's own would be added to it (no metadata of its own, no provider): the access log's
    /// fast path.
    var directOutput: (label: String, output: BufferedLogOutput)? {
        metadata.isEmpty && metadataProvider == nil ? (label, output) : nil
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // The common case, an access-log line, has only the event's own metadata: no merge is needed.
        var merged: Logger.Metadata
        let provided = metadataProvider?.get() ?? [:]
        if metadata.isEmpty && provided.isEmpty && event.error == nil {
            merged = event.metadata ?? [:]
        } else {
            merged = metadata
            merged.merge(provided) { _, new in new }
            if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
            if let error = event.error {
                merged["error.message"] = "\(error)"
                merged["error.type"] = "\(String(reflecting: type(of: error)))"
            }
        }
        let line = PendingLogLine(
            level: event.level, label: label, metadata: merged, source: event.source,
            message: event.message)
        // Rare lines that an operator watches for (start-up, shutdown, failures) go out at once.
        output.append(line, immediately: event.level >= .notice)
    }
}

/// `YYYY-MM-DDTHH:MM:SS+0000` for the current second, formatted once a second.
enum UTCTimestamp {
    private static let cache = Mutex<(second: time_t, text: String)>((-1, ""))

    static func now() -> String {
        let second = time(nil)
        if let text = cache.withLock({ $0.second == second ? $0.text : nil }) { return text }
        let text = format(second)
        cache.withLock { $0 = (second, text) }
        return text
    }

    /// Formats with `gmtime_r`, which needs no time-zone database.
    static func format(_ second: time_t) -> String {
        var seconds = second
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return
            "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))+0000"
    }
}
