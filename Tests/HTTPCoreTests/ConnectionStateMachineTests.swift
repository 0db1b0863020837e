import Testing

@testable import HTTPCore

/// The connection policy, driven by a made-up clock (nanoseconds).
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    let timeouts = ConnectionTimeouts(header: 10, body: 20, idle: 75, write: 30, linger: 2)

    @Test("a fresh connection must send its head within the header timeout, counted from accept")
    func firstRequestHeaderTimeout() {
        var machine = ConnectionStateMachine(timeouts: timeouts, now: 100)
        #expect(machine.timeoutAction(now: 109) == nil)
        #expect(machine.timeoutAction(now: 110) == .close, "nothing sent at all: closed quietly")
        machine.receivedBytes(now: 105, insideRequest: true, awaitingBody: false)
        #expect(machine.phase == .head)
        #expect(machine.timeoutAction(now: 109) == nil)
        #expect(
            machine.timeoutAction(now: 110) == .requestTimeout, "still counted from accept, not from the first byte")
    }

    @Test("keep-alive: idle timeout between requests, header timeout from the next first byte")
    func keepAliveCycle() {
        var machine = ConnectionStateMachine(timeouts: timeouts, now: 0)
        machine.receivedBytes(now: 1, insideRequest: true, awaitingBody: false)
        machine.requestReceived(keepAlive: true)
        #expect(machine.phase == .handling && machine.timeoutAction(now: 1_000) == nil, "handlers are never timed out")
        machine.responseStarted(now: 5, closing: false)
        let result1 = machine.responseFinished(now: 6)
        #expect(result1 == .readNextRequest)
        #expect(machine.phase == .idle)
        #expect(machine.timeoutAction(now: 80) == nil)
        #expect(machine.timeoutAction(now: 81) == .close)
        machine.receivedBytes(now: 50, insideRequest: true, awaitingBody: false)
        #expect(machine.timeoutAction(now: 59) == nil)
        #expect(machine.timeoutAction(now: 60) == .requestTimeout)
    }

    @Test("the body timeout counts from the last progress")
    func bodyTimeout() {
        var machine = ConnectionStateMachine(timeouts: timeouts, now: 0)
        machine.receivedBytes(now: 1, insideRequest: true, awaitingBody: true)
        #expect(machine.phase == .body)
        machine.receivedBytes(now: 15, insideRequest: true, awaitingBody: true)
        #expect(machine.timeoutAction(now: 34) == nil)
        #expect(machine.timeoutAction(now: 35) == .requestTimeout)
    }

    @Test("a client that stops reading is dropped after the write timeout; progress resets it")
    func writeTimeout() {
        var machine = ConnectionStateMachine(timeouts: timeouts, now: 0)
        machine.requestReceived(keepAlive: true)
        machine.responseStarted(now: 10, closing: false)
        machine.wroteBytes(now: 30)
        #expect(machine.timeoutAction(now: 59) == nil)
        #expect(machine.timeoutAction(now: 60) == .abort)
    }

    @Test("Connection: close, errors and draining end the connection after the response, then linger")
    func closing() {
        var machine = ConnectionStateMachine(timeouts: timeouts, now: 0)
        machine.requestReceived(keepAlive: false)
        machine.responseStarted(now: 1, closing: false)
        let result2 = machine.responseFinished(now: 2)
        #expect(result2 == .close)
        #expect(machine.phase == .lingering)
        #expect(machine.timeoutAction(now: 4) == .close)

        var failed = ConnectionStateMachine(timeouts: timeouts, now: 0)
        failed.closeAfterResponse()
        failed.responseStarted(now: 1, closing: false)
        let result3 = failed.responseFinished(now: 2)
        #expect(result3 == .close)
    }

    @Test("draining closes an idle connection now and a busy one after its response")
    func draining() {
        var idle = ConnectionStateMachine(timeouts: timeouts, now: 0)
        let result4 = idle.beginDrain()
        #expect(result4)
        var busy = ConnectionStateMachine(timeouts: timeouts, now: 0)
        busy.requestReceived(keepAlive: true)
        let result5 = busy.beginDrain()
        #expect(!result5)
        busy.responseStarted(now: 1, closing: false)
        let result6 = busy.responseFinished(now: 2)
        #expect(result6 == .close)
    }

    @Test("end of input: a partial request is abandoned, a response in progress is still delivered")
    func endOfStream() {
        var partial = ConnectionStateMachine(timeouts: timeouts, now: 0)
        partial.receivedBytes(now: 1, insideRequest: true, awaitingBody: false)
        let result7 = partial.receivedEndOfStream()
        #expect(result7)
        var handling = ConnectionStateMachine(timeouts: timeouts, now: 0)
        handling.requestReceived(keepAlive: true)
        let result8 = handling.receivedEndOfStream()
        #expect(!result8)
        handling.responseStarted(now: 1, closing: false)
        let result9 = handling.responseFinished(now: 2)
        #expect(result9 == .close)
    }
}
