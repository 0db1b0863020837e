import JSON
import DigitCore
import HTTPCore

/// The Open Inference Protocol (KServe V2) over REST, as Triton's and KServe's clients speak it: health,
/// metadata and inference, with JSON tensors or the binary tensor extension. The model's name is its file's.
///
/// The input is one tensor, `pixels`, FP32 or FP64, of shape [N, 400] or [N, 20, 20]; the outputs are
/// `probabilities` (FP32, [N, 1] for the binary model, P(digit is 1); [N, 10] for ten classes) and
/// `predicted_class` (INT64, [N]): the same figures `/predict` gives for the same digits.
extension DigitService {
    static let serverVersion = "1.0.0"
    static let modelVersion = "1"

    func registerInferenceProtocol(in router: inout Router) {
        router.get("/v2", execution: .inline) { _ in
            Self.v2JSON(
                .object([
                    JSONMember("name", .string("digits")), JSONMember("version", .string(Self.serverVersion)),
                    JSONMember("extensions", .array([.string("binary_tensor_data")])),
                ]))
        }
        router.get("/v2/health/live", execution: .inline) { _ in Self.v2JSON(.object([JSONMember("live", .bool(true))]))
        }
        router.get("/v2/health/ready", execution: .inline) { [self] _ in
            guard !isDraining else { throw InferenceError.unavailable }
            return Self.v2JSON(.object([JSONMember("ready", .bool(true))]))
        }
        for prefix in ["/v2/models/{name}", "/v2/models/{name}/versions/{version}"] {
            router.get(prefix, execution: .inline) { [self] request in
                try checkModel(request)
                return Self.v2JSON(modelMetadata)
            }
            router.get(prefix + "/ready", execution: .inline) { [self] request in
                try checkModel(request)
                guard !isDraining else { throw InferenceError.unavailable }
                return Self.v2JSON(
                    .object([JSONMember("name", .string(model.name)), JSONMember("ready", .bool(true))]))
            }
            router.post(prefix + "/infer", execution: .offloaded) { [self] request in
                try checkModel(request)
                return try infer(request)
            }
        }
    }

    /// The model's inputs and outputs as the protocol describes them.
    var modelMetadata: JSONValue {
        let classes = model.network.outputSize
        func tensor(_ name: String, _ datatype: String, _ shape: [Int]) -> JSONValue {
            .object([
                JSONMember("name", .string(name)), JSONMember("datatype", .string(datatype)),
                JSONMember("shape", .array(shape.map { .number(Double($0)) })),
            ])
        }
        return .object([
            JSONMember("name", .string(model.name)),
            JSONMember("versions", .array([.string(Self.modelVersion)])),
            JSONMember("platform", .string("digits")),
            JSONMember("inputs", .array([tensor("pixels", "FP32", [-1, decoder.pixelCount])])),
            JSONMember(
                "outputs",
                .array([
                    tensor("probabilities", "FP32", [-1, classes]), tensor("predicted_class", "INT64", [-1]),
                ])),
        ])
    }

    /// 404 for another model's name, 404 for a version other than 1.
    private func checkModel(_ request: HTTPRequest) throws(InferenceError) {
        let name = request.pathParameters["name"] ?? ""
        guard name == model.name else { throw .unknownModel(name, served: model.name) }
        if let version = request.pathParameters["version"], version != Self.modelVersion {
            throw .unknownVersion(version, model: model.name)
        }
    }

    static func v2JSON(_ value: JSONValue, status: HTTPStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "application/json", body: Array(JSONWriter.compact(value).utf8))
    }

    /// `POST .../infer`.
    func infer(_ request: HTTPRequest) throws(InferenceError) -> HTTPResponse {
        let inference = try InferenceRequest(
            request, pixelsPerImage: decoder.pixelCount, rows: decoder.rows, columns: decoder.columns,
            maxImages: configuration.maxBatchImages)
        let count = inference.count
        let width = model.network.outputSize
        let outputs = model.network.predictBatch(inference.pixels, count: count)
        let classes: [Int64] = outputs.withUnsafeBufferPointer { buffer in
            (0..<count).map { index in
                let decision = Classification.decide(
                    UnsafeBufferPointer(rebasing: buffer[index * width..<(index + 1) * width]))
                return Int64(model.classes[decision.classIndex])
            }
        }
        metrics?.imagesPredicted.increment(by: Int64(count))

        var members: [JSONMember] = [
            JSONMember("model_name", .string(model.name)), JSONMember("model_version", .string(Self.modelVersion)),
        ]
        if let id = inference.id { members.append(JSONMember("id", .string(id))) }
        var binary: [UInt8] = []
        var tensors: [String] = []
        for output in inference.requestedOutputs {
            let isProbabilities = output.name == "probabilities"
            let datatype = isProbabilities ? "FP32" : "INT64"
            let shape = isProbabilities ? "[\(count),\(width)]" : "[\(count)]"
            var text = "{\"name\":\(JSONWriter.string(output.name)),\"datatype\":\"\(datatype)\",\"shape\":\(shape)"
            if output.binary {
                let start = binary.count
                if isProbabilities {
                    for value in outputs { withUnsafeBytes(of: value.bitPattern.littleEndian) { binary += $0 } }
                } else {
                    for value in classes { withUnsafeBytes(of: value.littleEndian) { binary += $0 } }
                }
                text += ",\"parameters\":{\"binary_data_size\":\(binary.count - start)}}"
            } else if isProbabilities {
                text += ",\"data\":[" + outputs.map { JSONWriter.number($0) }.joined(separator: ",") + "]}"
            } else {
                text += ",\"data\":[" + classes.map(String.init).joined(separator: ",") + "]}"
            }
            tensors.append(text)
        }
        let header =
            String(JSONWriter.compact(.object(members)).dropLast()) + ",\"outputs\":[" + tensors.joined(separator: ",")
            + "]}"
        if binary.isEmpty {
            return HTTPResponse(contentType: "application/json", body: Array(header.utf8))
        }
        let json = Array(header.utf8)
        return HTTPResponse(
            headers: [
                "Content-Type": "application/octet-stream", "Inference-Header-Content-Length": String(json.count),
            ],
            body: json + binary)
    }
}
