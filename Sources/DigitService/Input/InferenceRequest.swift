import HTTPCore
import JSON

/// One decoded inference request of the Open Inference Protocol: the images, the outputs wanted and how.
///
/// Read in steps: where the JSON header ends (the binary tensor extension puts raw tensors after it), the
/// header as JSON, the one input tensor's description, then its pixels from JSON `data` or the binary part,
/// every pixel through ``ImageInput``, so a mistake reads as it does on `/predict`.
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

    /// The input tensor as the header describes it.
    private struct TensorDescription {
        let field: JSONField
        let datatype: String
        let shape: [Int]
        /// Images: the shape's first dimension.
        var count: Int { shape[0] }
    }

    init(_ request: HTTPRequest, reader: JSONImageReader, maxImages: Int) throws(HTTPError) {
        let jsonEnd = try Self.jsonHeaderLength(request)
        let root: JSONField
        do {
            // The same reading and the same words as /predict; the protocol answers 400 for all but size.
            root = JSONField(
                try reader.json(
                    body: request.body[0..<jsonEnd], maxImages: maxImages, what: "the inference request",
                    example: "{\"inputs\": [{\"name\": \"pixels\", ...}]}"))
        } catch {
            throw error.status == .contentTooLarge ? error : .invalidInference(error.message)
        }
        do {
            guard case .object = root.value else { throw root.error("must be a JSON object") }
            id = try root.optional("id")?.string()
            requestedOutputs = try Self.requestedOutputs(root)
            let tensor = try Self.inputTensor(root, input: reader.input)
            guard tensor.count <= maxImages else {
                throw HTTPError.batchTooLarge(count: tensor.count, limit: maxImages)
            }
            count = tensor.count
            let binary = request.body[jsonEnd...]
            if let declaredSize = try Self.parameter("binary_data_size", of: tensor.field)?.integer(minimum: 0) {
                pixels = try Self.binaryPixels(binary, declaredSize: declaredSize, of: tensor, input: reader.input)
            } else {
                pixels = try Self.jsonPixels(of: tensor, input: reader.input, trailingBytes: binary.count)
            }
        } catch let error as HTTPError {
            throw error
        } catch let error as JSONFieldError {
            throw .invalidInference(error.path.isEmpty ? "the inference request \(error.problem)" : error.description)
        } catch let error as ImageInputError {
            throw .invalidInference(error.message)
        } catch {
            // The helpers throw only the three kinds above; a message without internals, should that change.
            throw .invalidInference("the inference request could not be read")
        }
    }

    /// The binary tensor extension: the JSON header's length, from `Inference-Header-Content-Length`;
    /// the whole body without it.
    private static func jsonHeaderLength(_ request: HTTPRequest) throws(HTTPError) -> Int {
        guard let lengthText = request.headers["Inference-Header-Content-Length"] else { return request.body.count }
        guard let length = Int(lengthText.trimmingHTTPWhitespace()), (0...request.body.count).contains(length) else {
            throw .invalidInference(
                "Inference-Header-Content-Length must be the JSON header's length, 0 to \(request.body.count); got '\(HTTPError.echo(lengthText))'"
            )
        }
        return length
    }

    /// The outputs wanted, in the request's order (both when it names none), and whether each is binary.
    private static func requestedOutputs(_ root: JSONField) throws -> [RequestedOutput] {
        let binaryAll = try parameter("binary_data_output", of: root)?.bool() ?? false
        let everyOutput = outputNames.map { RequestedOutput(name: $0, binary: binaryAll) }
        guard let outputs = try root.optional("outputs") else { return everyOutput }
        guard case .array = outputs.value else {
            throw outputs.error("must be an array of {\"name\": ...}, or left out for both outputs")
        }
        var requested: [RequestedOutput] = []
        for output in try outputs.array() {
            let name = try output["name"].string()
            guard outputNames.contains(name) else {
                throw output.error(
                    "names '\(HTTPError.echo(name))'; the outputs are \"probabilities\" and \"predicted_class\"")
            }
            // Each output is written once: a repeated name would have the answer written again per copy.
            guard !requested.contains(where: { $0.name == name }) else {
                throw output.error("names '\(name)' again; ask for each output once")
            }
            requested.append(
                RequestedOutput(name: name, binary: try parameter("binary_data", of: output)?.bool() ?? binaryAll))
        }
        return requested.isEmpty ? everyOutput : requested
    }

    /// The one input, `pixels`: its datatype and a shape of N images, flat or as rows.
    private static func inputTensor(_ root: JSONField, input: ImageInput) throws -> TensorDescription {
        let inputs = try root["inputs"].array()
        guard inputs.count == 1, case .object = inputs[0].value else {
            throw try root["inputs"].error("must hold one input tensor, \"pixels\"; got \(inputs.count)")
        }
        let tensor = inputs[0]
        let name = try tensor["name"].string()
        guard name == "pixels" else {
            throw try tensor["name"].error(
                "is '\(HTTPError.echo(name))'; the input is named \"pixels\" (see GET /v2/models/{name} for the model's inputs)"
            )
        }
        let datatype = try tensor["datatype"].string()
        guard datatype == "FP32" || datatype == "FP64" else {
            throw try tensor["datatype"].error("is '\(HTTPError.echo(datatype))'; pixels are FP32 or FP64")
        }
        let shapeField = try tensor["shape"]
        let shape = try shapeField.integers(minimum: 0, maximum: 1_000_000_000)
        let imageShape = Array(shape.dropFirst())
        guard imageShape == [input.pixelCount] || imageShape == [input.rows, input.columns], shape[0] >= 1 else {
            throw shapeField.error(
                "must be [N, \(input.pixelCount)] or [N, \(input.rows), \(input.columns)] with N at least 1; got \(shape)"
                    + (shape == [input.pixelCount] || shape == [input.rows, input.columns]
                        ? " (the first dimension counts the images: [1, \(shape.map(String.init).joined(separator: ", "))] for one)"
                        : ImageInput.mnistHint(shape.last ?? 0)))
        }
        return TensorDescription(field: tensor, datatype: datatype, shape: shape)
    }

    /// A value in an object's `parameters`, which must be an object when present; nil when absent.
    private static func parameter(_ key: String, of object: JSONField) throws -> JSONField? {
        try object.optional("parameters")?.optional(key)
    }

    /// Pixels from the binary part: little-endian FP32 or FP64 values, exactly as many as the shape says.
    /// No capacity is reserved from the declared shape before the bytes are there to back it.
    private static func binaryPixels(
        _ bytes: ArraySlice<UInt8>, declaredSize declared: Int, of tensor: TensorDescription, input: ImageInput
    )
        throws -> [Float]
    {
        let total = tensor.count * input.pixelCount
        let elementSize = tensor.datatype == "FP32" ? 4 : 8
        guard declared == total * elementSize, bytes.count == declared else {
            throw tensor.field.error(
                "binary data must be \(total * elementSize) bytes (\(total) \(tensor.datatype) values); got binary_data_size \(declared) and \(bytes.count) bytes after the JSON header"
            )
        }
        // One pass: each value checked as it is read; the first one the pixel rule refuses is reported by it.
        var pixels: [Float] = []
        pixels.reserveCapacity(total)
        let refused: (index: Int, value: Double)? = bytes.withUnsafeBytes { raw in
            for index in 0..<total {
                let value =
                    elementSize == 4
                    ? Double(
                        Float(
                            bitPattern: UInt32(
                                littleEndian: raw.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))))
                    : Double(
                        bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)))
                guard ImageInput.isValidPixel(value) else { return (index, value) }
                pixels.append(Float(value))
            }
            return nil
        }
        if let refused {
            let path = tensor.field.path(of: "binary_data")
            _ = try input.pixel(refused.value, path: { "\(path)[\(refused.index)]" })
        }
        return pixels
    }

    /// Pixels from JSON `data`: flat (N x 400 numbers) or nested as the shape says.
    private static func jsonPixels(
        of tensor: TensorDescription, input: ImageInput, trailingBytes: Int
    ) throws
        -> [Float]
    {
        guard trailingBytes == 0 else {
            throw tensor.field.error("is followed by binary data, but declares no binary_data_size")
        }
        let data = try tensor.field["data"]
        let image = input.imageShape(nested: tensor.shape.count == 3)
        let shape =
            ImageInput.isNested(data.value)
            ? [ImageInput.Dimension(count: tensor.count, unit: "images")] + image
            : [ImageInput.Dimension(count: tensor.count * input.pixelCount, unit: "numbers")]
        var pixels: [Float] = []
        try input.read(data.value, shape: shape[...], path: data.path, into: &pixels)
        return pixels
    }
}
