import DigitCore
import HTTPCore
import JSON

extension DigitService {
    static let json = "application/json"

    /// The service's routes. A single prediction takes microseconds and runs on the event loop's thread;
    /// a batch (up to the batch limit, a few hundred milliseconds at 10,000 images) runs on Dispatch's workers.
    func makeRouter() -> Router {
        var router = Router()
        router.post("/predict", execution: .inline) { [self] request in try predict(request) }
        router.post("/predict/batch", execution: .offloaded) { [self] request in try predictBatch(request) }
        router.get("/evaluate", execution: .inline) { [self] _ in
            HTTPResponse(contentType: Self.json, body: evaluationBody)
        }
        router.get("/model", execution: .inline) { [self] _ in
            isDraining
                ? HTTPResponse(status: .serviceUnavailable, contentType: Self.json, body: modelBodyDraining)
                : HTTPResponse(contentType: Self.json, body: modelBodyServing)
        }
        router.get("/metrics", execution: .inline) { [self] _ in
            HTTPResponse(contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics.exposition())
        }
        registerInferenceProtocol(in: &router)
        router.get("/", execution: .inline) { _ in
            HTTPResponse(contentType: "text/html; charset=utf-8", body: PackageResources.index_html)
        }
        router.get("/openapi.yaml", execution: .inline) { _ in
            HTTPResponse(contentType: "application/yaml", body: PackageResources.openapi_yaml)
        }
        return router
    }

    /// `POST /predict`: one image.
    func predict(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        try JSONImageReader.checkContentType(request.headers["Content-Type"])
        let output = model.network.predict(try singleImage(body: request.body))
        metrics.imagesPredicted.increment()
        var body: [UInt8] = []
        body.reserveCapacity(64)
        output.withUnsafeBufferPointer { JSONWriter.write(prediction($0), into: &body) }
        return HTTPResponse(contentType: Self.json, body: body)
    }

    /// `POST /predict/batch`: many images, answered in order.
    func predictBatch(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        try JSONImageReader.checkContentType(request.headers["Content-Type"])
        let (pixels, count) = try batch(body: request.body)
        let outputs = model.network.predictBatch(pixels, count: count)
        metrics.imagesPredicted.increment(by: Int64(count))
        let width = model.network.outputSize
        let predictions: [JSONValue] = outputs.withUnsafeBufferPointer { buffer in
            (0..<count).map { index in
                prediction(UnsafeBufferPointer(rebasing: buffer[index * width..<(index + 1) * width]))
            }
        }
        var body: [UInt8] = []
        body.reserveCapacity(count * (width == 1 ? 48 : 220))
        JSONWriter.write(.object([JSONMember("predictions", .array(predictions))]), into: &body)
        return HTTPResponse(contentType: Self.json, body: body)
    }

    /// The pixels of a `/predict` body: the fast reader's, or, when it declines (always for a mistake), the
    /// full reader's, which explains the mistake.
    func singleImage(body: [UInt8]) throws(HTTPError) -> [Float] {
        if let pixels = fastReader.singleImage(body) { return pixels }
        return try reader.singleImage(from: try reader.json(body: body, maxImages: 1))
    }

    /// The images of a `/predict/batch` body, the same way.
    func batch(body: [UInt8]) throws(HTTPError) -> (pixels: [Float], count: Int) {
        if let images = fastReader.batch(body, limit: configuration.maxBatchImages) { return images }
        return try reader.batch(
            from: try reader.json(body: body, maxImages: configuration.maxBatchImages),
            limit: configuration.maxBatchImages)
    }

    /// One prediction. Binary: `predicted_class` and `probability`, P(class 1) as the original reported
    /// it. More classes: `predicted_class`, its `probability` and all `probabilities`.
    func prediction(_ output: UnsafeBufferPointer<Float>) -> JSONValue {
        let (index, probability) = Classification.decide(output)
        let predictedClass = JSONMember("predicted_class", .integer(model.classes[index]))
        if model.isBinary {
            return .object([predictedClass, JSONMember("probability", .float(output[0]))])
        }
        return .object([
            predictedClass, JSONMember("probability", .float(probability)),
            JSONMember("probabilities", .array(output.map { .float($0) })),
        ])
    }
}
