import Dispatch
import Glibc
import Synchronization

/// The threads that run offloaded handlers (batches, pictures, coded bodies), with a bounded queue.
///
/// Dispatch's global queue starts a thread for every blocked job up to its own limit (64 and more), so
/// under a storm of batch requests every one of them runs at once, each holding its working set, and all
/// finish late. Here a fixed number of workers (the core count: the work is CPU) take jobs in order; at
/// most `maxQueued` wait, and one more is refused at once; a job that waited longer than `queueTimeout` is
/// not run but expired, because its client has likely given up (the server answers it 503).
final class WorkPool: Sendable {
    /// A job: `run` on a worker, or `expire` (also on a worker) when it waited too long.
    struct Job: Sendable {
        let run: @Sendable (_ waitedNanoseconds: UInt64) -> Void
        let expire: @Sendable (_ waitedNanoseconds: UInt64) -> Void
    }

    /// The workers' nice value. A batch is hundreds of milliseconds of CPU, a request on an event loop tens
    /// of microseconds: at nice 10 the scheduler gives a worker about a tenth of a loop's share of a busy
    /// core, so a storm of batches does not queue the small requests behind it (measured in
    /// `.ci/overload_test.py`: `POST /predict`'s p99 under 64 clients of batches), while on idle cores the
    /// workers still run at full speed.
    static let niceValue: Int32 = 10

    let threads: Int
    let maxQueued: Int
    let queueTimeout: UInt64
    /// The jobs in order; a taken one is set to `nil` at once, since its closures hold its request (a
    /// body of megabytes), and the taken slots are dropped now and then.
    private let queue = Mutex<(jobs: [(job: Job, queuedAt: UInt64)?], head: Int)>(([], 0))
    private let available = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)

    init(threads: Int, maxQueued: Int, queueTimeout: Duration) {
        self.threads = max(1, threads)
        self.maxQueued = max(0, maxQueued)
        self.queueTimeout = queueTimeout.nanoseconds
    }

    private let started = Atomic<Bool>(false)

    /// Starts the workers, once (the first ``submit(_:)`` does it too): each a thread of its own, not one of
    /// Dispatch's, whose pool has a fixed number of threads (255) that blocked workers must not take from
    /// the event loops, timers and signal handling.
    func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for _ in 0..<threads {
            let worker = Unmanaged.passRetained(self).toOpaque()
            var thread = pthread_t()
            let created = pthread_create(
                &thread, nil,
                { raw in
                    let pool = Unmanaged<WorkPool>.fromOpaque(raw!).takeRetainedValue()
                    // On Linux a nice value belongs to a thread, and `who` 0 is the calling one (setpriority(2)).
                    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, WorkPool.niceValue)
                    pool.work()
                    return nil
                }, worker)
            if created == 0 {
                pthread_detach(thread)
            } else {
                // No thread (out of threads or memory): the job still runs, on Dispatch.
                Unmanaged<WorkPool>.fromOpaque(worker).release()
                DispatchQueue.global().async { [self] in work() }
            }
        }
    }

    /// Ends the workers once the jobs queued before have run.
    func stop() {
        stopped.store(true, ordering: .releasing)
        for _ in 0..<threads { available.signal() }
    }

    /// The jobs waiting for a worker.
    var queueLength: Int { queue.withLock { $0.jobs.count - $0.head } }

    /// Queues `job`; false (and nothing queued) when `maxQueued` jobs already wait.
    func submit(_ job: Job) -> Bool {
        guard !stopped.load(ordering: .acquiring) else { return false }
        start()
        let now = EventLoop.now()
        let queued = queue.withLock { queue -> Bool in
            guard queue.jobs.count - queue.head < maxQueued else { return false }
            queue.jobs.append((job, now))
            return true
        }
        if queued { available.signal() }
        return queued
    }

    private func work() {
        while true {
            available.wait()
            let next = queue.withLock { queue -> (job: Job, queuedAt: UInt64)? in
                guard queue.head < queue.jobs.count else { return nil }
                let next = queue.jobs[queue.head]
                queue.jobs[queue.head] = nil
                queue.head += 1
                // Drop the taken slots now and then, not on every job (removeFirst is linear).
                if queue.head >= 64 && queue.head * 2 >= queue.jobs.count {
                    queue.jobs.removeFirst(queue.head)
                    queue.head = 0
                }
                return next
            }
            guard let next else {
                if stopped.load(ordering: .acquiring) { return }
                continue
            }
            let now = EventLoop.now()
            let waited = now >= next.queuedAt ? now - next.queuedAt : 0
            if waited > queueTimeout {
                next.job.expire(waited)
            } else {
                next.job.run(waited)
            }
        }
    }
}
