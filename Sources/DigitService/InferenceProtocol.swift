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

/// An error of the inference protocol, answered as `{"error": "..."}` as the protocol's clients expect.
enum InferenceError: HTTPResponseError, Equatable {
    case invalid(String)
    case tooLarge(count: Int, limit: Int)
    case unknownModel(String, served: String)
    case unknownVersion(String, model: String)
    case unavailable

    var status: HTTPStatus {
        switch self {
        case .invalid: .badRequest
        case .tooLarge: .contentTooLarge
        case .unknownModel, .unknownVersion: .notFound
        case .unavailable: .serviceUnavailable
        }
    }

    var code: String {
        switch self {
        case .invalid: "invalid_inference_request"
        case .tooLarge: "batch_too_large"
        case .unknownModel, .unknownVersion: "model_not_found"
        case .unavailable: "not_ready"
        }
    }

    var message: String {
        switch self {
        case .invalid(let message): message
        case .tooLarge(let count, let limit): "the request holds \(count) images; the limit is \(limit): split it"
        case .unknownModel(let name, let served): "model '\(name)' is not served here; this server serves '\(served)'"
        case .unknownVersion(let version, let model):
            "model '\(model)' has no version '\(version)'; its only version is 1"
        case .unavailable: "the server is shutting down and takes no new work; retry on another replica"
        }
    }
}

/// One decoded inference request: the images, the outputs wanted and how.
struct InferenceRequest {
    struct RequestedOutput {
        let name: String
        let binary: Bool
    }

    let id: String?
    let pixels: [Float]
    let count: Int
    let requestedOutputs: [RequestedOutput]

    static let outputNames = ["probabilities", "predicted_class"]

    init(_ request: HTTPRequest, pixelsPerImage: Int, rows: Int, columns: Int, maxImages: Int) throws(InferenceError) {
        // The binary tensor extension: a JSON header of the given length, then the tensors' raw bytes.
        var jsonEnd = request.body.count
        if let lengthText = request.headers["Inference-Header-Content-Length"] {
            guard let length = Int(lengthText.trimmingCharacters(in: " \t")), (0...request.body.count).contains(length)
            else {
                throw .invalid(
                    "Inference-Header-Content-Length must be the JSON header's length, 0 to \(request.body.count); got '\(lengthText)'"
                )
            }
            jsonEnd = length
        }
        let document: JSONValue
        do {
            document = try JSONParser().parse(Array(request.body[0..<jsonEnd]))
        } catch {
            throw .invalid("the inference request is not valid JSON: \(error)")
        }
        guard case .object = document else { throw .invalid("the inference request must be a JSON object") }
        if let id = document["id"] {
            guard case .string(let text) = id else { throw .invalid("id must be a string") }
            self.id = text
        } else {
            id = nil
        }
        guard case .array(let inputs)? = document["inputs"] else {
            throw .invalid("the request needs \"inputs\": one tensor named \"pixels\"")
        }
        guard inputs.count == 1, case .object = inputs[0] else {
            throw .invalid("this model takes one input tensor, \"pixels\"; got \(inputs.count)")
        }
        let input = inputs[0]
        guard case .string(let name)? = input["name"], name == "pixels" else {
            throw .invalid("the input must be named \"pixels\"; see GET /v2/models/{name} for the model's inputs")
        }
        guard case .string(let datatype)? = input["datatype"], datatype == "FP32" || datatype == "FP64" else {
            throw .invalid("pixels must have datatype FP32 or FP64")
        }
        guard case .array(let shapeValues)? = input["shape"] else { throw .invalid("pixels needs a \"shape\"") }
        let shape = shapeValues.compactMap { value -> Int? in
            guard case .number(let number) = value, number == number.rounded(), number >= 0, number < 1e9 else {
                return nil
            }
            return Int(number)
        }
        let imageShape = Array(shape.dropFirst())
        guard shape.count == shapeValues.count, imageShape == [pixelsPerImage] || imageShape == [rows, columns],
            let count = shape.first, count >= 1
        else {
            throw .invalid(
                "pixels must have shape [N, \(pixelsPerImage)] or [N, \(rows), \(columns)] with N at least 1; got \(JSONWriter.compact(.array(shapeValues)))"
            )
        }
        guard count <= maxImages else { throw .tooLarge(count: count, limit: maxImages) }
        self.count = count
        let total = count * pixelsPerImage

        var values: [Double] = []
        values.reserveCapacity(total)
        if case .object(let parameters)? = input["parameters"],
            let size = parameters.last(where: { $0.key == "binary_data_size" })?.value
        {
            guard case .number(let byteCount) = size, byteCount == byteCount.rounded(), byteCount >= 0 else {
                throw .invalid("binary_data_size must be a whole number of bytes")
            }
            let elementSize = datatype == "FP32" ? 4 : 8
            guard Int(byteCount) == total * elementSize, request.body.count - jsonEnd == Int(byteCount) else {
                throw .invalid(
                    "pixels' binary data must be \(total * elementSize) bytes (\(total) \(datatype) values) after the \(jsonEnd)-byte JSON header; got binary_data_size \(Int(byteCount)) and \(request.body.count - jsonEnd) bytes"
                )
            }
            request.body.withUnsafeBytes { raw in
                for index in 0..<total {
                    let offset = jsonEnd + index * elementSize
                    if elementSize == 4 {
                        values.append(
                            Double(
                                Float(
                                    bitPattern: UInt32(
                                        littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))))
                    } else {
                        values.append(
                            Double(
                                bitPattern: UInt64(
                                    littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))))
                    }
                }
            }
        } else {
            guard jsonEnd == request.body.count else {
                throw .invalid("binary data follows the JSON header, but pixels declares no binary_data_size")
            }
            guard let data = input["data"] else { throw .invalid("pixels needs \"data\" (or binary data)") }
            try Self.flatten(data, into: &values, limit: total)
            guard values.count == total else {
                throw .invalid("pixels' data holds \(values.count) numbers; its shape \(shape) needs \(total)")
            }
        }
        var pixels: [Float] = []
        pixels.reserveCapacity(total)
        for (index, value) in values.enumerated() {
            guard value.isFinite, value >= 0, value <= 1 else {
                throw .invalid(
                    "pixels value \(index) (image \(index / pixelsPerImage), pixel \(index % pixelsPerImage)) is \(value); values must be from 0 (paper) to 1 (ink)"
                )
            }
            pixels.append(Float(value))
        }
        self.pixels = pixels

        let binaryAll: Bool
        if case .object(let parameters)? = document["parameters"],
            case .bool(let flag)? = parameters.last(where: { $0.key == "binary_data_output" })?.value
        {
            binaryAll = flag
        } else {
            binaryAll = false
        }
        if case .array(let outputs)? = document["outputs"], !outputs.isEmpty {
            var requested: [RequestedOutput] = []
            for output in outputs {
                guard case .string(let name)? = output["name"], Self.outputNames.contains(name) else {
                    throw .invalid("outputs are \"probabilities\" and \"predicted_class\"")
                }
                var binary = binaryAll
                if case .object(let parameters)? = output["parameters"],
                    case .bool(let flag)? = parameters.last(where: { $0.key == "binary_data" })?.value
                {
                    binary = flag
                }
                requested.append(RequestedOutput(name: name, binary: binary))
            }
            requestedOutputs = requested
        } else {
            requestedOutputs = Self.outputNames.map { RequestedOutput(name: $0, binary: binaryAll) }
        }
    }

    /// Numbers from a flat or nested `data` array, row-major.
    private static func flatten(_ value: JSONValue, into values: inout [Double], limit: Int) throws(InferenceError) {
        switch value {
        case .number(let number):
            guard values.count < limit else { throw .invalid("pixels' data holds more numbers than its shape") }
            values.append(number)
        case .array(let elements):
            for element in elements { try flatten(element, into: &values, limit: limit) }
        default:
            throw .invalid("pixels' data must hold numbers only; found \(value.typeName)")
        }
    }
}
