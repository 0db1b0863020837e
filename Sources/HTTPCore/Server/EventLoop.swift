import CLinux
import Dispatch
import Glibc
import Synchronization

/// Something an event loop watches: a listening socket or a connection.
protocol EventLoopSource: AnyObject {
    /// The descriptor became readable, writable, or was hung up; called on the loop's thread.
    func handleEvents(readable: Bool, writable: Bool, hangUp: Bool)
    /// The loop's periodic check of deadlines; called on the loop's thread.
    func tick(now: UInt64)
}

/// One thread that waits on an epoll set and runs the sources that are ready, in the style of nginx's
/// workers and NIO's event loops: one per core, each owning its connections outright.
///
/// Why not a Dispatch source per socket: on Linux every event of a Dispatch source is delivered by the
/// Dispatch manager thread, which re-arms the descriptor and wakes a worker for it; profiled under load,
/// that machinery (eventfd writes, manager wake-ups, thread switches) took more CPU than the requests
/// themselves. Here a request costs one `epoll_wait` round for any number of ready connections. The loop
/// itself runs on a Dispatch thread, and Dispatch still runs offloaded handlers, timers for shutdown, and
/// signal handling.
final class EventLoop: @unchecked Sendable {
    let index: Int
    private let epoll: Int32
    private let wakeDescriptor: Int32
    private let tickInterval: UInt64
    /// Tasks posted from other threads, run on the loop's thread.
    private let inbox = Mutex<[@Sendable () -> Void]>([])
    private let wakePending = Atomic<Bool>(false)
    /// Everything below is touched only on the loop's thread.
    /// Watched descriptors, each with the token its epoll events carry.
    private var sources: [Int32: (token: UInt64, source: EventLoopSource)] = [:]
    /// Tokens are unique for the loop's life: an event still pending for a closed connection cannot reach
    /// the new connection that reused its descriptor in the same batch of events.
    private var lastToken: UInt64 = 0
    /// Sources that want ticks while they watch no descriptor (a paused acceptor).
    private var tickers: [ObjectIdentifier: EventLoopSource] = [:]
    private var isRunning = true
    private var nextTick: UInt64 = 0
    /// Scratch space for reads, shared by this loop's connections.
    let readBuffer: UnsafeMutableRawBufferPointer
    /// True while the loop handles a batch of events: connections then leave their answers queued and are
    /// listed in `deferredWrites`, to be written together once the batch is handled (``deferWrite(_:)``).
    private(set) var defersWrites = false
    private var deferredWrites: [Connection] = []
    /// The list being written; the two lists swap, so that neither is allocated again for every batch.
    private var writingDeferred: [Connection] = []
    /// At most this many connections wait for their answers to be written, however large the batch.
    static let maxDeferredWrites = 16
    private let finished = DispatchSemaphore(value: 0)

    init(index: Int, tickInterval: UInt64) throws(SocketError) {
        self.index = index
        self.tickInterval = tickInterval
        epoll = try SocketError.check("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        do {
            wakeDescriptor = try SocketError.check("eventfd") { eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC)) }
        } catch {
            close(epoll)
            throw error
        }
        readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = 0
        epoll_ctl(epoll, EPOLL_CTL_ADD, wakeDescriptor, &event)
    }

    deinit {
        close(wakeDescriptor)
        close(epoll)
        readBuffer.deallocate()
    }

    /// Starts the loop on a thread of its own (a Dispatch thread it keeps for its lifetime).
    func start() {
        DispatchQueue(label: "httpcore.event-loop.\(index)").async { [self] in
            run()
            finished.signal()
        }
    }

    /// Runs `task` on the loop's thread, soon. Safe from any thread.
    func execute(_ task: @escaping @Sendable () -> Void) {
        inbox.withLock { $0.append(task) }
        if !wakePending.exchange(true, ordering: .acquiringAndReleasing) {
            var one: UInt64 = 1
            _ = write(wakeDescriptor, &one, 8)
        }
    }

    /// Stops the loop after the tasks already posted, and waits until it has.
    func stopAndWait() {
        execute { [self] in isRunning = false }
        finished.wait()
    }

    // MARK: - Registration (loop thread only)

    /// Watches `descriptor`. `exclusive` is for the shared listener: one waiting loop is woken per event
    /// (`EPOLLEXCLUSIVE`, which allows no flag but `EPOLLIN` beside it).
    /// Returns false when epoll refuses (out of memory, the per-user watch limit): the caller closes that
    /// one connection; nothing else is affected.
    @discardableResult
    func register(
        _ descriptor: Int32, source: EventLoopSource, readable: Bool, writable: Bool, exclusive: Bool = false
    )
        -> Bool
    {
        var event = epoll_event()
        event.events =
            exclusive ? EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue : mask(readable: readable, writable: writable)
        // A 32-bit generation above the descriptor, never 0 (the wake-up descriptor's token).
        lastToken = lastToken == 0xFFFF_FFFF ? 1 : lastToken + 1
        event.data.u64 = lastToken << 32 | UInt64(UInt32(bitPattern: descriptor))
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event) == 0 else { return false }
        sources[descriptor] = (event.data.u64, source)
        return true
    }

    /// Changes what `descriptor` is watched for; false when epoll refuses (the caller closes it).
    func update(_ descriptor: Int32, readable: Bool, writable: Bool) -> Bool {
        guard let token = sources[descriptor]?.token else { return false }
        var event = epoll_event()
        event.events = mask(readable: readable, writable: writable)
        event.data.u64 = token
        return epoll_ctl(epoll, EPOLL_CTL_MOD, descriptor, &event) == 0
    }

    func unregister(_ descriptor: Int32) {
        sources[descriptor] = nil
        epoll_ctl(epoll, EPOLL_CTL_DEL, descriptor, nil)
    }

    /// Every source the loop watches, for ticks and drains.
    var allSources: [EventLoopSource] { sources.values.map(\.source) }

    func addTicker(_ source: EventLoopSource) {
        tickers[ObjectIdentifier(source)] = source
    }

    func removeTicker(_ source: EventLoopSource) {
        tickers[ObjectIdentifier(source)] = nil
    }

    private func mask(readable: Bool, writable: Bool) -> UInt32 {
        (readable ? EPOLLIN.rawValue | EPOLLRDHUP.rawValue : 0) | (writable ? EPOLLOUT.rawValue : 0)
    }

    // MARK: - Writes at the end of a batch

    /// Lists `connection` to be written once the current batch of events is handled.
    ///
    /// Why: on loopback (and on any host where the client is waiting in `epoll_wait`), each `send` that
    /// finds the peer asleep pays for waking it; answers written one by one, with a request's work between
    /// them, woke the client once per answer (wrk slept 17,000 times a second, and the wake-ups took 15 %
    /// of the loop's time). Written back to back, the first answer wakes the client and the others arrive
    /// while it is still busy. At most `maxDeferredWrites` connections wait: the loop writes them as soon
    /// as that many are listed, between two events or two posted tasks.
    func deferWrite(_ connection: Connection) {
        deferredWrites.append(connection)
    }

    /// Writes the connections listed so far, in the order they were listed, and stops deferring until the
    /// caller starts again. Nothing is listed meanwhile (writes are not deferred during it); the loop only
    /// guards against a connection that would be.
    private func flushDeferredWrites() {
        defersWrites = false
        while !deferredWrites.isEmpty {
            swap(&writingDeferred, &deferredWrites)
            for connection in writingDeferred { connection.writeDeferredOutput() }
            writingDeferred.removeAll(keepingCapacity: true)
        }
    }

    /// Writes the listed connections once `maxDeferredWrites` wait, and goes on deferring.
    private func flushDeferredWritesIfFull() {
        guard deferredWrites.count >= Self.maxDeferredWrites else { return }
        flushDeferredWrites()
        defersWrites = true
    }

    // MARK: - The loop

    private func run() {
        let capacity = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        defer { events.deallocate() }
        nextTick = Self.now() + tickInterval
        while isRunning {
            let now = Self.now()
            let timeout = now >= nextTick ? 0 : Int32(min(1000, (nextTick - now) / 1_000_000 + 1))
            let count = epoll_wait(epoll, events, Int32(capacity), timeout)
            if count < 0 {
                if errno == EINTR { continue }
                fatalError("epoll_wait failed: \(String(cString: strerror(errno)))")
            }
            defersWrites = true
            for position in 0..<Int(count) {
                flushDeferredWritesIfFull()
                let event = events[position]
                let token = event.data.u64
                if token == 0 {
                    runInbox()
                    continue
                }
                let descriptor = Int32(bitPattern: UInt32(truncatingIfNeeded: token))
                guard let (current, source) = sources[descriptor], current == token else { continue }
                let flags = event.events
                source.handleEvents(
                    readable: flags & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue) != 0,
                    writable: flags & EPOLLOUT.rawValue != 0,
                    hangUp: flags & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0)
            }
            flushDeferredWrites()
            let after = Self.now()
            if after >= nextTick {
                nextTick = after + tickInterval
                for source in allSources { source.tick(now: after) }
                for ticker in Array(tickers.values) { ticker.tick(now: after) }
            }
        }
    }

    private func runInbox() {
        var value: UInt64 = 0
        _ = read(wakeDescriptor, &value, 8)
        wakePending.store(false, ordering: .releasing)
        let tasks = inbox.withLock { tasks -> [@Sendable () -> Void] in
            let taken = tasks
            tasks.removeAll(keepingCapacity: true)
            return taken
        }
        for task in tasks {
            task()
            // Answers from the worker pool come back as tasks, any number in one wake-up.
            if defersWrites { flushDeferredWritesIfFull() }
        }
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}
