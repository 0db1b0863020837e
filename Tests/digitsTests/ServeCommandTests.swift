import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@Suite("digits serve", .serialized)
struct ServeCommandTests {
    func json(_ data: Data) -> NSDictionary {
        (try? JSONSerialization.jsonObject(with: data)) as? NSDictionary ?? [:]
    }

    @Test(
        "serves the bundled model; /evaluate equals digits evaluate --json; SIGTERM drains and exits 0",
        arguments: ["binary", "ten-class"])
    func serveAndEvaluate(model: String) throws {
        let server = try ServeProcess([
            "--host", "127.0.0.1", "--port", "0", "--model", "data/models/\(model)/1/model.json",
        ])
        try server.waitUntilReady()
        #expect(server.log.contains("serving \(model) version 1 (sha256 "))
        let evaluate = try server.get("/evaluate")
        #expect(evaluate.status == 200)
        let cli = try CommandRunner.run(["evaluate", "--model", "data/models/\(model)/1/model.json", "--json"])
        #expect(json(evaluate.body) == json(Data(cli.standardOutput.utf8)))
        #expect(json(evaluate.body).count >= 9)
        #expect(try server.get("/model").status == 200)
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        #expect(server.log.contains("received signal 15"))
        #expect(server.log.contains("stopped"))
    }

    @Test("configuration: flag over environment over default")
    func configurationPrecedence() throws {
        let fromEnvironment = try ServeProcess(
            [],
            environment: [
                "DIGITS_HOST": "127.0.0.1", "DIGITS_PORT": "0", "DIGITS_MODEL": "data/models/ten-class/1/model.json",
            ])
        try fromEnvironment.waitUntilReady()
        #expect(fromEnvironment.log.contains("serving ten-class version 1"))
        fromEnvironment.signal(SIGTERM)
        #expect(fromEnvironment.waitForExit() == 0)
        let flagWins = try ServeProcess(
            ["--model", "data/models/binary/1/model.json", "--port", "0", "--host", "127.0.0.1"],
            environment: ["DIGITS_MODEL": "data/models/ten-class/1/model.json"])
        try flagWins.waitUntilReady()
        #expect(flagWins.log.contains("serving binary version 1"))
        flagWins.signal(SIGINT)
        #expect(flagWins.waitForExit() == 0)
    }

    @Test(
        "bad start-up settings fail fast with a clear message and a non-zero exit",
        arguments: [
            (
                ["--model", "data/models/none.json"], [String: String](),
                "cannot load the model: data/models/none.json: open failed: No such file or directory"
            ),
            (["--test-images", "missing.npy"], [:], "cannot load the test split for /evaluate: missing.npy"),
            (
                ["--test-images", "missing.npy"], [:],
                "missing.npy was looked for in \(CommandRunner.projectFolder.resolvingSymlinksInPath().path), since a relative path is read from the folder digits runs in"
            ),
            (["--model", "Tests/DigitCoreTests/Fixtures/keras_expected.json"], [:], "not a known field"),
            ([], ["DIGITS_PORT": "eighty"], "DIGITS_PORT='eighty' is not a valid value for --port"),
            (["--port", "80800"], [:], "out of range: give a whole number from 0 to 65535"),
            (["--max-header-bytes", "200"], [:], "give a whole number of at least 256"),
            (["--max-batch", "0"], [:], "Usage: digits serve"),
            ([], ["DIGITS_MEMORY_BUDGET": "half"], "give a size such as 512MiB"),
            (
                [], ["DIGITS_LOG_LEVEL": "loud"],
                "give one of trace, debug, info, notice, warning, error, critical\nUsage: digits serve"
            ),
            (["--host", "no.such.host.invalid"], [:], "cannot listen on no.such.host.invalid"),
            (
                ["--model", "data/models/binary/1/model.json", "--model-repository", "data/models"], [:],
                "give one of them, not both"
            ),
            (["--load-model", "binary"], [:], "add --model-control explicit"),
            (["--model-control", "sometimes"], [:], "Please provide one of 'none', 'poll' or 'explicit'"),
            (["--model-repository", "/no/such/folder"], [:], "cannot read the model repository /no/such/folder"),
            (["--model-control", "explicit", "--load-model", "nine"], [:], "the repository has no model 'nine'"),
            (["--default-model", "../binary"], [:], "cannot name a model"),
        ])
    func startupFailures(arguments: [String], environment: [String: String], message: String) throws {
        let needsPort = !arguments.contains("--port") && environment["DIGITS_PORT"] == nil
        let server = try ServeProcess(arguments + (needsPort ? ["--port", "0"] : []), environment: environment)
        let status = server.waitForExit()
        #expect(status != 0 && status != nil)
        #expect(server.log.contains(message), "\(server.log)")
    }

    @Test("with no model flags, every model of data/models serves; the original endpoints answer with binary")
    func servesTheBundledRepository() throws {
        let server = try ServeProcess(["--host", "127.0.0.1", "--port", "0"])
        try server.waitUntilReady()
        #expect(server.log.contains("serving binary version 1 (sha256 "))
        #expect(
            server.log.contains("ten-class version 2 (sha256 ") && server.log.contains("ten-class version 1 (sha256 "))
        let models = try JSONSerialization.jsonObject(with: try server.get("/models").body) as? [String: Any]
        let names = (models?["models"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["binary", "binary-int8", "ten-class", "ten-class-int8"])
        let seven = try Data(contentsOf: CommandRunner.projectFolder.appendingPathComponent("data/examples/one.json"))
        let tenClass = try server.request("POST", "/models/ten-class/predict", body: seven)
        #expect(tenClass.status == 200)
        #expect((try JSONSerialization.jsonObject(with: tenClass.body) as? [String: Any])?["probabilities"] != nil)
        let original = try server.request("POST", "/predict", body: seven)
        #expect((try JSONSerialization.jsonObject(with: original.body) as? [String: Any])?["probabilities"] == nil)
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
    }

    @Test("poll mode: SIGHUP scans the repository now; outside poll mode it is logged and ignored")
    func hangupRescans() throws {
        let root = CommandRunner.temporaryPath("-repository")
        let manager = FileManager.default
        try manager.createDirectory(atPath: root + "/binary/1", withIntermediateDirectories: true)
        let model = CommandRunner.projectFolder.appendingPathComponent("data/models/binary/1/model.json").path
        try manager.copyItem(atPath: model, toPath: root + "/binary/1/model.json")
        defer { try? manager.removeItem(atPath: root) }
        let server = try ServeProcess([
            "--host", "127.0.0.1", "--port", "0", "--model-repository", root, "--model-control", "poll",
            "--repository-poll-secs", "3600",
        ])
        try server.waitUntilReady()
        try manager.createDirectory(atPath: root + "/binary/2", withIntermediateDirectories: true)
        try manager.copyItem(atPath: model, toPath: root + "/binary/2/model.json")
        // Two scans: the first sees the new file, the second finds it unchanged and loads it.
        for _ in 0..<2 {
            server.signal(SIGHUP)
            usleep(300_000)
        }
        var version: String?
        for _ in 0..<100 {
            let document = try JSONSerialization.jsonObject(with: try server.get("/model").body) as? [String: Any]
            version = document?["version"] as? String
            if version == "2" { break }
            usleep(100_000)
        }
        #expect(version == "2", "\(server.log)")
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)

        let fixed = try ServeProcess(["--host", "127.0.0.1", "--port", "0", "--model-repository", root])
        try fixed.waitUntilReady()
        fixed.signal(SIGHUP)
        #expect(try fixed.get("/model").status == 200)
        fixed.signal(SIGTERM)
        #expect(fixed.waitForExit() == 0)
        #expect(fixed.log.contains("SIGHUP ignored: model control is 'none', not poll"))
    }

    /// A container runtime's stop during a slow start: PID 1 ignores a signal it has no handler for, so
    /// the handler must be there before the models load. The start here never finishes (the test images
    /// are a FIFO nobody writes), and the signal is sent once the process catches SIGTERM.
    @Test("SIGTERM while starting stops at once with status 0, before serving")
    func signalWhileStarting() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("digits-fifo-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let fifo = folder.appendingPathComponent("test-X.npy").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let server = try ServeProcess(["--host", "127.0.0.1", "--port", "0", "--test-images", fifo])
        let deadline = Date().addingTimeInterval(60)
        while !catchesSIGTERM(server.process.processIdentifier) && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(catchesSIGTERM(server.process.processIdentifier))
        #expect(server.process.isRunning)
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        #expect(server.log.contains("received signal 15 while starting: stopped before serving"))
        #expect(!server.log.contains("ready on"))
    }

    /// Whether /proc says the process has a handler for SIGTERM (bit 14 of SigCgt).
    func catchesSIGTERM(_ pid: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
            let mask = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return mask & (1 << (UInt64(SIGTERM) - 1)) != 0
    }

    @Test("a port in use fails fast")
    func portInUse() throws {
        let first = try ServeProcess(["--host", "127.0.0.1", "--port", "0"])
        try first.waitUntilReady()
        let second = try ServeProcess(["--host", "127.0.0.1", "--port", "\(first.port)"])
        #expect(second.waitForExit() == 1)
        #expect(second.log.contains("cannot listen on 127.0.0.1:\(first.port): bind failed: Address already in use"))
        first.signal(SIGTERM)
        #expect(first.waitForExit() == 0)
    }

    /// With 48 descriptors, opening 80 connections makes accept fail with EMFILE: the server logs it, keeps
    /// running, and serves again once connections close.
    @Test("running out of descriptors (EMFILE) is logged and survived")
    func outOfDescriptors() throws {
        let server = try ServeProcess(["--host", "127.0.0.1", "--port", "0"], prefix: ["prlimit", "--nofile=48:48"])
        try server.waitUntilReady()
        var sockets: [Int32] = []
        for _ in 0..<80 {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(server.port).bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            sockets.append(descriptor)
        }
        let deadline = Date().addingTimeInterval(30)
        while !server.log.contains("accept failed") && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(server.log.contains("Too many open files"))
        sockets.forEach { close($0) }
        #expect(server.statusOnceServing() == 200, "served again after descriptors were freed")
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
    }
}

@Suite("digits healthcheck", .serialized)
struct HealthcheckCommandTests {
    @Test("exit 0 while serving, 1 while draining, 1 when nothing listens; one line each")
    func healthcheck() throws {
        let server = try ServeProcess(["--host", "127.0.0.1", "--port", "0", "--drain-delay", "30"])
        try server.waitUntilReady()
        let url = "http://127.0.0.1:\(server.port)/model"
        let healthy = try CommandRunner.run(["healthcheck", "--url", url])
        #expect(healthy.status == 0)
        #expect(healthy.standardOutput == "healthy: \(url) answered 200 OK\n")
        let fromEnvironment = try CommandRunner.run(["healthcheck"], environment: ["DIGITS_PORT": "\(server.port)"])
        #expect(fromEnvironment.status == 0)
        #expect(fromEnvironment.standardOutput == "healthy: \(url) answered 200 OK\n")
        let base = "http://127.0.0.1:\(server.port)"
        // A path ending in / is a base URL (a prefix behind a proxy): its model is checked, a query kept.
        let withQuery = try CommandRunner.run(["healthcheck", "--url", "HTTP://127.0.0.1:\(server.port)/?probe=1"])
        #expect(withQuery.standardOutput == "healthy: \(base)/model?probe=1 answered 200 OK\n")
        let prefixed = try CommandRunner.run(["healthcheck", "--url", base + "/prefix/#fragment"])
        #expect(prefixed.status == 1)
        #expect(
            prefixed.standardOutput.hasPrefix(
                "unhealthy: \(base)/prefix/model answered 404 Not Found: no resource at /prefix/model; the endpoints are"
            ),
            "\(prefixed.standardOutput)")

        server.signal(SIGTERM)
        var draining = try CommandRunner.run(["healthcheck", "--url", url])
        for _ in 0..<50 where draining.status == 0 {
            Thread.sleep(forTimeInterval: 0.1)
            draining = try CommandRunner.run(["healthcheck", "--url", url])
        }
        #expect(draining.status == 1)
        // The server's reason is on the line: draining, not broken.
        #expect(draining.standardOutput == "unhealthy: \(url) answered 503 Service Unavailable: status draining\n")
        for given in [base, base + "/"] {
            // A base URL checks /model, so a draining server is unhealthy (the page at / stays 200).
            let fromBase = try CommandRunner.run(["healthcheck", "--url", given])
            #expect(fromBase.status == 1)
            #expect(
                fromBase.standardOutput.hasPrefix(
                    "unhealthy: \(given.hasSuffix("/") ? given + "model" : given + "/model") answered 503"))
        }
        server.signal(SIGTERM)  // a second signal: stop now rather than after the 30 s drain delay
        #expect(server.waitForExit() == 0)

        let refused = try CommandRunner.run(["healthcheck", "--url", url, "--timeout", "2"])
        #expect(refused.status == 1)
        #expect(
            refused.standardOutput.hasPrefix(
                "unhealthy: \(url): cannot connect to 127.0.0.1:\(server.port): Connection refused"))
    }

    @Test("a URL that is not http:// is a usage error with healthcheck's own usage line")
    func badURL() throws {
        for given in [
            "localhost:8080", "http://host:99999", "http://:8080", "http://user@host/", "http://host/a b",
            "ftp://host/",
        ] {
            let result = try CommandRunner.run(["healthcheck", "--url", given])
            #expect(result.status == 64, "\(given)")
            #expect(
                result.standardError.contains(
                    "--url must be an http:// URL such as http://127.0.0.1:8080; got '\(given)'"))
            #expect(result.standardError.contains("Usage: digits healthcheck"), "\(result.standardError)")
        }
        let tls = try CommandRunner.run(["healthcheck", "--url", "https://example.com/model"])
        #expect(tls.status == 64)
        #expect(tls.standardError.contains("the check speaks plain HTTP, as the server does, not TLS"))
        let badPort = try CommandRunner.run(["healthcheck"], environment: ["DIGITS_PORT": "eighty"])
        #expect(badPort.status == 64)
        #expect(
            badPort.standardError.contains("DIGITS_PORT='eighty' is not a port: give a whole number from 1 to 65535"))
    }
}
