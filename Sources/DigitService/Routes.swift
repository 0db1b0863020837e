import DigitCore
import HTTPCore
import JSON

extension DigitService {
    static let json = "application/json"

    /// The service's routes. A single prediction takes microseconds and runs on the event loop's thread;
    /// a batch (up to the batch limit, a few hundred milliseconds at 10,000 images) runs on Dispatch's workers.
    ///
    /// The original endpoints answer with the default model's highest ready version; `/models/{name}/...`
    /// with any served model's, or with the version named after `/versions/`.
    func makeRouter() -> Router {
        var router = Router()
        router.post("/predict", execution: .inline) { [self] request in try predict(request, on: try defaultModel()) }
        router.post("/predict/batch", execution: .offloaded) { [self] request in
            try predictBatch(request, on: try defaultModel())
        }
        router.get("/evaluate", execution: .inline) { [self] _ in try evaluation(of: try defaultModel()) }
        router.get("/model", execution: .inline) { [self] _ in try document(of: try defaultModel()) }
        router.get("/models", execution: .inline) { [self] _ in HTTPResponse(contentType: Self.json, body: modelList())
        }
        for prefix in ["/models/{name}", "/models/{name}/versions/{version}"] {
            router.get(prefix, execution: .inline) { [self] request in try document(of: try requestedModel(request)) }
            router.post(prefix + "/predict", execution: .inline) { [self] request in
                try predict(request, on: try requestedModel(request))
            }
            router.post(prefix + "/predict/batch", execution: .offloaded) { [self] request in
                try predictBatch(request, on: try requestedModel(request))
            }
            router.get(prefix + "/evaluate", execution: .inline) { [self] request in
                try evaluation(of: try requestedModel(request))
            }
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

    /// The default model's highest ready version; 503 when it has none (a balancer should go elsewhere).
    func defaultModel() throws(HTTPError) -> ServedModel {
        guard let served = registry.snapshot.defaultModel else {
            throw .modelUnavailable(configuration.defaultModelName)
        }
        return served
    }

    /// The model (and version) a `/models/{name}[/versions/{version}]/...` or `/v2/models/...` path names.
    func requestedModel(_ request: HTTPRequest) throws(HTTPError) -> ServedModel {
        let name = request.pathParameters["name"] ?? ""
        let snapshot = registry.snapshot
        guard let versions = snapshot.models[name] else {
            throw .unknownModel(name, served: snapshot.models.keys.sorted())
        }
        guard let text = request.pathParameters["version"] else { return try defaultVersion(of: versions, name) }
        guard let version = ModelRepository.version(text), let served = versions[version] else {
            throw .unknownVersion(text, model: name, ready: versions.keys.sorted())
        }
        return served
    }

    private func defaultVersion(of versions: [Int: ServedModel], _ name: String) throws(HTTPError) -> ServedModel {
        guard let served = versions.max(by: { $0.key < $1.key })?.value else {
            throw .unknownModel(name, served: registry.snapshot.models.keys.sorted())
        }
        return served
    }

    /// A prediction's response: its body, with the name and version that answered.
    func predictionResponse(_ body: [UInt8], from served: ServedModel) -> HTTPResponse {
        HTTPResponse(headers: served.jsonResponseHeaders, body: body)
    }

    /// `GET /model` and `GET /models/{name}`: the version's document; 503 while draining, so that a
    /// balancer's health check takes the replica out.
    func document(of served: ServedModel) throws(HTTPError) -> HTTPResponse {
        isDraining
            ? HTTPResponse(status: .serviceUnavailable, contentType: Self.json, body: served.documentDraining)
            : HTTPResponse(contentType: Self.json, body: served.documentServing)
    }

    /// `GET /evaluate`: the version's report on the test split, computed when it was loaded.
    func evaluation(of served: ServedModel) throws(HTTPError) -> HTTPResponse {
        predictionResponse(served.evaluationBody, from: served)
    }

    /// `POST /predict`: one image.
    func predict(_ request: HTTPRequest, on served: ServedModel) throws(HTTPError) -> HTTPResponse {
        try JSONImageReader.checkContentType(request.headers["Content-Type"])
        let output = served.model.network.predict(try singleImage(body: request.body, for: served))
        metrics.predicted(1, by: served)
        var body: [UInt8] = []
        body.reserveCapacity(64)
        output.withUnsafeBufferPointer { JSONWriter.write(prediction($0, by: served.model), into: &body) }
        return predictionResponse(body, from: served)
    }

    /// `POST /predict/batch`: many images, answered in order.
    func predictBatch(_ request: HTTPRequest, on served: ServedModel) throws(HTTPError) -> HTTPResponse {
        try JSONImageReader.checkContentType(request.headers["Content-Type"])
        let (pixels, count) = try batch(body: request.body, for: served)
        let model = served.model
        let outputs = model.network.predictBatch(pixels, count: count)
        metrics.predicted(count, by: served)
        let width = model.network.outputSize
        let predictions: [JSONValue] = outputs.withUnsafeBufferPointer { buffer in
            (0..<count).map { index in
                prediction(UnsafeBufferPointer(rebasing: buffer[index * width..<(index + 1) * width]), by: model)
            }
        }
        var body: [UInt8] = []
        body.reserveCapacity(count * (width == 1 ? 48 : 220))
        JSONWriter.write(.object([JSONMember("predictions", .array(predictions))]), into: &body)
        return predictionResponse(body, from: served)
    }

    /// The pixels of a `/predict` body: the fast reader's, or, when it declines (always for a mistake), the
    /// full reader's, which explains the mistake.
    func singleImage(body: [UInt8], for served: ServedModel) throws(HTTPError) -> [Float] {
        if let pixels = served.fastReader.singleImage(body) { return pixels }
        return try served.reader.singleImage(from: try served.reader.json(body: body, maxImages: 1))
    }

    /// The images of a `/predict/batch` body, the same way.
    func batch(body: [UInt8], for served: ServedModel) throws(HTTPError) -> (pixels: [Float], count: Int) {
        if let images = served.fastReader.batch(body, limit: configuration.maxBatchImages) { return images }
        return try served.reader.batch(
            from: try served.reader.json(body: body, maxImages: configuration.maxBatchImages),
            limit: configuration.maxBatchImages)
    }

    /// One prediction. Binary: `predicted_class` and `probability`, P(class 1) as the original reported
    /// it. More classes: `predicted_class`, its `probability` and all `probabilities`.
    func prediction(_ output: UnsafeBufferPointer<Float>, by model: Model) -> JSONValue {
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

extension DigitService {
    /// `GET /models`: every model the repository holds, its versions and their states, the default model
    /// and the control mode: what the page offers and what an operator reads during a roll-out.
    func modelList() -> [UInt8] {
        let snapshot = registry.snapshot
        let statuses = registry.statusesByName
        let models: [JSONValue] = statuses.keys.sorted().map { name in
            let status = statuses[name]!
            let versions: [JSONValue] = status.versions.keys.sorted().map { version in
                let entry = status.versions[version]!
                var members = [
                    JSONMember("version", .string(String(version))), JSONMember("state", .string(entry.state.rawValue)),
                ]
                if let served = snapshot.models[name]?[version] {
                    members += [
                        JSONMember("sha256", .string(served.sha256)),
                        JSONMember("classes", .array(served.model.classes.map { .integer($0) })),
                        JSONMember("accuracy", .number(served.evaluation.accuracy)),
                    ]
                }
                if !entry.reason.isEmpty { members.append(JSONMember("reason", .string(entry.reason))) }
                return .object(members)
            }
            var members = [
                JSONMember("name", .string(name)),
                JSONMember("ready", .bool(snapshot.models[name] != nil)),
                JSONMember("versions", .array(versions)),
            ]
            if !status.reason.isEmpty { members.append(JSONMember("reason", .string(status.reason))) }
            return .object(members)
        }
        return JSONWriter.bytes(
            .object([
                JSONMember("default_model", .string(configuration.defaultModelName)),
                JSONMember("model_control", .string(registry.mode.rawValue)),
                JSONMember("models", .array(models)),
            ]))
    }
}
