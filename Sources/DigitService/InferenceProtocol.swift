import DigitCore
import HTTPCore
import JSON

/// The Open Inference Protocol (KServe V2) over REST, as Triton's and KServe's clients speak it: health,
/// metadata and inference, with JSON tensors or the binary tensor extension. The model's name is its file's.
///
/// The input is one tensor, `pixels`, FP32 or FP64, of shape [N, 400] or [N, 20, 20]; the outputs are
/// `probabilities` (FP32, [N, 1] for the binary model, P(digit is 1); [N, 10] for ten classes) and
/// `predicted_class` (INT64, [N]): the same figures `/predict` gives for the same digits.
extension DigitService {
    static let serverVersion = "1.0.0"
    static let modelVersion = "1"

    /// The protocol's routes, a group under `/v2` whose errors are written as its clients expect.
    func registerInferenceProtocol(in router: inout Router) {
        router.group("/v2", errorFormat: .inferenceProtocol) { group in
            group.get("", execution: .inline) { _ in
                Self.v2JSON(
                    .object([
                        JSONMember("name", .string("digits")), JSONMember("version", .string(Self.serverVersion)),
                        JSONMember("extensions", .array([.string("binary_tensor_data")])),
                    ]))
            }
            group.get("/health/live", execution: .inline) { _ in
                Self.v2JSON(.object([JSONMember("live", .bool(true))]))
            }
            group.get("/health/ready", execution: .inline) { [self] _ in
                guard !isDraining else { throw HTTPError.notReady }
                return Self.v2JSON(.object([JSONMember("ready", .bool(true))]))
            }
            for prefix in ["/models/{name}", "/models/{name}/versions/{version}"] {
                group.get(prefix, execution: .inline) { [self] request in
                    try checkModel(request)
                    return Self.v2JSON(modelMetadata)
                }
                group.get(prefix + "/ready", execution: .inline) { [self] request in
                    try checkModel(request)
                    guard !isDraining else { throw HTTPError.notReady }
                    return Self.v2JSON(
                        .object([JSONMember("name", .string(model.name)), JSONMember("ready", .bool(true))]))
                }
                group.post(prefix + "/infer", execution: .offloaded) { [self] request in
                    try checkModel(request)
                    return try infer(request)
                }
            }
        }
    }

    /// The model's inputs and outputs as the protocol describes them.
    var modelMetadata: JSONValue {
        func tensor(_ name: String, _ datatype: String, _ shape: [Int]) -> JSONValue {
            .object([
                JSONMember("name", .string(name)), JSONMember("datatype", .string(datatype)),
                JSONMember("shape", .array(shape.map { .integer($0) })),
            ])
        }
        return .object([
            JSONMember("name", .string(model.name)),
            JSONMember("versions", .array([.string(Self.modelVersion)])),
            JSONMember("platform", .string("digits")),
            JSONMember("inputs", .array([tensor("pixels", "FP32", [-1, input.pixelCount])])),
            JSONMember(
                "outputs",
                .array([
                    tensor("probabilities", "FP32", [-1, model.network.outputSize]),
                    tensor("predicted_class", "INT64", [-1]),
                ])),
        ])
    }

    /// 404 for another model's name, 404 for a version other than 1.
    private func checkModel(_ request: HTTPRequest) throws(HTTPError) {
        let name = request.pathParameters["name"] ?? ""
        guard name == model.name else { throw .unknownModel(name, served: model.name) }
        if let version = request.pathParameters["version"], version != Self.modelVersion {
            throw .unknownVersion(version, model: model.name)
        }
    }

    static func v2JSON(_ value: JSONValue) -> HTTPResponse {
        HTTPResponse(contentType: "application/json", body: JSONWriter.bytes(value))
    }

    /// `POST .../infer`: JSON outputs in the response's JSON, or binary ones after it (the binary tensor
    /// extension: `Inference-Header-Content-Length` says where the JSON ends).
    func infer(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let inference = try InferenceRequest(request, reader: reader, maxImages: configuration.maxBatchImages)
        let count = inference.count
        let width = model.network.outputSize
        let outputs = model.network.predictBatch(inference.pixels, count: count)
        let classes: [Int] = outputs.withUnsafeBufferPointer { buffer in
            (0..<count).map { index in
                let decision = Classification.decide(
                    UnsafeBufferPointer(rebasing: buffer[index * width..<(index + 1) * width]))
                return model.classes[decision.classIndex]
            }
        }
        metrics.imagesPredicted.increment(by: Int64(count))

        var members: [JSONMember] = [
            JSONMember("model_name", .string(model.name)), JSONMember("model_version", .string(Self.modelVersion)),
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
        if binary.isEmpty {
            return HTTPResponse(contentType: "application/json", body: header)
        }
        return HTTPResponse(
            headers: [
                "Content-Type": "application/octet-stream", "Inference-Header-Content-Length": String(header.count),
            ],
            body: header + binary)
    }
}
