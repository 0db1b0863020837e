import Dispatch
import Glibc
import Synchronization

/// SIGTERM and SIGINT, caught from the start of a process to its end.
///
/// As PID 1 of a container a process ignores every signal it has no handler for, so a server that
/// installs its handlers only once it listens ignores a `docker stop` or `podman stop` that comes while it
/// starts (loading models takes seconds): the runtime waits out its grace period and kills it. Made first
/// thing, this answers a signal with `whileStarting` until ``HTTPServer/handleSignals(_:)`` takes the
/// signals over for its drain. One instance per process: Dispatch installs its handler for a signal once.
// @unchecked: `sources` is set once, in init, and Dispatch sources may be cancelled from any thread.
public final class TerminationSignals: @unchecked Sendable {
    private let handler: Mutex<@Sendable (Int32) -> Void>
    private let sources: [(number: Int32, source: any DispatchSourceSignal)]

    /// Catches SIGTERM and SIGINT; each one runs `whileStarting` (on a queue of its own) until
    /// ``handle(with:)`` replaces it. Returns once Dispatch's handlers are installed (Dispatch installs them
    /// on a thread of its own, a moment after the sources start), so that no signal is lost after it.
    public init(whileStarting: @escaping @Sendable (Int32) -> Void) {
        handler = Mutex(whileStarting)
        let queue = DispatchQueue(label: "httpcore.signals")
        sources = [SIGTERM, SIGINT].map { ($0, DispatchSource.makeSignalSource(signal: $0, queue: queue)) }
        for (number, source) in sources {
            // Until Dispatch's handler is in, the default action (ending the process) must be off; once it is
            // in, it must not be replaced.
            if Self.disposition(of: number) == .byDefault { signal(number, SIG_IGN) }
            source.setEventHandler { [self] in
                let current = handler.withLock { $0 }
                current(number)
            }
            source.activate()
        }
        for _ in 0..<1000 where sources.contains(where: { Self.disposition(of: $0.number) != .caught }) {
            usleep(1000)
        }
    }

    private enum Disposition {
        case byDefault
        case ignored
        case caught
    }

    /// What the process does with signal `number` now, as `sigaction` says.
    private static func disposition(of number: Int32) -> Disposition {
        var action = sigaction()
        sigaction(number, nil, &action)
        switch unsafeBitCast(action.__sigaction_handler, to: Int.self) {
        case 0: return .byDefault  // SIG_DFL
        case 1: return .ignored  // SIG_IGN
        default: return .caught
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
