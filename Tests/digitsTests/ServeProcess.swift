import Foundation
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `digits serve` running as a child process, as a user or a container runs it.
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    private let output = Mutex<String>("")
    private(set) var port = 0
    private let pipe = Pipe()

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Starts `digits serve` with `arguments` (through `prefix`, such as `prlimit`, when given) and waits for its
    /// ready line, or for it to exit.
    init(_ arguments: [String], environment: [String: String] = [:], prefix: [String] = []) throws {
        if prefix.isEmpty {
            process.executableURL = CommandRunner.executable
            process.arguments = ["serve"] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = prefix + [CommandRunner.executable.path, "serve"] + arguments
        }
        process.currentDirectoryURL = CommandRunner.projectFolder
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { [self] handle in
            let data = handle.availableData
            output.withLock { $0 += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
    }

    var log: String { output.withLock { $0 } }

    /// Waits (up to 60 s) for the ready line and reads the port from it.
    func waitUntilReady() throws {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let range = log.range(of: #"ready on http://[^ ]*:(\d+) "#, options: .regularExpression) {
                let match = log[range]
                port = Int(match.split(separator: ":").last!.dropLast()) ?? 0
                return
            }
            if !process.isRunning { throw Failure(description: "digits serve exited: \(log)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw Failure(description: "digits serve was not ready within 60 s: \(log)")
    }

    /// Waits (up to 60 s) for the process to exit and returns its status.
    func waitForExit() -> Int32? {
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            process.terminate()
            return nil
        }
        // What the process wrote last is read here: the readability handler is not called for everything
        // once the writer has gone (seen: a log cut off mid-line).
        pipe.fileHandleForReading.readabilityHandler = nil
        let rest = pipe.fileHandleForReading.readDataToEndOfFile()
        output.withLock { $0 += String(decoding: rest, as: UTF8.self) }
        return process.terminationStatus
    }

    /// Asks `GET /model` every 0.1 s for up to 10 s until it answers 200; the last status seen.
    func statusOnceServing() -> Int {
        var status = 0
        for _ in 0..<100 where status != 200 {
            status = (try? get("/model").status) ?? 0
            if status != 200 { Thread.sleep(forTimeInterval: 0.1) }
        }
        return status
    }

    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    func get(_ path: String) throws -> (status: Int, body: Data) {
        try request("GET", path)
    }

    func request(_ method: String, _ path: String, body: Data? = nil) throws -> (status: Int, body: Data) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 30
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        let result = Mutex<(Int, Data)?>(nil)
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, _ in
            result.withLock { $0 = ((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data()) }
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 60)
        guard let (status, data) = result.withLock({ $0 }) else {
            throw Failure(description: "no response from \(path)")
        }
        return (status, data)
    }
}
