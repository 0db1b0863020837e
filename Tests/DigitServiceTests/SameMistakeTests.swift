import Foundation
import Testing

/// One image mistake, sent to each of the three endpoints that take images: the message must be the same
/// words after the path, because one type (`ImageInput`) knows what a valid image is.
@Suite("The same mistake reads the same on every endpoint", .serialized)
struct SameMistakeTests {
    /// A flat image as JSON text: 400 zeros, with `token` at `index` (or one number fewer).
    static func flat(_ token: String? = nil, at index: Int = 17, count: Int = 400) -> String {
        var values = Array(repeating: "0", count: count)
        if let token { values[index] = token }
        return "[" + values.joined(separator: ",") + "]"
    }

    /// A nested image as JSON text: 20 rows of 20 zeros, with row `row` replaced by `rowText`.
    static func nested(row: Int, _ rowText: String) -> String {
        var rows = Array(repeating: flat(count: 20), count: 20)
        rows[row] = rowText
        return "[" + rows.joined(separator: ",") + "]"
    }

    struct Mistake: Sendable, CustomStringConvertible {
        let name: String
        let image: String
        let nested: Bool
        /// The element at fault, below the image (`[17]`, `[5]`, or empty for the image itself).
        let element: String
        let problem: String
        var description: String { name }
    }

    static let mistakes = [
        Mistake(
            name: "NaN", image: flat("NaN"), nested: false, element: "[17]",
            problem: "is not a finite number (NaN); send values from 0 (paper) to 1 (ink)"),
        Mistake(
            name: "Infinity", image: flat("-Infinity"), nested: false, element: "[17]",
            problem: "is not a finite number (-Infinity); send values from 0 (paper) to 1 (ink)"),
        Mistake(
            name: "out of range", image: flat("255"), nested: false, element: "[17]",
            problem: "is 255; values must be from 0 (paper) to 1 (ink), so divide 0-255 values by 255"),
        Mistake(
            name: "wrong count", image: flat(count: 399), nested: false, element: "",
            problem: "must hold 400 numbers; got 399"),
        Mistake(
            name: "wrong nesting", image: nested(row: 5, "0"), nested: true, element: "[5]",
            problem: "must be an array of 20 numbers; got a number"),
        Mistake(
            name: "short row", image: nested(row: 3, flat(count: 19)), nested: true, element: "[3]",
            problem: "must hold 20 numbers; got 19"),
        Mistake(
            name: "non-number", image: flat("\"a\""), nested: false, element: "[17]",
            problem: "must be a number; got a string"),
        Mistake(
            name: "null", image: flat("null"), nested: false, element: "[17]", problem: "must be a number; got null"),
    ]

    @Test("/predict, /predict/batch and /v2/.../infer", arguments: mistakes)
    func sameWords(mistake: Mistake) async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let code = mistake.nested ? "invalid_image" : "invalid_pixels"

        let single = try await harness.post(
            "/predict", text: "{\"\(mistake.nested ? "image" : "pixels")\": \(mistake.image)}")
        #expect(single.status == 422)
        #expect(single.errorCode == code)
        #expect(single.errorMessage == (mistake.nested ? "image" : "pixels") + mistake.element + " " + mistake.problem)

        let batch = try await harness.post("/predict/batch", text: "{\"images\": [\(Self.flat()), \(mistake.image)]}")
        #expect(batch.status == 422)
        #expect(batch.errorCode == code)
        #expect(batch.errorMessage == "images[1]" + mistake.element + " " + mistake.problem)

        // The protocol's tensor holds N images; its data nested as the shape says, so the image is data[0].
        let shape = mistake.nested ? "[1, 20, 20]" : "[1, 400]"
        let infer = try await harness.post(
            "/v2/models/binary/infer",
            text:
                "{\"inputs\": [{\"name\": \"pixels\", \"datatype\": \"FP32\", \"shape\": \(shape), \"data\": [\(mistake.image)]}]}"
        )
        #expect(infer.status == 400)
        #expect(
            InferenceProtocolTests.v2Error(infer) == "inputs[0].data[0]" + mistake.element + " " + mistake.problem)
    }
}
