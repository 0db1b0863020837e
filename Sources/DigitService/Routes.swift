import JSON
import DigitCore
import HTTPCore

extension DigitService {
    static let json = "application/json"

    /// The service's routes. A single prediction takes microseconds and runs on the event loop's thread;
    /// a batch (up to 10,000 images, a few hundred milliseconds) runs on Dispatch's workers.
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
            HTTPResponse(contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics?.exposition() ?? [])
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
    func predict(_ request: HTTPRequest) throws(ServiceError) -> HTTPResponse {
        try ImageDecoder.checkContentType(request.headers["Content-Type"])
        let output = model.network.predict(try singleImage(body: request.body))
        metrics?.imagesPredicted.increment()
        var text = ""
        output.withUnsafeBufferPointer { appendPrediction($0, to: &text) }
        return HTTPResponse(contentType: Self.json, body: Array(text.utf8))
    }

    /// `POST /predict/batch`: many images, answered in order.
    func predictBatch(_ request: HTTPRequest) throws(ServiceError) -> HTTPResponse {
        try ImageDecoder.checkContentType(request.headers["Content-Type"])
        let (pixels, count) = try batch(body: request.body)
        let outputs = model.network.predictBatch(pixels, count: count)
        metrics?.imagesPredicted.increment(by: Int64(count))
        let width = model.network.outputSize
        var text = "{\"predictions\":["
        text.reserveCapacity(count * (width == 1 ? 48 : 220))
        outputs.withUnsafeBufferPointer { buffer in
            for index in 0..<count {
                if index > 0 { text += "," }
                appendPrediction(UnsafeBufferPointer(rebasing: buffer[index * width..<(index + 1) * width]), to: &text)
            }
        }
        text += "]}"
        return HTTPResponse(contentType: Self.json, body: Array(text.utf8))
    }

    /// The pixels of a `/predict` body: the fast reader's, or, when it declines (always for a mistake), the
    /// full path's, which explains the mistake.
    func singleImage(body: [UInt8]) throws(ServiceError) -> [Float] {
        if let pixels = fastReader.singleImage(body) { return pixels }
        return try decoder.singleImage(from: try decoder.json(body: body, maxImages: 1))
    }

    /// The images of a `/predict/batch` body, the same way.
    func batch(body: [UInt8]) throws(ServiceError) -> (pixels: [Float], count: Int) {
        if let images = fastReader.batch(body, limit: configuration.maxBatchImages) { return images }
        return try decoder.batch(
            from: try decoder.json(body: body, maxImages: configuration.maxBatchImages),
            limit: configuration.maxBatchImages)
    }

    /// One prediction object. Binary: `predicted_class` and `probability`, P(class 1) as the original
    /// reported it. More classes: `predicted_class`, its `probability` and all `probabilities`.
    func appendPrediction(_ output: UnsafeBufferPointer<Float>, to text: inout String) {
        let (index, probability) = Classification.decide(output)
        text += "{\"predicted_class\":\(model.classes[index]),\"probability\":"
        if model.isBinary {
            text += JSONWriter.number(output[0])
        } else {
            text += JSONWriter.number(probability)
            text += ",\"probabilities\":["
            for (position, value) in output.enumerated() {
                if position > 0 { text += "," }
                text += JSONWriter.number(value)
            }
            text += "]"
        }
        text += "}"
    }
}
