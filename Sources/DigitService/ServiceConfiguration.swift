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

/// Why the service could not start. Each message names the file or setting at fault.
public struct ServiceStartupError: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
