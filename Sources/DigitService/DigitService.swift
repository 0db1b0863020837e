import DigitCore
import Dispatch
import Glibc
import HTTPCore
import Logging
import Synchronization

/// The digit service: the models of a repository (or one file), each version loaded, checked and
/// evaluated on the test split before it serves, and the routes that serve them.
public final class DigitService: Sendable {
    public let configuration: ServiceConfiguration
    let registry: ModelRegistry
    /// Prometheus metrics, served at `GET /metrics`.
    let metrics: ServiceMetrics
    /// Pictures sent to `/predict` and `/predict/batch`, decoded within the configured limits.
    let pictures: PictureInput
    /// What the requests in progress may hold in memory at once (unlimited with `--memory-budget off`).
    public let memoryBudget: MemoryBudget
    /// The budget and where it comes from, for the start-up log.
    public let memoryBudgetSummary: String
    private let draining = Atomic<Bool>(false)
    private let logger: Logger
    /// `poll` mode's timer and the SIGHUP source, while watching.
    private let watchers = Mutex<WatchSources>(WatchSources())
    /// Where polls and SIGHUP rescans run: one at a time, off the event loops.
    private let repositoryQueue = DispatchQueue(label: "digits.repository")

    /// Loads the test split and the models. Fails with a message that names the file and the problem: an
    /// unreadable repository, missing or invalid data, and, in `none` mode (where nothing can be fixed
    /// without a restart), any version that does not load.
    public init(
        configuration: ServiceConfiguration, logger: Logger = Logger(label: "digits")
    ) throws(ServiceStartupError) {
        self.configuration = configuration
        self.logger = logger
        pictures = PictureInput(limits: configuration.imageLimits)
        let containerLimit = ContainerMemoryLimit.current()
        memoryBudget =
            configuration.memoryBudget.bytes(containerLimit: containerLimit).map { MemoryBudget(capacity: $0) }
            ?? .unlimited
        memoryBudgetSummary = Self.summary(of: memoryBudget, setting: configuration.memoryBudget, limit: containerLimit)
        guard configuration.maxBatchImages >= 1 else {
            throw ServiceStartupError("the maximum batch must be at least 1 image")
        }
        guard ModelRepository.isModelName(configuration.defaultModelName) else {
            throw ServiceStartupError(
                "--default-model '\(configuration.defaultModelName)' cannot name a model: a name is \(ModelRepository.nameRule)"
            )
        }
        let testSplit: LabelledImages
        do {
            testSplit = try LabelledImages.load(
                images: configuration.testImagesPath, labels: configuration.testLabelsPath, classCount: 10)
        } catch {
            throw ServiceStartupError(
                "cannot load the test split for /evaluate: \(error)"
                    + FileIO.missingRelativePathHint(configuration.testImagesPath, flag: "--test-images")
                    + FileIO.missingRelativePathHint(configuration.testLabelsPath, flag: "--test-labels"))
        }
        metrics = ServiceMetrics()
        registry = ModelRegistry(
            source: configuration.source, mode: configuration.modelControl,
            defaultModel: configuration.defaultModelName,
            testSplit: testSplit, metrics: metrics, logger: logger)
        do {
            try registry.loadAtStartup(
                only: configuration.modelControl == .explicit ? configuration.loadModels.map(Set.init) : nil)
        } catch {
            throw ServiceStartupError("\(error)" + Self.relativePathHint(of: configuration.source))
        }
        if configuration.modelControl == .none {
            let failures = registry.problems
            if !failures.isEmpty {
                throw ServiceStartupError(
                    "cannot load the model: " + failures.joined(separator: "; ")
                        + Self.relativePathHint(of: configuration.source))
            }
            if registry.snapshot.models.isEmpty {
                throw ServiceStartupError("\(configuration.source.description) holds no model to serve")
            }
        }
        if registry.snapshot.defaultModel == nil {
            let served = registry.snapshot.models.keys.sorted().joined(separator: ", ")
            let problem =
                "the default model '\(configuration.defaultModelName)' has no ready version (serving: \(served.isEmpty ? "nothing" : served)); choose another with --default-model"
            // Nothing can change that in `none` mode; in the others a poll or a load may bring it.
            guard configuration.modelControl != .none else { throw ServiceStartupError(problem) }
            logger.warning("\(problem); GET /model and the original endpoints answer 503 until it is loaded")
        }
    }

    static func summary(of budget: MemoryBudget, setting: MemoryBudgetSize, limit: Int?) -> String {
        let mebibytes = { (bytes: Int) in "\(bytes >> 20) MiB" }
        switch setting {
        case .off: return "no memory budget (--memory-budget off)"
        case .bytes: return "memory budget \(mebibytes(budget.capacity)) (--memory-budget)"
        case .automatic:
            guard let limit else {
                return "memory budget \(mebibytes(budget.capacity)) (no container memory limit found)"
            }
            return
                "memory budget \(mebibytes(budget.capacity)) (half the \(mebibytes(limit)) memory limit of this process's cgroup)"
        }
    }

    /// Whether the service is draining (shutting down): `GET /model` then answers 503.
    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// Marks the service as draining; the server calls this when shutdown begins.
    public func beginDraining() {
        draining.store(true, ordering: .relaxed)
    }

    /// The versions serving now, `name version` each, for the start-up line.
    public var servingSummary: String {
        let snapshot = registry.snapshot
        return snapshot.models.keys.sorted().flatMap { name in
            snapshot.models[name]!.values.sorted { $0.version < $1.version }.map { served in
                "\(name) version \(served.version) (sha256 \(served.sha256), test accuracy \(decimalText(served.evaluation.accuracy)))"
            }
        }.joined(separator: ", ")
    }

    /// Starts watching the repository: in `poll` mode a scan every poll interval and on SIGHUP. SIGHUP is
    /// caught in every mode (its default would end the process); outside `poll` it is logged and ignored.
    public func startWatching() {
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: repositoryQueue)
        hangup.setEventHandler { [self] in
            guard configuration.modelControl == .poll else {
                logger.notice("SIGHUP ignored: model control is '\(configuration.modelControl.rawValue)', not poll")
                return
            }
            logger.notice("SIGHUP: scanning the model repository")
            registry.poll()
        }
        hangup.activate()
        var sources: [any DispatchSourceProtocol] = [hangup]
        if configuration.modelControl == .poll {
            let timer = DispatchSource.makeTimerSource(queue: repositoryQueue)
            let interval = Int(configuration.repositoryPollInterval / .nanoseconds(1))
            timer.schedule(deadline: .now() + .nanoseconds(interval), repeating: .nanoseconds(interval))
            timer.setEventHandler { [registry] in registry.poll() }
            timer.activate()
            sources.append(timer)
        }
        let previous = watchers.withLock { watchers in
            defer { watchers.sources = sources }
            return watchers.sources
        }
        for source in previous { source.cancel() }
    }

    /// Stops the polls (a poll under way finishes).
    public func stopWatching() {
        let sources = watchers.withLock { watchers in
            defer { watchers.sources = [] }
            return watchers.sources
        }
        for source in sources { source.cancel() }
    }

    /// One poll now, on the repository queue, returning when it has ended (for tests; SIGHUP's handler,
    /// already on that queue, polls directly).
    public func pollRepository() {
        repositoryQueue.sync { registry.poll() }
    }

    /// Where a missing relative model path was looked for, and the flag that sets it.
    static func relativePathHint(of source: ModelSource) -> String {
        switch source {
        case .file(let path): FileIO.missingRelativePathHint(path, flag: "--model")
        case .repository(let path): FileIO.missingRelativePathHint(path, flag: "--model-repository")
        }
    }

    /// The server that serves this service; `start()` it, then run it until terminated.
    public func makeServer(logger: Logger) -> HTTPServer {
        var http = configuration.http
        // Browsers may send and read the inference protocol's binary-tensor header, and read which version
        // answered.
        http.cors?.allowedHeaders.append("inference-header-content-length")
        http.cors?.exposedHeaders += ["Inference-Header-Content-Length", "Model-Name", "Model-Version"]
        http.loggedResponseHeaders += ["Model-Name", "Model-Version"]
        let previousHook = http.onShutdown
        http.onShutdown = { [self] in
            beginDraining()
            stopWatching()
            previousHook?()
        }
        http.observer = metrics
        http.memoryBudget = memoryBudget
        let server = HTTPServer(configuration: http, logger: logger, responder: makeRouter())
        metrics.readQueueLength { [weak server] in server?.queueLength ?? 0 }
        return server
    }
}

/// The Dispatch sources that watch the repository. Dispatch's source types are not marked `Sendable` but are
/// thread-safe (`cancel` may be called from any thread); they are only handed over under the mutex.
private struct WatchSources: @unchecked Sendable {
    var sources: [any DispatchSourceProtocol] = []
}

extension ModelSource {
    /// The source as a user named it.
    public var description: String {
        switch self {
        case .repository(let path): return "the model repository \(path)"
        case .file(let path): return "the model file \(path)"
        }
    }
}

extension DigitService {
    /// The version that serves `name` (the default model when `nil`), or `version` of it; `nil` when none
    /// is ready.
    public func served(_ name: String? = nil, version: Int? = nil) -> ServedModel? {
        registry.snapshot.model(name ?? configuration.defaultModelName, version: version)
    }
}
