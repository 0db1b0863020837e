import DigitCore
import HTTPCore
import JSON
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
    /// What a valid image is for this model.
    let input: ImageInput
    let reader: JSONImageReader
    let fastReader: FastImageReader
    private let draining = Atomic<Bool>(false)
    /// Response bodies that never change, encoded once.
    let evaluationBody: [UInt8]
    /// Prometheus metrics, served at `GET /metrics`.
    let metrics: ServiceMetrics
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
        input = ImageInput(rows: model.inputShape[0], columns: model.inputShape[1])
        reader = JSONImageReader(input: input)
        fastReader = FastImageReader(input: input)
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
        evaluationBody = JSONWriter.bytes(evaluation.json)
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
        // Browsers may send and read the inference protocol's binary-tensor header.
        http.cors?.allowedHeaders.append("inference-header-content-length")
        http.cors?.exposedHeaders.append("Inference-Header-Content-Length")
        let previousHook = http.onShutdown
        http.onShutdown = { [self] in
            beginDraining()
            previousHook?()
        }
        http.observer = metrics
        return HTTPServer(configuration: http, logger: logger, responder: makeRouter())
    }

    /// `GET /model`'s document: the model's (``Model/document(sha256:)``), and whether it is served.
    private static func modelDocument(_ model: Model, sha256: String, status: String) -> [UInt8] {
        JSONWriter.bytes(.object(model.document(sha256: sha256) + [JSONMember("status", .string(status))]))
    }
}
