import DigitCore
import HTTPCore
import JSON

extension DigitService {
    static let json = "application/json"

    /// The service's routes. A single prediction takes microseconds and runs on the event loop's thread;
    /// a batch (up to the batch limit, a few hundred milliseconds at 10,000 images) runs on the server's worker pool.
    ///
    /// The original endpoints answer with the default model's highest ready version; `/models/{name}/...`
    /// with any served model's, or with the version named after `/versions/`.
    func makeRouter() -> Router {
        var router = Router()
        router.notFoundHint =
            "the endpoints are POST /predict and /predict/batch, GET /evaluate, GET /model (the health check), GET /models and /models/{name}/..., the Open Inference Protocol under /v2 (/v2/health/live, /v2/health/ready, /v2/models/{name}/infer, /v2/repository/...), GET /metrics and the page at /; GET /openapi.yaml describes them all"
        // A picture costs more to decode than JSON to read (milliseconds for a photo), so it leaves the loop.
        let single = HandlerExecution.inlineUnlessContentType(prefix: "image/")
        router.post("/predict", execution: single) { [self] request in try predict(request, on: try defaultModel()) }
        router.post("/predict/batch", execution: .offloaded) { [self] request in
            try predictBatch(request, on: try defaultModel())
        }
        router.get("/evaluate", execution: .inline) { [self] _ in try evaluation(of: try defaultModel()) }
        router.get("/model", execution: .inline) { [self] _ in try document(of: try defaultModel()) }
        router.get("/models", execution: .inline) { [self] _ in HTTPResponse(contentType: Self.json, body: modelList())
        }
        for prefix in ["/models/{name}", "/models/{name}/versions/{version}"] {
            router.get(prefix, execution: .inline) { [self] request in try document(of: try requestedModel(request)) }
            router.post(prefix + "/predict", execution: single) { [self] request in
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
            HTTPResponse(
                contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics.exposition(memory: memoryBudget))
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

    /// `POST /predict`: one image, as JSON or as a picture.
    func predict(_ request: HTTPRequest, on served: ServedModel) throws(HTTPError) -> HTTPResponse {
        let includeInput = try Self.includesInput(request)
        let contentType = request.headers["Content-Type"]
        let pixels: [Float]
        if let format = PictureInput.format(declaredBy: contentType) {
            try PictureInput.check(served)
            pixels = try pictures.modelInput(request.body, declared: format, memory: request.memory)
        } else {
            try JSONImageReader.checkContentType(contentType, alternatives: Self.pictureTypes)
            pixels = try singleImage(body: request.body, for: served, memory: request.memory)
        }
        let output = served.model.network.predict(pixels)
        metrics.predicted(1, by: served)
        var body: [UInt8] = []
        body.reserveCapacity(includeInput ? 4096 : 64)
        output.withUnsafeBufferPointer {
            JSONWriter.write(
                Self.prediction($0, by: served.model, input: includeInput ? pixels[...] : nil), into: &body)
        }
        return predictionResponse(body, from: served)
    }

    /// `POST /predict/batch`: many images, answered in order: JSON, or pictures as the parts of a
    /// `multipart/form-data` body (each answer naming its part's file).
    func predictBatch(_ request: HTTPRequest, on served: ServedModel) throws(HTTPError) -> HTTPResponse {
        let includeInput = try Self.includesInput(request)
        let contentType = request.headers["Content-Type"]
        let pixels: [Float]
        let count: Int
        var names: [String]?
        let model = served.model
        if let boundary = contentType.flatMap(MultipartFormData.boundary(inContentType:)) {
            try PictureInput.check(served)
            let parts = try pictureParts(of: request, boundary: boundary, for: model, includeInput: includeInput)
            (pixels, count, names) = (parts.pixels, parts.names.count, parts.names)
        } else {
            try JSONImageReader.checkContentType(
                contentType, alternatives: "pictures as the parts of multipart/form-data (curl -F 'image=@digit.png')")
            // A JSON image takes 800 bytes at the least (400 pixels written as "0,"), which bounds the count.
            let images = min(configuration.maxBatchImages, request.body.count / 800 + 1)
            try request.memory.reserve(
                Self.workingSet(images: images, of: model, includeInput: includeInput),
                for: "the decoded images and their answers")
            (pixels, count) = try batch(body: request.body, for: served, memory: request.memory)
        }
        let outputs = model.network.predictBatch(pixels, count: count)
        metrics.predicted(count, by: served)
        let width = model.network.outputSize
        let inputSize = model.network.inputSize
        let predictions: [JSONValue] = outputs.withUnsafeBufferPointer { buffer in
            (0..<count).map { index in
                let answer = Self.prediction(
                    UnsafeBufferPointer(rebasing: buffer[index * width..<(index + 1) * width]), by: model,
                    input: includeInput ? pixels[index * inputSize..<(index + 1) * inputSize] : nil)
                guard let names, case .object(let members) = answer else { return answer }
                return .object([JSONMember("filename", .string(names[index]))] + members)
            }
        }
        var body: [UInt8] = []
        body.reserveCapacity(count * (width == 1 ? 64 : 220) * (includeInput ? 20 : 1))
        JSONWriter.write(.object([JSONMember("predictions", .array(predictions))]), into: &body)
        return predictionResponse(body, from: served)
    }

    /// What answering `images` images holds besides the body, reserved of the memory budget before any of
    /// it is allocated: the model's input (4 bytes a pixel) and output, and the answer, as a JSON tree and
    /// as bytes (about 64 bytes an image for the binary model and 220 for ten classes; twenty times that
    /// with the input echoed).
    static func workingSet(images: Int, of model: Model, includeInput: Bool) -> Int {
        let network = model.network
        let answer = (network.outputSize == 1 ? 64 : 220) * (includeInput ? 20 : 1)
        return images * (4 * (network.inputSize + network.outputSize) + 3 * answer)
    }

    /// What reading `count` bytes of JSON as a tree may hold: a copy of the body, and a value for every
    /// two bytes at most (`0,`). The fast reader needs none of it; the full reader runs for the inference
    /// protocol and for bodies the fast reader declines (a mistake, an escaped name).
    static func jsonTreeBytes(forBody count: Int) -> Int {
        count + count / 2 * MemoryLayout<JSONValue>.stride
    }

    /// "a picture as image/png, image/jpeg or image/x-portable-graymap", for refusals.
    static let pictureTypes = "a picture as " + ImageFormat.mediaTypeList

    /// `application/octet-stream`, parameters and letter case aside: a part whose type says nothing.
    static func isOctetStream(_ type: String) -> Bool {
        String(type.prefix { $0 != ";" }).trimmingHTTPWhitespace().lowercased() == "application/octet-stream"
    }

    /// Whether the request asks for the 20 x 20 input the model saw (`?include_input=true`).
    static func includesInput(_ request: HTTPRequest) throws(HTTPError) -> Bool {
        switch request.head.queryParameter("include_input") {
        case nil, "false": return false
        case "true": return true
        case let value?:
            throw HTTPError(
                status: .badRequest, code: "invalid_query",
                message: "include_input is '\(HTTPError.echo(value))'; it is true or false")
        }
    }

    /// The pictures of a multipart body, one per part, in order, each part named by its file (or field).
    func pictureParts(
        of request: HTTPRequest, boundary: String, for model: Model, includeInput: Bool
    ) throws(HTTPError) -> (pixels: [Float], names: [String]) {
        let body = request.body
        guard !boundary.isEmpty else {
            throw HTTPError(
                status: .badRequest, code: "invalid_multipart",
                message: "multipart/form-data needs a boundary parameter of 1 to 70 characters (curl -F sets it)")
        }
        let form: MultipartFormData
        do {
            form = try MultipartFormData(body: body, boundary: boundary, maxParts: configuration.maxBatchImages)
        } catch {
            throw HTTPError(
                status: error.tooLarge ? .contentTooLarge : .badRequest,
                code: error.tooLarge ? "batch_too_large" : "invalid_multipart",
                message: "the multipart body: \(error)" + (error.tooLarge ? "; split it into smaller batches" : ""))
        }
        try request.memory.reserve(
            Self.workingSet(images: form.parts.count, of: model, includeInput: includeInput),
            for: "the decoded images and their answers")
        var pixels: [Float] = []
        pixels.reserveCapacity(form.parts.count * DigitImagePreparation.side * DigitImagePreparation.side)
        var names: [String] = []
        // One budget of decoded bytes for the whole request, as for a single picture: otherwise a body
        // of thousands of small files of large blank pictures would cost minutes of decoding.
        var budget = pictures.limits
        for (index, part) in form.parts.enumerated() {
            let name = part.filename ?? part.name
            let label = "part \(index + 1) ('\(HTTPError.echo(name))')"
            let declared = part.contentType.flatMap(ImageFormat.init(mediaType:))
            if declared == nil, let type = part.contentType, !Self.isOctetStream(type) {
                throw HTTPError(
                    status: .unsupportedMediaType, code: "unsupported_image",
                    message: "\(label) is \(HTTPError.echo(type)); each part is a picture, \(ImageFormat.mediaTypeList)"
                )
            }
            let (input, decodedBytes) = try PictureInput(limits: budget).modelInputAndCost(
                Array(part.content), declared: declared, part: label, memory: request.memory,
                whenOverBudget: index == 0
                    ? nil : "the pictures before it took the rest of the request's decoding budget")
            pixels += input
            budget.maxDecodedBytes = max(0, budget.maxDecodedBytes - decodedBytes)
            names.append(name)
        }
        return (pixels, names)
    }

    /// The pixels of a `/predict` body: the fast reader's, or, when it declines (always for a mistake), the
    /// full reader's, which explains the mistake.
    func singleImage(
        body: [UInt8], for served: ServedModel, memory: MemoryReservation = MemoryReservation(budget: .unlimited)
    ) throws(HTTPError) -> [Float] {
        if let pixels = served.fastReader.singleImage(body) { return pixels }
        try memory.reserve(Self.jsonTreeBytes(forBody: body.count), for: "reading the body as a JSON tree")
        return try served.reader.singleImage(from: try served.reader.json(body: body, maxImages: 1))
    }

    /// The images of a `/predict/batch` body, the same way.
    func batch(
        body: [UInt8], for served: ServedModel, memory: MemoryReservation = MemoryReservation(budget: .unlimited)
    ) throws(HTTPError) -> (pixels: [Float], count: Int) {
        if let images = served.fastReader.batch(body, limit: configuration.maxBatchImages) { return images }
        try memory.reserve(Self.jsonTreeBytes(forBody: body.count), for: "reading the body as a JSON tree")
        return try served.reader.batch(
            from: try served.reader.json(body: body, maxImages: configuration.maxBatchImages),
            limit: configuration.maxBatchImages)
    }

    /// One prediction. Binary: `predicted_class` and `probability`, P(class 1) as the original reported
    /// it. More classes: `predicted_class`, its `probability` and all `probabilities`.
    /// With `input`, the 400 values the model read are added as `input`. The answer's one form, for the
    /// endpoints and `digits predict --json`.
    public static func prediction(
        _ output: UnsafeBufferPointer<Float>, by model: Model, input: ArraySlice<Float>? = nil
    ) -> JSONValue {
        let (index, probability) = Classification.decide(output)
        var members = [JSONMember("predicted_class", .integer(model.classes[index]))]
        if model.isBinary {
            members.append(JSONMember("probability", .float(output[0])))
            // The two classes it tells apart, so that a 7 sent to it is not read as a confident 1.
            members.append(JSONMember("classes", .array(model.classes.map { .integer($0) })))
        } else {
            members.append(JSONMember("probability", .float(probability)))
            members.append(JSONMember("probabilities", .array(output.map { .float($0) })))
        }
        if let input { members.append(JSONMember("input", .array(input.map { .float($0) }))) }
        return .object(members)
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
