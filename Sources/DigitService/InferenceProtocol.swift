import DigitCore
import HTTPCore
import JSON

/// The Open Inference Protocol (KServe V2) over REST, as Triton's and KServe's clients speak it: health,
/// metadata and inference, with JSON tensors or the binary tensor extension, for every served model and
/// version; the model repository extension is in `RepositoryAPI.swift`.
///
/// The input is one tensor, `pixels`, FP32 or FP64, of shape [N, 400] or [N, 20, 20]; the outputs are
/// `probabilities` (FP32, [N, 1] for the binary model, P(digit is 1); [N, 10] for ten classes) and
/// `predicted_class` (INT64, [N]): the same figures `/predict` gives for the same digits.
extension DigitService {
    static let serverVersion = "1.0.0"

    /// The protocol's routes, a group under `/v2` whose errors are written as its clients expect.
    func registerInferenceProtocol(in router: inout Router) {
        router.group("/v2", errorFormat: .inferenceProtocol) { group in
            // The protocol's REST spec writes the server's metadata as `GET v2/`; clients send both.
            for path in ["", "/"] {
                group.get(path, execution: .inline) { _ in
                    Self.v2JSON(
                        .object([
                            JSONMember("name", .string("digits")), JSONMember("version", .string(Self.serverVersion)),
                            JSONMember(
                                "extensions", .array([.string("binary_tensor_data"), .string("model_repository")])),
                        ]))
                }
            }
            group.get("/health/live", execution: .inline) { _ in
                Self.v2JSON(.object([JSONMember("live", .bool(true))]))
            }
            group.get("/health/ready", execution: .inline) { [self] _ in
                guard !isDraining else { throw HTTPError.notReady }
                guard registry.allWantedReady else { throw HTTPError.modelsNotReady }
                return Self.v2JSON(.object([JSONMember("ready", .bool(true))]))
            }
            for prefix in ["/models/{name}", "/models/{name}/versions/{version}"] {
                group.get(prefix, execution: .inline) { [self] request in
                    Self.v2JSON(modelMetadata(try requestedModel(request)))
                }
                group.get(prefix + "/ready", execution: .inline) { [self] request in
                    let served = try requestedModel(request)
                    guard !isDraining else { throw HTTPError.notReady }
                    return Self.v2JSON(
                        .object([JSONMember("name", .string(served.name)), JSONMember("ready", .bool(true))]))
                }
                group.post(prefix + "/infer", execution: .offloaded) { [self] request in
                    try infer(request, on: try requestedModel(request))
                }
            }
            registerRepositoryAPI(in: &group)
        }
    }

    /// A version's inputs and outputs as the protocol describes them; `versions` lists the model's ready ones.
    func modelMetadata(_ served: ServedModel) -> JSONValue {
        func tensor(_ name: String, _ datatype: String, _ shape: [Int]) -> JSONValue {
            .object([
                JSONMember("name", .string(name)), JSONMember("datatype", .string(datatype)),
                JSONMember("shape", .array(shape.map { .integer($0) })),
            ])
        }
        let versions = (registry.snapshot.models[served.name]?.keys.sorted() ?? [served.version])
        return .object([
            JSONMember("name", .string(served.name)),
            JSONMember("versions", .array(versions.map { .string(String($0)) })),
            JSONMember("platform", .string("digits")),
            JSONMember("inputs", .array([tensor("pixels", "FP32", [-1, served.input.pixelCount])])),
            JSONMember(
                "outputs",
                .array([
                    tensor("probabilities", "FP32", [-1, served.model.network.outputSize]),
                    tensor("predicted_class", "INT64", [-1]),
                ])),
        ])
    }

    static func v2JSON(_ value: JSONValue) -> HTTPResponse {
        HTTPResponse(contentType: "application/json", body: JSONWriter.bytes(value))
    }

    /// `POST .../infer`: JSON outputs in the response's JSON, or binary ones after it (the binary tensor
    /// extension: `Inference-Header-Content-Length` says where the JSON ends).
    func infer(_ request: HTTPRequest, on served: ServedModel) throws(HTTPError) -> HTTPResponse {
        let model = served.model
        // The JSON header is read as a tree: the whole body, or the part before the binary tensors.
        let headerBytes =
            request.headers["Inference-Header-Content-Length"].flatMap { Int($0) }
            .map { min(max(0, $0), request.body.count) } ?? request.body.count
        try request.memory.reserve(Self.jsonTreeBytes(forBody: headerBytes), for: "reading its JSON as a tree")
        let inference = try InferenceRequest(
            request, reader: served.reader, maxImages: configuration.maxBatchImages)
        let count = inference.count
        try request.memory.reserve(
            Self.workingSet(images: count, of: model, includeInput: false), for: "the images and their answers")
        let width = model.network.outputSize
        let outputs = model.network.predictBatch(inference.pixels, count: count)
        let classes: [Int] = outputs.withUnsafeBufferPointer { buffer in
            (0..<count).map { index in
                let decision = Classification.decide(
                    UnsafeBufferPointer(rebasing: buffer[index * width..<(index + 1) * width]))
                return model.classes[decision.classIndex]
            }
        }
        metrics.predicted(count, by: served)

        var members: [JSONMember] = [
            JSONMember("model_name", .string(model.name)), JSONMember("model_version", .string(served.versionText)),
        ]
        if let id = inference.id { members.append(JSONMember("id", .string(id))) }
        var binary: [UInt8] = []
        var tensors: [JSONValue] = []
        for output in inference.requestedOutputs {
            let isProbabilities = output.name == "probabilities"
            var tensor = [
                JSONMember("name", .string(output.name)),
                JSONMember("datatype", .string(isProbabilities ? "FP32" : "INT64")),
                JSONMember("shape", .array((isProbabilities ? [count, width] : [count]).map { .integer($0) })),
            ]
            if output.binary {
                let start = binary.count
                if isProbabilities {
                    for value in outputs { withUnsafeBytes(of: value.bitPattern.littleEndian) { binary += $0 } }
                } else {
                    for value in classes { withUnsafeBytes(of: Int64(value).littleEndian) { binary += $0 } }
                }
                tensor.append(
                    JSONMember("parameters", .object([JSONMember("binary_data_size", .integer(binary.count - start))])))
            } else {
                tensor.append(
                    JSONMember(
                        "data", .array(isProbabilities ? outputs.map { .float($0) } : classes.map { .integer($0) })))
            }
            tensors.append(.object(tensor))
        }
        members.append(JSONMember("outputs", .array(tensors)))
        let header = JSONWriter.bytes(.object(members))
        if binary.isEmpty { return predictionResponse(header, from: served) }
        return HTTPResponse(
            headers: HTTPHeaders(
                [
                    ("Content-Type", "application/octet-stream"),
                    ("Inference-Header-Content-Length", String(header.count)),
                ] + served.identityHeaders),
            body: header + binary)
    }
}
