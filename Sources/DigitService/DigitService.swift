import JSON
import DigitCore
import HTTPCore
import Logging
import Synchronization

/// The digit service: one model, loaded and checked at start-up, its evaluation on the test split
/// computed once, and the routes that serve them.
public final class DigitService: Sendable {
    public let configuration: ServiceConfiguration
    public let model: Model
    /// The model file's SHA-256, as `sha256sum` prints it.
    public let modelSHA256: String
    public let evaluation: EvaluationReport
    let decoder: ImageDecoder
    let fastReader: FastImageReader
    private let draining = Atomic<Bool>(false)
    /// Response bodies that never change, encoded once.
    let evaluationBody: [UInt8]
    /// Prometheus metrics, served at `GET /metrics`.
    let metrics: ServiceMetrics?
    let modelBodyServing: [UInt8]
    let modelBodyDraining: [UInt8]

    /// Loads the model and the test split and evaluates the model. Fails with a message that names the file
    /// and the problem: a missing or invalid model, missing or invalid data, a model that is not an image model.
    public init(configuration: ServiceConfiguration) throws(ServiceStartupError) {
        self.configuration = configuration
        guard configuration.maxBatchImages >= 1 else {
            throw ServiceStartupError("the maximum batch must be at least 1 image")
        }
        do {
            (model, modelSHA256) = try Model.load(contentsOf: configuration.modelPath)
        } catch {
            throw ServiceStartupError("cannot load the model: \(error)")
        }
        guard model.inputShape.count == 2 else {
            throw ServiceStartupError(
                "\(configuration.modelPath): the service needs a model of 2-D images; its input_shape is \(model.inputShape)"
            )
        }
        decoder = ImageDecoder(rows: model.inputShape[0], columns: model.inputShape[1])
        fastReader = FastImageReader(rows: model.inputShape[0], columns: model.inputShape[1])
        let testSet: LabelledImages
        do {
            testSet = try LabelledImages.load(
                images: configuration.testImagesPath, labels: configuration.testLabelsPath,
                classCount: max(10, (model.classes.max() ?? 0) + 1)
            ).keeping(classes: model.classes)
        } catch {
            throw ServiceStartupError("cannot load the test split for /evaluate: \(error)")
        }
        guard testSet.pixelsPerImage == model.network.inputSize else {
            throw ServiceStartupError(
                "the test images have \(testSet.pixelsPerImage) pixels but the model takes \(model.network.inputSize)")
        }
        evaluation = model.evaluate(on: testSet)
        evaluationBody = Array(JSONWriter.compact(evaluation.json).utf8)
        metrics = ServiceMetrics(modelName: model.name, sha256: modelSHA256)
        modelBodyServing = Self.modelDocument(model, sha256: modelSHA256, status: "serving")
        modelBodyDraining = Self.modelDocument(model, sha256: modelSHA256, status: "draining")
    }

    /// Whether the service is draining (shutting down): `GET /model` then answers 503.
    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// Marks the service as draining; the server calls this when shutdown begins.
    public func beginDraining() {
        draining.store(true, ordering: .relaxed)
    }

    /// The server that serves this service; `start()` it, then run it until terminated.
    public func makeServer(logger: Logger) -> HTTPServer {
        var http = configuration.http
        let previousHook = http.onShutdown
        http.onShutdown = { [self] in
            beginDraining()
            previousHook?()
        }
        // The inference protocol's clients expect its own error format, {"error": "message"}.
        http.errorRenderer = { error, head in
            guard let head, head.path == "/v2" || head.path.hasPrefix("/v2/") else {
                return HTTPError.defaultRenderer(error, head)
            }
            var response = Self.v2JSON(.object([JSONMember("error", .string(error.message))]), status: error.status)
            for (name, value) in error.headers where name != "Content-Type" {
                response.headers.add(name: name, value: value)
            }
            return response
        }
        http.observer = metrics
        return HTTPServer(configuration: http, logger: logger, responder: makeRouter())
    }

    /// `GET /model`'s document: the original `get_model_info` keys, then the model's identity and status.
    private static func modelDocument(_ model: Model, sha256: String, status: String) -> [UInt8] {
        guard case .object(var members) = model.info else { return [] }
        members += [
            JSONMember("name", .string(model.name)),
            JSONMember("sha256", .string(sha256)),
            JSONMember("classes", .array(model.classes.map { .number(Double($0)) })),
            JSONMember(
                "input_layout",
                .string("\(model.inputShape.map(String.init).joined(separator: "x")) row-major, 0 = paper, 1 = ink")),
            JSONMember("status", .string(status)),
            JSONMember("provenance", .object(model.provenance)),
        ]
        return Array(JSONWriter.compact(.object(members)).utf8)
    }
}
