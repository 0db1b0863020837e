import HTTPCore

/// What `digits serve` is told: the model, the test split for `/evaluate`, the service's own limits and
/// the HTTP server's settings.
/// Its defaults are the service's defaults: `digits serve`'s help text reads them from here.
public struct ServiceConfiguration: Sendable {
    /// The bundled binary model, relative to the project's top folder.
    public static let bundledModelPath = "data/models/binary.json"
    /// The bundled test split.
    public static let bundledTestImagesPath = "data/digits-test-X.npy"
    public static let bundledTestLabelsPath = "data/digits-test-y.npy"

    /// The model file. Default: the bundled binary model.
    public var modelPath = bundledModelPath
    /// The test split that `GET /evaluate` reports on (never the training data). Default: the bundled one.
    public var testImagesPath = bundledTestImagesPath
    public var testLabelsPath = bundledTestLabelsPath
    /// Images per `/predict/batch` or inference request at most (413 above it). Default 10,000.
    public var maxBatchImages = 10_000
    /// The HTTP server: address, port, limits, timeouts, drain.
    public var http: HTTPServerConfiguration

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
