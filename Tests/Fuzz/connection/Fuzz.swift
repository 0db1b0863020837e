// libFuzzer entry point for a live Connection: HTTPCore's own connection and event loop, over a socketpair.
//
// The input is a script: each step is an opcode byte and, for sends, a length byte and that many bytes.
// Opcodes: send the bytes; pause a millisecond (so the server reads what came so far); half-close (the
// script's end half-closes too). The bytes sent, taken together, are parsed by a reference
// HTTPRequestParser, which says what the server must answer: each complete request, in order, until one
// ends the connection (`Connection: close`, an unsupported expectation) or the framing breaks (one 400).
// On every input, beyond "never crashes, never trips AddressSanitizer": exactly those answers arrive, in
// order (the responder echoes each target in a header), and then the server closes.
import Dispatch
import Glibc
import Logging

@testable import HTTPCore

/// GET runs inline, everything else off the loop, so that both paths are driven.
struct EchoResponder: HTTPResponder {
    func route(_ request: inout HTTPRequest) -> HandlerExecution { request.method == "GET" ? .inline : .offloaded }
    func respond(to request: HTTPRequest) throws -> HTTPResponse {
        HTTPResponse(status: .ok, headers: ["X-Target": request.head.target], body: request.body)
    }
}

let loop: EventLoop = {
    let loop = try! EventLoop(index: 0, tickInterval: 50_000_000)
    loop.start()
    return loop
}()
let context: ServerContext = {
    var logger = Logger(label: "fuzz")
    logger.logLevel = .critical
    return ServerContext(configuration: HTTPServerConfiguration(), responder: EchoResponder(), logger: logger)
}()

enum Expected: Equatable {
    case answer(target: String, head: Bool)
    case error
}

/// What the server must answer for these bytes.
func expectedAnswers(_ bytes: [UInt8]) -> [Expected] {
    var parser = HTTPRequestParser(limits: context.configuration.limits)
    parser.append(bytes)
    var expected: [Expected] = []
    while true {
        do {
            guard let request = try parser.nextRequest() else {
                if let head = parser.headAwaitingBody, head.hasUnsupportedExpectation { expected.append(.error) }
                return expected
            }
            if request.head.hasUnsupportedExpectation {
                expected.append(.error)
                return expected
            }
            expected.append(.answer(target: request.head.target, head: request.method == "HEAD"))
            if !request.head.wantsKeepAlive { return expected }
        } catch {
            expected.append(.error)
            return expected
        }
    }
}

/// Reads responses until end of stream: each final one as its status and X-Target (1xx are skipped).
func readAnswers(_ descriptor: Int32, expecting expected: [Expected]) -> [Expected] {
    var stream: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        stream += chunk[0..<count]
    }
    var answers: [Expected] = []
    var start = 0
    while start < stream.count {
        guard
            let end = (start..<max(start, stream.count - 3)).first(where: {
                stream[$0] == 13 && stream[$0 + 1] == 10 && stream[$0 + 2] == 13 && stream[$0 + 3] == 10
            })
        else { break }
        let head = String(decoding: stream[start..<end], as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        func field(_ name: String) -> String? {
            lines.dropFirst().first { $0.lowercased().hasPrefix(name + ":") }
                .map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces) }
        }
        start = end + 4
        if (100..<200).contains(status) { continue }
        let isHead: Bool
        if status >= 400 || field("x-target") == nil {
            answers.append(.error)
            isHead = false
        } else {
            let position = answers.count
            isHead = position < expected.count && expected[position] == .answer(target: field("x-target")!, head: true)
            answers.append(.answer(target: field("x-target")!, head: isHead))
        }
        if !isHead { start += Int(field("content-length") ?? "0") ?? 0 }
    }
    return answers
}

extension String {
    func trimmingCharacters(in set: Set<Character>) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}

extension Set where Element == Character {
    static let whitespaces: Set<Character> = [" ", "\t"]
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let script = Array(UnsafeBufferPointer(start: data, count: size))
    var descriptors: [Int32] = [0, 0]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &descriptors) == 0 else { return 0 }
    _ = fcntl(descriptors[0], F_SETFL, fcntl(descriptors[0], F_GETFL) | O_NONBLOCK)
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(descriptors[1], SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let closed = DispatchSemaphore(value: 0)
    let connection = Connection(id: 1, socket: Socket(descriptor: descriptors[0]), loop: loop, context: context) { _ in
        closed.signal()
    }
    loop.execute { connection.start() }

    var sent: [UInt8] = []
    var index = 0
    var halfClosed = false
    while index < script.count && !halfClosed {
        let opcode = script[index] % 8
        index += 1
        switch opcode {
        case 0:
            usleep(1000)
        case 1:
            halfClosed = true
        default:
            guard index < script.count else { break }
            let length = Int(script[index])
            index += 1
            let piece = Array(script[index..<min(script.count, index + length)])
            index += piece.count
            _ = piece.withUnsafeBytes { send(descriptors[1], $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            sent += piece
        }
    }
    shutdown(descriptors[1], Int32(SHUT_WR))
    let expected = expectedAnswers(sent)
    let answers = readAnswers(descriptors[1], expecting: expected)
    precondition(closed.wait(timeout: .now() + 10) == .success, "the connection did not close after the client's end")
    close(descriptors[1])
    precondition(
        answers == expected,
        "the answers differ from the requests:\nexpected \(expected)\nanswered \(answers)\nsent \(String(decoding: sent, as: UTF8.self).debugDescription)"
    )
    return 0
}
