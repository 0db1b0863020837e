import Dispatch
import Glibc
import Synchronization

/// SIGTERM and SIGINT, caught from the start of a process to its end.
///
/// As PID 1 of a container a process ignores every signal it has no handler for, so a server that
/// installs its handlers only once it listens ignores a `docker stop` or `podman stop` that comes while it
/// starts (loading models takes seconds): the runtime waits out its grace period and kills it. Made first
/// thing, this answers a signal with `whileStarting` until ``HTTPServer/runUntilTerminated(signals:)``
/// takes the signals over for its drain.
// @unchecked: `sources` is set once, in init, and Dispatch sources may be cancelled from any thread.
public final class TerminationSignals: @unchecked Sendable {
    private let handler: Mutex<@Sendable (Int32) -> Void>
    private let sources: [(number: Int32, source: any DispatchSourceSignal)]

    /// Catches SIGTERM and SIGINT now; each one runs `whileStarting` (on a queue of its own) until
    /// ``handle(with:)`` replaces it.
    public init(whileStarting: @escaping @Sendable (Int32) -> Void) {
        handler = Mutex(whileStarting)
        let queue = DispatchQueue(label: "httpcore.signals")
        sources = [SIGTERM, SIGINT].map { ($0, DispatchSource.makeSignalSource(signal: $0, queue: queue)) }
        for (number, source) in sources {
            // Dispatch sees the signal only once its default action (ending the process) is off.
            signal(number, SIG_IGN)
            source.setEventHandler { [self] in
                let current = handler.withLock { $0 }
                current(number)
            }
            source.activate()
        }
    }

    /// From now on each signal runs `handler`.
    public func handle(with handler: @escaping @Sendable (Int32) -> Void) {
        self.handler.withLock { $0 = handler }
    }

    /// Stops catching: the signals are ignored from now on.
    public func cancel() {
        sources.forEach { $0.source.cancel() }
    }
}
