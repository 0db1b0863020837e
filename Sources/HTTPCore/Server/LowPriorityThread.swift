import Glibc

/// Threads of their own at a lower priority than the event loops: the worker pool's, and the model loads'.
///
/// Why new threads and not Dispatch's: an unprivileged process can lower a thread's priority but never
/// raise it again (`RLIMIT_NICE` is 0 by default), so a Dispatch worker, shared with timers and signal
/// handling, must not be lowered; and Dispatch's pool has a fixed number of threads (255) that blocked
/// work must not take.
public enum LowPriorityThread {
    /// How much nicer than the process's main thread a low-priority thread is (capped at 19, the lowest
    /// priority). A batch or a model load is hundreds of milliseconds of CPU, a request on an event loop
    /// tens of microseconds: 10 steps lower, the scheduler gives such a thread about a tenth of a loop's
    /// share of a busy core, while on idle cores it still runs at full speed (measured in
    /// `.ci/overload_test.py`: `POST /predict`'s p99 under 64 clients of batches).
    public static let niceIncrement: Int32 = 10

    /// Runs `body` on a new thread at the lower priority and returns once it has ended (on the calling
    /// thread, at its own priority, if no thread can be made).
    public static func run(_ body: () -> Void) {
        withoutActuallyEscaping(body) { body in
            guard let thread = start(body) else {
                body()
                return
            }
            // The thread has released `body` before it ends.
            pthread_join(thread, nil)
        }
    }

    /// Starts `body` on a new detached thread at the lower priority; false if no thread could be made
    /// (out of threads or memory).
    static func detach(_ body: @escaping @Sendable () -> Void) -> Bool {
        guard let thread = start(body) else { return false }
        pthread_detach(thread)
        return true
    }

    private static func start(_ body: @escaping () -> Void) -> pthread_t? {
        let job = Unmanaged.passRetained(Job(body)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(
            &thread, nil,
            { raw in
                let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
                LowPriorityThread.lowerPriority()
                job.body()
                return nil
            }, job)
        guard created == 0 else {
            Unmanaged<Job>.fromOpaque(job).release()
            return nil
        }
        return thread
    }

    /// Sets the calling thread's priority ``niceIncrement`` below the process's main thread (the event
    /// loops' priority), not below the thread that started it: a model load started by a request on a
    /// worker would otherwise land at 19. On Linux a nice value belongs to a thread, `who` 0 is the calling
    /// one and the process id names the main thread (setpriority(2)); getpriority may return -1 as a
    /// value, so errno tells a failure. A thread cannot raise its own priority, so one already lower stays.
    private static func lowerPriority() {
        let which = __priority_which_t(PRIO_PROCESS.rawValue)
        errno = 0
        let main = getpriority(which, id_t(getpid()))
        let base = errno == 0 ? main : 0
        _ = setpriority(which, 0, min(19, base + niceIncrement))
    }

    /// The work, handed to the new thread through a raw pointer.
    private final class Job {
        let body: () -> Void

        init(_ body: @escaping () -> Void) {
            self.body = body
        }
    }
}
