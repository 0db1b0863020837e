import DigitCore
import HTTPCore

/// What `digits serve` is told: where the models come from and how they may change, the test split for
/// `/evaluate`, the service's own limits and the HTTP server's settings.
/// Its defaults are the service's defaults: `digits serve`'s help text reads them from here.
public struct ServiceConfiguration: Sendable {
    /// The bundled model repository (`binary/1/`, `ten-class/1/`), relative to the project's top folder.
    public static let bundledRepositoryPath = "data/models"
    /// The bundled binary model, the original, in that repository.
    public static let bundledModelPath = "data/models/binary/1/model.json"
    /// The bundled test split.
    public static let bundledTestImagesPath = "data/digits-test-X.npy"
    public static let bundledTestLabelsPath = "data/digits-test-y.npy"

    /// The models. Default: the bundled repository.
    public var source = ModelSource.repository(bundledRepositoryPath)
    /// The model the original endpoints (`/predict`, `/predict/batch`, `/evaluate`, `/model`) answer with.
    /// Default (`nil`): `binary`, the original, from a repository; the file's model from one file.
    public var defaultModel: String?
    /// How the models may change while serving. Default `none`: those found at start-up, until exit.
    public var modelControl = ModelControlMode.none
    /// How often `poll` mode scans the repository. Default 5 s.
    public var repositoryPollInterval: Duration = .seconds(5)
    /// In `explicit` mode, the models loaded at start-up; `nil` (the default) loads every one.
    public var loadModels: [String]?
    /// The test split that `GET /evaluate` reports on (never the training data). Default: the bundled one.
    public var testImagesPath = bundledTestImagesPath
    public var testLabelsPath = bundledTestLabelsPath
    /// Images per `/predict/batch` or inference request at most (413 above it). Default 10,000.
    public var maxBatchImages = 10_000
    /// A picture's width and height at most (413 above it, read from its header before decoding).
    /// Default 4096.
    public var maxImageSide = 4096
    /// What the requests in progress may hold in memory at once (bodies, decoded images, answers); past
    /// it, requests are answered 503 with `Retry-After`. Default: half the container's memory limit, or
    /// ``MemoryBudgetSize/defaultWithoutLimit`` without one.
    public var memoryBudget = MemoryBudgetSize.automatic
    /// The HTTP server: address, port, limits, timeouts, drain.
    public var http: HTTPServerConfiguration

    /// What decoding one picture may cost: ``maxImageSide``, and decoded bytes up to the body limit (for a
    /// multipart batch, its pictures together), so that a small file of a huge image is refused before its
    /// pixels are allocated.
    public var imageLimits: ImageLimits {
        ImageLimits(maxSide: maxImageSide, maxDecodedBytes: http.limits.maxBodyBytes)
    }

    /// ``defaultModel``, or its default.
    public var defaultModelName: String {
        if let defaultModel { return defaultModel }
        if case .file(let path) = source { return ModelSource.modelName(forFile: path) }
        return "binary"
    }

    public init() {
        http = HTTPServerConfiguration()
        http.serverName = "digits"
        // A 10,000-image batch written by Python's json module takes about 45 MB; 64 MiB leaves room.
        http.limits.maxBodyBytes = 64 * 1024 * 1024
    }
}

/// The memory budget as configured (`--memory-budget`).
public enum MemoryBudgetSize: Sendable, Equatable {
    /// Half the memory limit of the process's control group (a container's), or 1 GiB without one.
    case automatic
    case bytes(Int)
    /// No budget (only for measuring what it prevents).
    case off

    /// The budget without a container limit.
    public static let defaultWithoutLimit = 1 << 30
    /// The share of a container's limit: the rest holds the process itself (about 26 MB with the bundled
    /// models), the allocator's slack and the page cache of the model files.
    public static let shareOfLimit = 0.5

    /// The budget's bytes; `nil` for none. `limit` is the container's memory limit, if any.
    public func bytes(containerLimit limit: Int?) -> Int? {
        switch self {
        case .automatic: limit.map { Int(Double($0) * Self.shareOfLimit) } ?? Self.defaultWithoutLimit
        case .bytes(let bytes): bytes
        case .off: nil
        }
    }

    /// `512MiB`, `1GiB`, `300M` (mebibytes), a number of bytes, `auto` or `off`.
    public init?(_ text: String) {
        let lowered = text.lowercased()
        switch lowered {
        case "auto": self = .automatic
        case "off": self = .off
        default:
            let units: [(String, Int)] = [
                ("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30), ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30),
            ]
            let (number, factor) =
                units.first { lowered.hasSuffix($0.0) }.map { (String(lowered.dropLast($0.0.count)), $0.1) }
                ?? (lowered, 1)
            guard let value = Int(number), value > 0, value <= Int.max / factor else { return nil }
            self = .bytes(value * factor)
        }
    }
}

/// Why the service could not start. Each message names the file or setting at fault.
public struct ServiceStartupError: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
