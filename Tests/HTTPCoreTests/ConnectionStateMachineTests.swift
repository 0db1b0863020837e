import Testing

@testable import HTTPCore

/// The connection policy, driven by a made-up clock (nanoseconds).
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    let timeouts = ConnectionTimeouts(
        header: 10, body: 20, idle: 75, write: 30, linger: 2, bodyRateGrace: 5_000_000_000,
        minimumBodyBytesPerSecond: 0)

    @Test("a fresh connection must send its head within the header timeout, counted from accept")
    func firstRequestHeaderTimeout() {
        var machine = ConnectionStateMachine(timeouts: timeouts, now: 100)
        #expect(machine.timeoutAction(now: 109) == nil)
        #expect(machine.timeoutAction(now: 110) == .close, "nothing sent at all: closed quietly")
        machine.receivedBytes(now: 105, count: 3, insideRequest: true, awaitingBody: false)
        #expect(machine.phase == .head)
        #expect(machine.timeoutAction(now: 109) == nil)
        #expect(
            machine.timeoutAction(now: 110) == .requestTimeout, "still counted from accept, not from the first byte")
    }

    @Test("keep-alive: idle timeout from the end of the answer, header timeout from the next first byte")
    func keepAliveCycle() {
        var machine = ConnectionStateMachine(timeouts: timeouts, now: 0)
        machine.receivedBytes(now: 1, count: 10, insideRequest: true, awaitingBody: false)
        machine.requestReceived(keepAlive: true, offloaded: true, now: 2)
        #expect(machine.phase == .handling && machine.timeoutAction(now: 1_000) == nil, "handlers are never timed out")
        #expect(!machine.wantsRead && !machine.mayAnswerRequest, "nothing is read while a handler runs elsewhere")
        let closing = machine.responseQueued(now: 5)
        #expect(!closing && machine.phase == .idle && machine.outputPending)
        #expect(machine.timeoutAction(now: 34) == nil, "the idle wait starts once the answer is out")
        let result1 = machine.wrote(now: 6, everything: true)
        #expect(result1 == .proceed)
        #expect(machine.timeoutAction(now: 80) == nil)
        #expect(machine.timeoutAction(now: 81) == .close)
        machine.receivedBytes(now: 50, count: 1, insideRequest: true, awaitingBody: false)
        #expect(machine.timeoutAction(now: 59) == nil)
        #expect(machine.timeoutAction(now: 60) == .requestTimeout)
    }

    @Test("the body timeout counts from the last progress")
    func bodyTimeout() {
        var machine = ConnectionStateMachine(timeouts: timeouts, now: 0)
        machine.receivedBytes(now: 1, count: 100, insideRequest: true, awaitingBody: true)
        #expect(machine.phase == .body)
        machine.receivedBytes(now: 15, count: 1, insideRequest: true, awaitingBody: true)
        #expect(machine.timeoutAction(now: 34) == nil)
        #expect(machine.timeoutAction(now: 35) == .requestTimeout)
    }

    @Test("a body below the minimum rate after the grace period is cut off; a fast one is not")
    func minimumBodyRate() {
        let second: UInt64 = 1_000_000_000
        var rated = timeouts
        rated.body = 10 * second
        rated.minimumBodyBytesPerSecond = 240
        var slow = ConnectionStateMachine(timeouts: rated, now: 0)
        slow.receivedBytes(now: 0, count: 80, insideRequest: true, awaitingBody: true)
        for step in 1...9 {
            // A byte every 9 s would keep resetting the body timeout; the rate check is what ends it.
            slow.receivedBytes(now: UInt64(step) * second / 2, count: 1, insideRequest: true, awaitingBody: true)
        }
        #expect(slow.timeoutAction(now: 4 * second + second / 2) == nil, "within the grace period any pace is fine")
        #expect(slow.timeoutAction(now: 5 * second) == .bodyTooSlow)

        var fast = ConnectionStateMachine(timeouts: rated, now: 0)
        fast.receivedBytes(now: 0, count: 80, insideRequest: true, awaitingBody: true)
        for step in 1...12 {
            fast.receivedBytes(now: UInt64(step) * second / 2, count: 200, insideRequest: true, awaitingBody: true)
        }
        #expect(fast.timeoutAction(now: 6 * second) == nil, "400 bytes a second is above the minimum")
    }

    @Test("a body that holds memory budget must average its size over the reserved-body window")
    func reservedBodyRate() {
        let second: UInt64 = 1_000_000_000
        var rated = timeouts
        rated.body = 10 * second
        rated.minimumBodyBytesPerSecond = 240
        rated.reservedBodyWindow = 120 * second
        rated.write = 60 * second
        func body(reserving reserved: Int, bytesPerSecond: Int) -> ConnectionStateMachine {
            var machine = ConnectionStateMachine(timeouts: rated, now: 0)
            machine.receivedBytes(now: 0, count: 0, insideRequest: true, awaitingBody: true)
            machine.bodyHolds(reservedBytes: reserved)
            for step in 1...6 {
                machine.receivedBytes(
                    now: UInt64(step) * second, count: bytesPerSecond, insideRequest: true, awaitingBody: true)
            }
            return machine
        }
        // 20 MB over 120 s is 166,667 bytes a second.
        let trickle = body(reserving: 20_000_000, bytesPerSecond: 1_000)
        #expect(trickle.timeoutAction(now: 4 * second) == nil, "within the grace period any pace is fine")
        #expect(
            trickle.timeoutAction(now: 6 * second) == .reservedBodyTooSlow, "1 KB/s is above 240 but far below 167 KB/s"
        )
        let steady = body(reserving: 20_000_000, bytesPerSecond: 170_000)
        #expect(steady.timeoutAction(now: 6 * second) == nil)
        let unreserved = body(reserving: 0, bytesPerSecond: 1_000)
        #expect(unreserved.timeoutAction(now: 6 * second) == nil, "without a reservation only the minimum rate applies")

        var next = body(reserving: 20_000_000, bytesPerSecond: 170_000)
        next.requestReceived(keepAlive: true, offloaded: false, now: 6 * second)
        next.receivedBytes(now: 7 * second, count: 0, insideRequest: true, awaitingBody: true)
        for step in 8...13 {
            next.receivedBytes(now: UInt64(step) * second, count: 1_000, insideRequest: true, awaitingBody: true)
        }
        #expect(
            next.timeoutAction(now: 13 * second) == nil, "the next request starts without the last one's reservation")

        // Pipelined behind answers the client takes a little at a time: nothing is read meanwhile, but the
        // body's budget is held, so its clock runs on (an unreserved body's waits).
        var blocked = ConnectionStateMachine(timeouts: rated, now: 0)
        blocked.receivedBytes(now: 0, count: 0, insideRequest: true, awaitingBody: true)
        blocked.bodyHolds(reservedBytes: 20_000_000)
        blocked.outputQueued(now: 0)
        blocked.writeWouldBlock()
        for step in 1...7 {
            _ = blocked.wrote(now: UInt64(step) * second, everything: false)
            blocked.becameWritable(now: UInt64(step) * second)
            blocked.writeWouldBlock()
        }
        #expect(blocked.timeoutAction(now: 7 * second) == .reservedBodyTooSlow)
        var unreservedBlocked = ConnectionStateMachine(timeouts: rated, now: 0)
        unreservedBlocked.receivedBytes(now: 0, count: 0, insideRequest: true, awaitingBody: true)
        unreservedBlocked.outputQueued(now: 0)
        unreservedBlocked.writeWouldBlock()
        #expect(unreservedBlocked.timeoutAction(now: 7 * second) == nil, "not its fault as a sender")
    }

    @Test("a client that stops reading is dropped after the write timeout; progress resets it")
    func writeTimeout() {
        var machine = ConnectionStateMachine(timeouts: timeouts, now: 0)
        machine.requestReceived(keepAlive: true, offloaded: false, now: 0)
        _ = machine.responseQueued(now: 10)
        machine.writeWouldBlock()
        #expect(machine.wantsWrite && !machine.wantsRead, "a blocked writer reads nothing more")
        let result2 = machine.wrote(now: 30, everything: false)
        #expect(result2 == .proceed)
        #expect(machine.timeoutAction(now: 59) == nil)
        #expect(machine.timeoutAction(now: 60) == .abort)
    }

    @Test("Connection: close, errors and draining end the connection after the response, then linger")
    func closing() {
        var machine = ConnectionStateMachine(timeouts: timeouts, now: 0)
        machine.requestReceived(keepAlive: false, offloaded: false, now: 0)
        let result3 = machine.responseQueued(now: 1)
        #expect(result3)
        #expect(machine.phase == .closing && !machine.mayAnswerRequest && !machine.wantsRead)
        let result4 = machine.wrote(now: 2, everything: true)
        #expect(result4 == .linger)
        #expect(machine.phase == .lingering && machine.wantsRead)
        #expect(machine.timeoutAction(now: 4) == .close)

        var failed = ConnectionStateMachine(timeouts: timeouts, now: 0)
        failed.closeAfterResponse()
        let result5 = failed.responseQueued(now: 1)
        #expect(result5)
        let result6 = failed.wrote(now: 2, everything: true)
        #expect(result6 == .linger)
    }

    @Test("draining closes an idle connection now and a busy one after its response")
    func draining() {
        var idle = ConnectionStateMachine(timeouts: timeouts, now: 0)
        let result7 = idle.beginDrain()
        #expect(result7)
        var busy = ConnectionStateMachine(timeouts: timeouts, now: 0)
        busy.requestReceived(keepAlive: true, offloaded: true, now: 0)
        let result8 = busy.beginDrain()
        #expect(!result8)
        let result9 = busy.responseQueued(now: 1)
        #expect(result9, "the answer in progress is the last")
        let result10 = busy.wrote(now: 2, everything: true)
        #expect(result10 == .linger)
        var writing = ConnectionStateMachine(timeouts: timeouts, now: 0)
        writing.requestReceived(keepAlive: true, offloaded: false, now: 0)
        _ = writing.responseQueued(now: 1)
        let result11 = writing.beginDrain()
        #expect(!result11, "an answer still being written is finished first")
    }

    @Test("end of input: buffered requests are still answered, then the connection closes")
    func endOfStream() {
        var partial = ConnectionStateMachine(timeouts: timeouts, now: 0)
        partial.receivedBytes(now: 1, count: 5, insideRequest: true, awaitingBody: false)
        partial.receivedEndOfStream()
        #expect(!partial.wantsRead)
        #expect(!partial.isFinished(moreRequestsBuffered: true), "complete requests in the buffer come first")
        #expect(partial.isFinished(moreRequestsBuffered: false), "a partial request can never complete")

        var handling = ConnectionStateMachine(timeouts: timeouts, now: 0)
        handling.requestReceived(keepAlive: true, offloaded: true, now: 0)
        handling.receivedEndOfStream()
        #expect(!handling.isFinished(moreRequestsBuffered: false), "the answer in progress is still delivered")
        let result12 = handling.responseQueued(now: 1)
        #expect(result12)
        #expect(!handling.isFinished(moreRequestsBuffered: false))
        let result13 = handling.wrote(now: 2, everything: true)
        #expect(result13 == .close, "no one to linger for")
    }

    @Test("100-continue goes out once per request, only while its body is awaited")
    func continueOnce() {
        var machine = ConnectionStateMachine(timeouts: timeouts, now: 0)
        let result14 = machine.shouldSendContinue()
        #expect(!result14, "no head yet")
        machine.receivedBytes(now: 1, count: 50, insideRequest: true, awaitingBody: true)
        let result15 = machine.shouldSendContinue()
        #expect(result15)
        let result16 = machine.shouldSendContinue()
        #expect(!result16)
        machine.requestReceived(keepAlive: true, offloaded: false, now: 2)
        _ = machine.responseQueued(now: 3)
        _ = machine.wrote(now: 3, everything: true)
        machine.receivedBytes(now: 4, count: 50, insideRequest: true, awaitingBody: true)
        let result17 = machine.shouldSendContinue()
        #expect(result17, "the next request gets its own")
    }

    @Test("pipelined answers queue behind each other; the idle timer waits for the last to be written")
    func pipelinedOutput() {
        var machine = ConnectionStateMachine(timeouts: timeouts, now: 0)
        for step in 0..<3 {
            machine.requestReceived(keepAlive: true, offloaded: false, now: UInt64(step))
            let result18 = machine.responseQueued(now: UInt64(step))
            #expect(!result18)
            #expect(machine.mayAnswerRequest)
        }
        #expect(machine.outputPending)
        #expect(machine.timeoutAction(now: 29) == nil, "output waiting: the write timeout applies, not idle")
        #expect(machine.timeoutAction(now: 30) == .abort)
    }

    @Test("a drain that finds the connection idle but still writing ends it once the answer is out")
    func drainWhileWriting() {
        var machine = ConnectionStateMachine(timeouts: timeouts, now: 0)
        machine.requestReceived(keepAlive: true, offloaded: false, now: 0)
        let closing = machine.responseQueued(now: 1)
        #expect(!closing)
        let drained = machine.beginDrain()
        #expect(!drained)
        let after = machine.wrote(now: 2, everything: true)
        #expect(after == .linger, "not kept for the idle timeout")
    }

    @Test("while the client takes none of its answers, its request's clocks stop; they restart when it does")
    func blockedWriterStopsRequestClocks() {
        var machine = ConnectionStateMachine(timeouts: timeouts, now: 0)
        machine.requestReceived(keepAlive: true, offloaded: false, now: 0)
        _ = machine.responseQueued(now: 0)
        machine.receivedBytes(now: 1, count: 5, insideRequest: true, awaitingBody: false)
        machine.writeWouldBlock()
        #expect(machine.timeoutAction(now: 25) == nil, "no 408 for a head the server is not reading")
        #expect(machine.timeoutAction(now: 31) == .abort, "the write timeout still applies")
        machine.becameWritable(now: 28)
        let wrote = machine.wrote(now: 28, everything: true)
        #expect(wrote == .proceed)
        #expect(machine.timeoutAction(now: 37) == nil, "the header clock restarted at 28")
        #expect(machine.timeoutAction(now: 38) == .requestTimeout)
    }
}
