import ArgumentParser
import DigitCore
import DigitService
import Glibc
import HTTPCore
import JSON
import Logging

/// `digits serve`: the HTTP service. Every setting comes from its flag, else its environment variable,
/// else the documented default.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Serve the models of a repository over HTTP: POST /predict, POST /predict/batch, GET /evaluate and GET /model (the health check) for the default model; /models/{name}/... and the Open Inference Protocol under /v2 for every one; GET /metrics for Prometheus; a page to try it at /.",
        discussion: """
            Each option can also be set by the environment variable named in its help; a flag wins over the \
            environment, which wins over the default. SIGTERM or SIGINT drains: GET /model answers 503, the \
            server keeps serving for the drain delay, stops accepting, finishes in-flight requests within the \
            grace period and exits 0. A second signal stops at once.
            """
    )

    @Option(help: "Address to listen on, IPv4 or IPv6. [env: DIGITS_HOST] (default: \(Defaults.http.host))")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free one. [env: DIGITS_PORT] (default: \(Defaults.http.port))")
    var port: Int?

    @Option(
        help:
            "The model repository: DIR/<name>/<version>/model.json, an optional DIR/<name>/config.json. [env: DIGITS_MODEL_REPOSITORY] (default: \(ServiceConfiguration.bundledRepositoryPath))"
    )
    var modelRepository: String?

    @Option(
        help:
            "One model file instead of a repository, served as version 1 of a model named after the file. [env: DIGITS_MODEL]"
    )
    var model: String?

    @Option(
        help:
            "The model that POST /predict, POST /predict/batch, GET /evaluate and GET /model answer with. [env: DIGITS_DEFAULT_MODEL] (default: binary; with --model, the file's model)"
    )
    var defaultModel: String?

    @Option(
        help:
            "none (the models found at start-up, until exit), poll (rescan every --repository-poll-secs and on SIGHUP) or explicit (the repository API loads and unloads). [env: DIGITS_MODEL_CONTROL] (default: \(Defaults.service.modelControl.rawValue))"
    )
    var modelControl: ModelControlMode?

    @Option(
        help:
            "Seconds between scans of the repository in poll mode. [env: DIGITS_REPOSITORY_POLL_SECS] (default: \(Defaults.service.repositoryPollInterval.components.seconds))"
    )
    var repositoryPollSecs: Double?

    @Option(
        parsing: .singleValue,
        help: "In explicit mode, a model to load at start-up; repeat it for more. (default: every model)")
    var loadModel: [String] = []

    @Option(
        help: "Test images for GET /evaluate. [env: DIGITS_TEST_IMAGES] (default: \(Defaults.service.testImagesPath))")
    var testImages: String?

    @Option(help: "Their labels. [env: DIGITS_TEST_LABELS] (default: \(Defaults.service.testLabelsPath))")
    var testLabels: String?

    @Option(
        help:
            "Images per batch request at most (413 above). [env: DIGITS_MAX_BATCH] (default: \(Defaults.service.maxBatchImages))"
    )
    var maxBatch: Int?

    @Option(
        help:
            "Request body bytes at most (413 above). [env: DIGITS_MAX_BODY_BYTES] (default: \(Defaults.http.limits.maxBodyBytes))"
    )
    var maxBodyBytes: Int?

    @Option(
        help:
            "A picture's width and height in pixels at most (413 above, read from its header before decoding; its decoded bytes, and a batch's together, are limited to --max-body-bytes). [env: DIGITS_MAX_IMAGE_SIDE] (default: \(Defaults.service.maxImageSide))"
    )
    var maxImageSide: Int?

    @Option(
        help:
            "Request line and header bytes at most (431 above). [env: DIGITS_MAX_HEADER_BYTES] (default: \(Defaults.http.limits.maxHeaderBytes))"
    )
    var maxHeaderBytes: Int?

    @Option(
        help:
            "Open connections at most (503 above). [env: DIGITS_MAX_CONNECTIONS] (default: \(Defaults.http.maxConnections))"
    )
    var maxConnections: Int?

    @Option(
        help:
            "Browser origins allowed to call the server (CORS), comma-separated, or * for any. [env: DIGITS_CORS_ORIGINS] (default: none, CORS off)"
    )
    var corsOrigins: String?

    @Option(help: "Event loops (threads that own connections). [env: DIGITS_EVENT_LOOPS] (default: one per online CPU)")
    var eventLoops: Int?

    @Option(
        help:
            "Seconds to receive a request's head (408 after). [env: DIGITS_HEADER_TIMEOUT] (default: \(Defaults.seconds(\.headerTimeout)))"
    )
    var headerTimeout: Double?

    @Option(
        help:
            "Seconds between pieces of a request body (408 after). [env: DIGITS_BODY_TIMEOUT] (default: \(Defaults.seconds(\.bodyTimeout)))"
    )
    var bodyTimeout: Double?

    @Option(
        help:
            "Seconds an idle keep-alive connection is kept. [env: DIGITS_IDLE_TIMEOUT] (default: \(Defaults.seconds(\.idleTimeout)))"
    )
    var idleTimeout: Double?

    @Option(
        help:
            "Seconds a client may take none of a response. [env: DIGITS_WRITE_TIMEOUT] (default: \(Defaults.seconds(\.writeTimeout)))"
    )
    var writeTimeout: Double?

    @Option(
        help:
            "Seconds to keep serving after SIGTERM while GET /model answers 503. [env: DIGITS_DRAIN_DELAY] (default: \(Defaults.seconds(\.drainDelay)))"
    )
    var drainDelay: Double?

    @Option(
        help:
            "Seconds in-flight requests get to finish after the drain delay. [env: DIGITS_GRACE_PERIOD] (default: \(Defaults.seconds(\.gracePeriod)))"
    )
    var gracePeriod: Double?

    @Option(
        help:
            "Memory the requests in progress may hold at once (bodies, decoded images, answers): 512MiB, 2GiB, a number of bytes, auto or off; past it requests get 503 with Retry-After. [env: DIGITS_MEMORY_BUDGET] (default: auto, half the container's memory limit, or 1GiB without one)"
    )
    var memoryBudget: String?

    @Option(
        help:
            "Threads that answer batches, pictures and compressed bodies. [env: DIGITS_WORKERS] (default: one per online CPU)"
    )
    var workers: Int?

    @Option(
        help:
            "Such requests that may wait for a worker; one more gets 503 with Retry-After. [env: DIGITS_MAX_QUEUE] (default: \(Defaults.http.maxQueuedRequests))"
    )
    var maxQueue: Int?

    @Option(
        help:
            "Seconds such a request may wait for a worker before it gets 503 with Retry-After instead. [env: DIGITS_QUEUE_TIMEOUT] (default: \(Defaults.seconds(\.queueTimeout)))"
    )
    var queueTimeout: Double?

    @Option(
        help:
            "trace, debug, info (one access-log line per request), notice, warning, error or critical. [env: DIGITS_LOG_LEVEL] (default: info)"
    )
    var logLevel: Logger.Level?

    /// Every setting is checked here as well as in `run()`, so that a bad one is reported with this
    /// subcommand's usage line (`digits serve ...`), not the top command's.
    func validate() throws {
        _ = try resolvedConfiguration()
        _ = try resolvedLogLevel()
    }

    /// `--log-level` or `DIGITS_LOG_LEVEL`, checked in `validate()` so a bad one gets serve's usage line.
    func resolvedLogLevel() throws -> Logger.Level {
        try Setting.resolve(
            logLevel, "DIGITS_LOG_LEVEL", default: .info, parse: { Logger.Level(rawValue: $0) },
            expected: "one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
    }

    func run() throws {
        let configuration = try resolvedConfiguration()
        let level = try resolvedLogLevel()
        // Batched and in UTC: no system call per access-log line (see BufferedLogOutput).
        let output = BufferedLogOutput()
        defer { output.flush() }
        LoggingSystem.bootstrap { label in
            var handler = BufferedLogHandler(label: label, output: output)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "digits")
        // Caught before the models load, which takes seconds: as a container's PID 1 an uncaught SIGTERM
        // would be ignored. Nothing is served yet, so stopping at once loses nothing.
        let signals = TerminationSignals { number in
            logger.notice("received signal \(number) while starting: stopped before serving")
            output.flush()
            _exit(0)
        }

        let service: DigitService
        do {
            service = try DigitService(configuration: configuration, logger: logger)
        } catch {
            throw CommandFailure("\(error)")
        }
        service.startWatching()
        let server = service.makeServer(logger: logger)
        server.handleSignals(signals)
        do {
            try server.start()
        } catch {
            throw CommandFailure("cannot listen on \(configuration.http.host):\(configuration.http.port): \(error)")
        }
        logger.notice("\(service.memoryBudgetSummary)")
        logger.notice(
            "ready on http://\(configuration.http.host):\(server.port) serving \(service.servingSummary); default model \(configuration.defaultModelName), model control \(configuration.modelControl.rawValue)"
        )
        server.runUntilTerminated(signals: signals)
    }

    /// Flag, then environment variable, then default, for every setting; a bad value names its source.
    func resolvedConfiguration() throws -> ServiceConfiguration {
        var configuration = ServiceConfiguration()
        var http = configuration.http
        http.host = try Setting.resolve(host, "DIGITS_HOST", default: http.host, parse: { $0.isEmpty ? nil : $0 })
        http.port = try Setting.resolve(
            port, "DIGITS_PORT", default: http.port, within: 0...65535)
        let file = try Setting.resolve(model, "DIGITS_MODEL", default: "", parse: { $0 })
        let repository = try Setting.resolve(modelRepository, "DIGITS_MODEL_REPOSITORY", default: "", parse: { $0 })
        if !file.isEmpty && !repository.isEmpty {
            throw ValidationError(
                "--model serves one file and --model-repository a folder of models; give one of them, not both")
        }
        if !file.isEmpty {
            configuration.source = .file(file)
        } else if !repository.isEmpty {
            configuration.source = .repository(repository)
        }
        configuration.defaultModel = try Setting.resolve(
            defaultModel, "DIGITS_DEFAULT_MODEL", default: configuration.defaultModel, parse: { $0 })
        configuration.modelControl = try Setting.resolve(
            modelControl, "DIGITS_MODEL_CONTROL", default: configuration.modelControl,
            parse: { ModelControlMode(rawValue: $0) })
        let pollSeconds = try Setting.resolve(
            repositoryPollSecs, "DIGITS_REPOSITORY_POLL_SECS",
            default: Double(configuration.repositoryPollInterval.components.seconds), parse: { Double($0) },
            valid: { $0.isFinite && $0 >= 0.05 && $0 <= 86_400 }, expected: "a number of seconds from 0.05 to 86400")
        configuration.repositoryPollInterval = .milliseconds(Int((pollSeconds * 1000).rounded()))
        if !loadModel.isEmpty {
            guard configuration.modelControl == .explicit else {
                throw ValidationError(
                    "--load-model chooses what explicit mode loads at start-up; add --model-control explicit")
            }
            configuration.loadModels = loadModel
        }
        configuration.testImagesPath = try Setting.resolve(
            testImages, "DIGITS_TEST_IMAGES", default: configuration.testImagesPath, parse: { $0 })
        configuration.testLabelsPath = try Setting.resolve(
            testLabels, "DIGITS_TEST_LABELS", default: configuration.testLabelsPath, parse: { $0 })
        configuration.maxBatchImages = try Setting.resolve(
            maxBatch, "DIGITS_MAX_BATCH", default: configuration.maxBatchImages, within: 1...Int.max)
        http.limits.maxBodyBytes = try Setting.resolve(
            maxBodyBytes, "DIGITS_MAX_BODY_BYTES", default: http.limits.maxBodyBytes, within: 1...Int.max)
        configuration.maxImageSide = try Setting.resolve(
            maxImageSide, "DIGITS_MAX_IMAGE_SIDE", default: configuration.maxImageSide, within: 1...65535)
        http.limits.maxHeaderBytes = try Setting.resolve(
            maxHeaderBytes, "DIGITS_MAX_HEADER_BYTES", default: http.limits.maxHeaderBytes, within: 256...Int.max)
        http.maxConnections = try Setting.resolve(
            maxConnections, "DIGITS_MAX_CONNECTIONS", default: http.maxConnections, within: 1...Int.max)
        let origins = try Setting.resolve(corsOrigins, "DIGITS_CORS_ORIGINS", default: "", parse: { $0 })
            .split(separator: ",").map { $0.trimmingCharacters(equalTo: " ") }.filter { !$0.isEmpty }
        if let bad = origins.first(where: { $0 != "*" && !($0.hasPrefix("http://") || $0.hasPrefix("https://")) }) {
            throw ValidationError(
                "a CORS origin is * or a scheme and host such as https://app.example.com; got '\(bad)'")
        }
        http.cors = origins.isEmpty ? nil : CORSPolicy(allowedOrigins: origins)
        http.eventLoops = try Setting.resolve(
            eventLoops, "DIGITS_EVENT_LOOPS", default: http.eventLoops, within: 1...256)
        http.headerTimeout = try Setting.seconds(headerTimeout, "DIGITS_HEADER_TIMEOUT", default: http.headerTimeout)
        http.bodyTimeout = try Setting.seconds(bodyTimeout, "DIGITS_BODY_TIMEOUT", default: http.bodyTimeout)
        http.idleTimeout = try Setting.seconds(idleTimeout, "DIGITS_IDLE_TIMEOUT", default: http.idleTimeout)
        http.writeTimeout = try Setting.seconds(writeTimeout, "DIGITS_WRITE_TIMEOUT", default: http.writeTimeout)
        let budget = try Setting.resolve(
            memoryBudget, "DIGITS_MEMORY_BUDGET", default: "auto", parse: { $0 },
            valid: { MemoryBudgetSize($0) != nil },
            expected: "a size such as 512MiB or 2GiB, a number of bytes, auto (half the container's limit) or off")
        configuration.memoryBudget = MemoryBudgetSize(budget) ?? .automatic
        http.workerThreads = try Setting.resolve(
            workers, "DIGITS_WORKERS", default: http.workerThreads, within: 1...256)
        http.maxQueuedRequests = try Setting.resolve(
            maxQueue, "DIGITS_MAX_QUEUE", default: http.maxQueuedRequests, within: 1...100_000)
        http.queueTimeout = try Setting.seconds(queueTimeout, "DIGITS_QUEUE_TIMEOUT", default: http.queueTimeout)
        http.drainDelay = try Setting.seconds(
            drainDelay, "DIGITS_DRAIN_DELAY", default: http.drainDelay, allowZero: true)
        http.gracePeriod = try Setting.seconds(
            gracePeriod, "DIGITS_GRACE_PERIOD", default: http.gracePeriod, allowZero: true)
        configuration.http = http
        return configuration
    }
}

/// The defaults, as the configuration types set them: the one place they are written down.
enum Defaults {
    static let service = ServiceConfiguration()
    static var http: HTTPServerConfiguration { service.http }

    /// A duration setting's default, in the seconds its flag takes.
    static func seconds(_ setting: KeyPath<HTTPServerConfiguration, Duration>) -> String {
        let (seconds, attoseconds) = http[keyPath: setting].components
        return JSONWriter.number(Double(seconds) + Double(attoseconds) / 1e18)
    }
}

/// Resolution of one setting: flag > environment variable > default.
enum Setting {
    static func resolve<Value>(
        _ flag: Value?, _ variable: String, default defaultValue: Value, parse: (String) -> Value?,
        valid: (Value) -> Bool = { _ in true }, expected: String = "a valid value"
    ) throws -> Value {
        if let flag {
            guard valid(flag) else {
                throw ValidationError(
                    "the value \(flag) given for \(variable.optionName) is out of range: give \(expected)")
            }
            return flag
        }
        guard let text = getenv(variable).map({ String(cString: $0) }) else { return defaultValue }
        guard let value = parse(text), valid(value) else {
            throw ValidationError(
                "the environment variable \(variable)='\(text)' is not a valid value for \(variable.optionName): give \(expected)"
            )
        }
        return value
    }

    /// A whole-number setting within `range`, which a refusal states.
    static func resolve(
        _ flag: Int?, _ variable: String, default defaultValue: Int, within range: ClosedRange<Int>
    ) throws -> Int {
        let expected =
            range.upperBound == .max
            ? "a whole number of at least \(range.lowerBound)"
            : "a whole number from \(range.lowerBound) to \(range.upperBound)"
        return try resolve(
            flag, variable, default: defaultValue, parse: { Int($0) }, valid: range.contains, expected: expected)
    }

    static func seconds(
        _ flag: Double?, _ variable: String, default defaultValue: Duration, allowZero: Bool = false
    ) throws -> Duration {
        let defaultSeconds = Double(defaultValue.components.seconds)
        let seconds = try resolve(
            flag, variable, default: defaultSeconds, parse: { Double($0) },
            valid: { $0.isFinite && (allowZero ? $0 >= 0 : $0 > 0) && $0 <= 86_400 },
            expected: "a number of seconds \(allowZero ? "from 0" : "above 0") up to 86400")
        return .milliseconds(Int((seconds * 1000).rounded()))
    }
}

extension String {
    /// `DIGITS_MAX_BODY_BYTES` → `--max-body-bytes`.
    var optionName: String {
        "--" + String(dropFirst("DIGITS_".count).lowercased().map { $0 == "_" ? "-" : $0 })
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

extension ModelControlMode: ExpressibleByArgument {}
