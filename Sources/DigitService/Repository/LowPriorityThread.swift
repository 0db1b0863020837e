import Glibc

/// Runs work on a thread of its own at nice 10, and waits for it: loading a model (reading, validating,
/// evaluating it on the test split) is seconds of CPU that must not take it from the event loops.
///
/// Why a new thread: an unprivileged process can lower a thread's priority but never raise it again
/// (`RLIMIT_NICE` is 0 by default), so a Dispatch worker, shared with the batch requests, must not be
/// lowered. A load is rare; a thread costs tens of microseconds.
enum LowPriorityThread {
    /// The nice value of the thread: under load, the scheduler gives it about a tenth of an ordinary
    /// thread's share of a core.
    static let niceValue: Int32 = 10

    /// Runs `body` on a new thread at ``niceValue`` and returns once it has ended (on the calling thread,
    /// at its priority, if no thread can be made).
    static func run(_ body: () -> Void) {
        withoutActuallyEscaping(body) { body in
            let job = Unmanaged.passRetained(Job(body)).toOpaque()
            var thread = pthread_t()
            let created = pthread_create(
                &thread, nil,
                { raw in
                    let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
                    // On Linux a nice value belongs to a thread, and `who` 0 is the calling one (setpriority(2)).
                    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, LowPriorityThread.niceValue)
                    job.body()
                    return nil
                }, job)
            guard created == 0 else {
                Unmanaged<Job>.fromOpaque(job).release()
                body()
                return
            }
            // The thread has released the job, and with it `body`, before it ends.
            pthread_join(thread, nil)
        }
    }

    /// The work, handed to the new thread through a raw pointer: safe because the caller waits for it.
    private final class Job {
        let body: () -> Void

        init(_ body: @escaping () -> Void) {
            self.body = body
        }
    }
}
