import Dispatch
import Synchronization

/// The threads that run offloaded handlers (batches, pictures, coded bodies), with a bounded queue.
///
/// Dispatch's global queue starts a thread for every blocked job up to its own limit (64 and more), so
/// under a storm of batch requests every one of them runs at once, each holding its working set, and all
/// finish late. Here a fixed number of workers (the core count: the work is CPU) take jobs in order; at
/// most `maxQueued` wait, and one more is refused at once; a job that waited longer than `queueTimeout` is
/// not run but expired, because its client has likely given up (the server answers it 503), and one whose
/// client has left is dropped.
final class WorkPool: Sendable {
    /// A job, run on a worker with how long it waited: to be run, or answered without running it.
    struct Job: Sendable {
        /// How a worker takes a job.
        enum Start: Sendable {
            /// Run it.
            case run
            /// It waited longer than the queue timeout: answer it 503 instead of running it.
            case expired
            /// Its client left while it waited (the connection gave back what it held): nothing to do.
            case abandoned
        }

        /// Cancelled by the connection when its client leaves: a job still queued is then not run.
        let cancellation: Cancellation
        let body: @Sendable (_ start: Start, _ waitedNanoseconds: UInt64) -> Void
    }

    /// Whether a job was started or cancelled first: exactly one of them wins.
    final class Cancellation: Sendable {
        private static let queued: UInt8 = 0
        /// 0 queued, 1 started, 2 cancelled.
        private let state = Atomic<UInt8>(Cancellation.queued)

        /// Cancels the job; true when it had not started, so it never will (what it holds may be given
        /// back now).
        func cancel() -> Bool {
            state.compareExchange(expected: Self.queued, desired: 2, ordering: .acquiringAndReleasing).exchanged
        }

        /// Starts the job; false when it was cancelled first.
        func start() -> Bool {
            state.compareExchange(expected: Self.queued, desired: 1, ordering: .acquiringAndReleasing).exchanged
        }
    }

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

    /// Starts the workers, once (the first ``submit(_:)`` does it too): each a ``LowPriorityThread``.
    func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for _ in 0..<threads where !LowPriorityThread.detach({ [self] in work() }) {
            // No thread (out of threads or memory): the jobs still run, on Dispatch, at its priority.
            DispatchQueue.global().async { [self] in work() }
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
            let start: Job.Start =
                !next.job.cancellation.start() ? .abandoned : waited > queueTimeout ? .expired : .run
            next.job.body(start, waited)
        }
    }
}
