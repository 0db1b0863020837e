import CLinux
import Dispatch
import Synchronization

/// The memory that the requests in progress may hold at once: their bodies, their handlers' working sets
/// and their answers until written.
///
/// Without it, concurrent large requests (each well inside every per-request limit) add up past a
/// container's memory limit, and the kernel kills the process with every request in flight. With it, a
/// request that does not fit is answered at once with 503 and `Retry-After`, before its body is read.
/// Each request holds a ``MemoryReservation``; what it holds is given back when its answer has been
/// written or its connection has closed, whatever the path.
public final class MemoryBudget: Sendable {
    /// The bytes that requests may hold at once; `Int.max` for no budget.
    public let capacity: Int
    /// Requests that need less than this are never refused: the head of every request and the small
    /// bodies of the inline routes (a digit is 3 KB), whose number the connection limit bounds. A storm of
    /// large requests must not turn away the small ones, nor a health check.
    public let alwaysAdmittedBytes: Int
    private let reservedBytes = Atomic<Int>(0)
    /// The most reserved at once since memory was last given back to the system.
    private let peakSinceTrim = Atomic<Int>(0)

    public init(capacity: Int, alwaysAdmittedBytes: Int = 64 * 1024) {
        self.capacity = max(0, capacity)
        self.alwaysAdmittedBytes = alwaysAdmittedBytes
    }

    /// No budget: every reservation succeeds (and is still counted).
    public static let unlimited = MemoryBudget(capacity: .max)

    public var isUnlimited: Bool { capacity == .max }

    /// The bytes the requests in progress hold now.
    public var reserved: Int { reservedBytes.load(ordering: .relaxed) }

    /// The bytes a reservation could take now (`Int.max` for no budget).
    public var room: Int { isUnlimited ? .max : max(0, capacity - reserved) }

    /// Takes `bytes` if they fit under the capacity (or `force`); returns whether it did.
    fileprivate func take(_ bytes: Int, force: Bool) -> Bool {
        var current = reservedBytes.load(ordering: .relaxed)
        while true {
            guard force || isUnlimited || bytes <= capacity - current else { return false }
            let (exchanged, original) = reservedBytes.compareExchange(
                expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged {
                notePeak(current + bytes)
                return true
            }
            current = original
        }
    }

    private func notePeak(_ reserved: Int) {
        var peak = peakSinceTrim.load(ordering: .relaxed)
        while reserved > peak {
            let (exchanged, original) = peakSinceTrim.compareExchange(
                expected: peak, desired: reserved, ordering: .relaxed)
            if exchanged { return }
            peak = original
        }
    }

    /// Gives freed memory back to the system once a peak has passed: when the requests in progress hold
    /// little (under 8 MiB) after they held much (over 32 MiB), whichever way the last of them ended
    /// (answered, refused, or its connection gone). glibc keeps freed pages for reuse, so without this a
    /// process stays near its peak size (measured before the budget: 821 MB resident after 32 concurrent
    /// 10,000-image batches had been answered). `malloc_trim` returns the free pages of every arena, once
    /// per peak, on a thread of ordinary priority of Dispatch's: not on the low-priority worker that may
    /// give the last bytes back (it holds the allocator's locks, which the event loops may wait for while
    /// the scheduler makes the worker wait), nor on an event loop (milliseconds its requests would wait).
    fileprivate func give(_ bytes: Int) {
        let left = reservedBytes.subtract(bytes, ordering: .relaxed).newValue
        if left < 8 << 20 { scheduleTrimIfDue() }
    }

    /// Set while a trim runs or waits out its second: one trim at a time, and at most one a second, since
    /// a peak can be announced (a `Content-Length`) as cheaply as it is made.
    private let trimming = Atomic<Bool>(false)

    private func isTrimDue() -> Bool { reserved < 8 << 20 && peakSinceTrim.load(ordering: .relaxed) > 32 << 20 }

    private func scheduleTrimIfDue() {
        guard isTrimDue(), !trimming.exchange(true, ordering: .acquiring) else { return }
        DispatchQueue.global().async { [self] in trimWhileDue() }
    }

    /// Trims, then looks again a second later: a peak that passed meanwhile is trimmed then, even if no
    /// request ends after it (the last of a storm).
    private func trimWhileDue() {
        guard isTrimDue(), peakSinceTrim.exchange(0, ordering: .relaxed) > 32 << 20 else {
            trimming.store(false, ordering: .releasing)
            // A request that ended just before the store found the flag set: look once more.
            scheduleTrimIfDue()
            return
        }
        _ = malloc_trim(0)
        DispatchQueue.global().asyncAfter(deadline: .now() + 1) { [self] in trimWhileDue() }
    }
}

/// What one request holds of a ``MemoryBudget``. The connection reserves the request's body as soon as its
/// head is in (from `Content-Length`, or chunk by chunk); a handler reserves its working set before it
/// allocates it (``reserve(_:for:)``). Everything is given back at once by ``release()``, which may be
/// called any number of times.
public final class MemoryReservation: Sendable {
    public let budget: MemoryBudget
    private let held = Atomic<Int>(0)

    public init(budget: MemoryBudget) {
        self.budget = budget
    }

    /// A reservation nobody released (a path that forgot) gives its bytes back when it goes.
    deinit {
        release()
    }

    /// The bytes this request holds.
    public var bytes: Int { held.load(ordering: .relaxed) }

    /// Reserves `bytes` more for this request, or throws its answer: 413 when the whole budget could never
    /// hold the request, 503 with `Retry-After` when the requests in progress hold too much of it now.
    /// `what` names the memory in the message ("the body", "the decoded images").
    public func reserve(_ bytes: Int, for what: String) throws(HTTPError) {
        guard bytes > 0 else { return }
        let total = self.bytes + bytes
        if total < budget.alwaysAdmittedBytes {
            force(bytes)
            return
        }
        guard total <= budget.capacity else {
            throw HTTPError(
                status: .contentTooLarge, code: HTTPError.overMemoryBudgetCode,
                message:
                    "this request needs about \(Self.mebibytes(total)) MiB for \(what), more than the server's whole memory budget of \(Self.mebibytes(budget.capacity)) MiB; send a smaller request (fewer images)"
            )
        }
        guard budget.take(bytes, force: false) else {
            throw .serverBusy(
                "the requests in progress hold \(Self.mebibytes(budget.reserved)) MiB of its \(Self.mebibytes(budget.capacity)) MiB memory budget, and this one needs \(Self.mebibytes(total)) MiB for \(what)"
            )
        }
        held.add(bytes, ordering: .relaxed)
    }

    /// Reserves until this request holds `total` bytes (nothing if it holds that much already).
    public func grow(to total: Int, for what: String) throws(HTTPError) {
        try reserve(total - bytes, for: what)
    }

    /// Counts `bytes` that are already allocated (an answer waiting to be written): never refused.
    public func force(_ bytes: Int) {
        guard bytes > 0 else { return }
        _ = budget.take(bytes, force: true)
        held.add(bytes, ordering: .relaxed)
    }

    /// Gives back everything this request holds.
    public func release() {
        let bytes = held.exchange(0, ordering: .relaxed)
        if bytes > 0 { budget.give(bytes) }
    }

    /// `bytes` in MiB for messages: one decimal under 10.
    public static func mebibytes(_ bytes: Int) -> String {
        let value = Double(bytes) / 1_048_576
        return value >= 10 ? String(Int(value.rounded())) : String(Double(Int(value * 10)) / 10)
    }
}

extension HTTPError {
    /// The code of ``serverBusy(_:)``.
    static let serverBusyCode = "server_busy"
    /// The code of a request larger than the whole memory budget (413).
    static let overMemoryBudgetCode = "over_memory_budget"

    /// 503 with `Retry-After` for a request refused for the server's load: why, and that the request
    /// itself is fine and may be sent again.
    public static func serverBusy(_ why: String) -> HTTPError {
        HTTPError(
            status: .serviceUnavailable, code: serverBusyCode,
            message: "the server is busy: \(why); retry after a moment. The request itself is fine",
            headers: ["Retry-After": "1"])
    }
}
