import JSON
import DigitCore
import HTTPCore

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
        // No more arrays and values than `maxImages` images can need (strict JSON: no NaN tokens here).
        let parser = ImageDecoder(rows: rows, columns: columns).parser(
            maxImages: maxImages, allowsNonFiniteTokens: false)
        do {
            document = try parser.parse(Array(request.body[0..<jsonEnd]))
        } catch {
            if error.exceedsLimit {
                throw .invalid(
                    "the inference request holds more arrays or numbers than \(maxImages) images need; send at most \(maxImages) images at once"
                )
            }
            throw .invalid("the inference request is not valid JSON: \(error)")
        }
        guard case .object = document else { throw .invalid("the inference request must be a JSON object") }
        if let id = document["id"] {
            guard case .string(let text) = id else { throw .invalid("id must be a string") }
            self.id = text
        } else {
            id = nil
        }
        requestedOutputs = try Self.requestedOutputs(document)
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

        // No capacity is reserved from the declared shape: a 100-byte request may declare 10,000 images;
        // memory follows the data that actually arrived (checked against `total` as it is read).
        var values: [Double] = []
        if let size = try Self.parameter("binary_data_size", of: input, in: "pixels") {
            guard case .number(let byteCount) = size, byteCount == byteCount.rounded(), byteCount >= 0, byteCount < 1e15
            else {
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
        pixels.reserveCapacity(values.count)
        for (index, value) in values.enumerated() {
            guard value.isFinite, value >= 0, value <= 1 else {
                throw .invalid(
                    "pixels value \(index) (image \(index / pixelsPerImage), pixel \(index % pixelsPerImage)) is \(value); values must be from 0 (paper) to 1 (ink)"
                )
            }
            pixels.append(Float(value))
        }
        self.pixels = pixels

    }

    /// The outputs wanted, in the request's order (both when it names none), and whether each is binary.
    private static func requestedOutputs(_ document: JSONValue) throws(InferenceError) -> [RequestedOutput] {
        let binaryAll = try Self.flag("binary_data_output", of: document, in: "the request") ?? false
        let everyOutput = Self.outputNames.map { RequestedOutput(name: $0, binary: binaryAll) }
        guard let outputs = document["outputs"] else {
            return everyOutput
        }
        guard case .array(let outputList) = outputs else {
            throw .invalid("outputs must be an array of {\"name\": ...}, or left out for both outputs")
        }
        var requested: [RequestedOutput] = []
        for output in outputList {
            guard case .string(let name)? = output["name"], Self.outputNames.contains(name) else {
                throw .invalid("each output needs a \"name\": \"probabilities\" or \"predicted_class\"")
            }
            let binary = try Self.flag("binary_data", of: output, in: "output \(name)") ?? binaryAll
            requested.append(RequestedOutput(name: name, binary: binary))
        }
        return requested.isEmpty ? everyOutput : requested
    }

    /// A value in an object's `parameters`, which must be an object when present; nil when absent.
    private static func parameter(
        _ key: String, of object: JSONValue, in place: String
    ) throws(InferenceError)
        -> JSONValue?
    {
        guard let parameters = object["parameters"] else { return nil }
        guard case .object(let members) = parameters else { throw .invalid("\(place)'s parameters must be an object") }
        return members.last { $0.key == key }?.value
    }

    /// A boolean parameter: nil when absent, an error when it is not true or false.
    private static func flag(_ key: String, of object: JSONValue, in place: String) throws(InferenceError) -> Bool? {
        guard let value = try parameter(key, of: object, in: place) else { return nil }
        guard case .bool(let flag) = value else { throw .invalid("\(place)'s \(key) must be true or false") }
        return flag
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
