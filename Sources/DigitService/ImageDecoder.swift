import JSON
import DigitCore
import HTTPCore

/// Turns request bodies into images, checking everything and naming the element at fault.
///
/// An image is `rows × columns` numbers (20 × 20 for the bundled models), either flat and row-major
/// (`"pixels": [400 numbers]`) or nested (`"image": [[20 numbers] × 20]`). Values are numbers from 0
/// (paper) to 1 (full ink), the range the models were trained on; anything else is refused by name.
struct ImageDecoder: Sendable {
    let rows: Int
    let columns: Int
    var pixelCount: Int { rows * columns }

    /// The parser for request bodies: no more arrays, objects and values than twice what `maxImages`
    /// images of this shape need (nested as rows; twice, for a repeated member or an unknown field the
    /// service ignores), so the tree of a body that is mostly brackets cannot cost many times the body limit.
    /// NaN and Infinity tokens are let through by default, so that they are refused by name (422) instead
    /// of as a syntax error: Python's json module writes them for float('nan').
    func parser(maxImages: Int, allowsNonFiniteTokens: Bool = true) -> JSONParser {
        // Saturating: a huge configured batch limit means no limit, never an overflow trap.
        func twice(_ perImage: Int, plus slack: Int) -> Int {
            let (product, overflow) = maxImages.multipliedReportingOverflow(by: 2 * perImage)
            return overflow || product > Int.max - slack ? Int.max : product + slack
        }
        return JSONParser(
            allowsNonFiniteTokens: allowsNonFiniteTokens, maxContainers: twice(rows + 1, plus: 256),
            maxValues: twice(pixelCount + rows + 1, plus: 1024))
    }

    /// Reads a request body as JSON.
    func json(body: [UInt8], maxImages: Int) throws(ServiceError) -> JSONValue {
        guard !body.isEmpty else {
            throw .invalidJSON("the body is empty; send a JSON object such as {\"pixels\": [400 numbers]}")
        }
        do {
            return try parser(maxImages: maxImages).parse(body)
        } catch {
            if error.exceedsLimit {
                throw .tooManyValues(maxImages: maxImages, rows: rows, columns: columns)
            }
            if error.numberOutOfRange {
                throw .invalidPixels(
                    "a number at line \(error.line), column \(error.column) is beyond a 64-bit float's range; values must be from 0 (paper) to 1 (ink)"
                )
            }
            throw .invalidJSON("the body is not valid JSON: \(error)")
        }
    }

    /// `application/json`, with an optional `charset=utf-8` parameter (JSON is UTF-8 by definition, RFC 8259).
    static func checkContentType(_ value: String?) throws(ServiceError) {
        guard let value else { throw .unsupportedMediaType(nil) }
        // What nearly every client sends, recognised without splitting and lowercasing.
        if value.utf8.elementsEqual("application/json".utf8) { return }
        let parts = value.split(separator: ";").map { $0.trimmingCharacters(in: " \t").lowercased() }
        guard parts.first == "application/json" else { throw .unsupportedMediaType(value) }
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: " \t\"") }
            guard pair.count == 2, pair[0] == "charset", pair[1] == "utf-8" || pair[1] == "utf8" else {
                throw .unsupportedMediaType(value)
            }
        }
    }

    /// The image of a `/predict` body: `{"pixels": [...]}` or `{"image": [[...], ...]}`.
    func singleImage(from body: JSONValue) throws(ServiceError) -> [Float] {
        let members = try object(body, allowed: ["pixels", "image"], example: "{\"pixels\": [\(pixelCount) numbers]}")
        // A repeated member counts once, with its last value, as in JSONSerialization and most parsers.
        let pixels = members.last { $0.key == "pixels" }?.value
        let image = members.last { $0.key == "image" }?.value
        switch (pixels, image) {
        case (let pixels?, nil): return try flat(pixels, path: "pixels")
        case (nil, let image?): return try nested(image, path: "image")
        case (.some, .some): throw .invalidRequest("send either \"pixels\" or \"image\", not both")
        case (nil, nil):
            throw .invalidRequest(
                "the body needs \"pixels\" (\(pixelCount) numbers, row-major) or \"image\" (\(rows) rows of \(columns) numbers)"
            )
        }
    }

    /// The images of a `/predict/batch` body, `{"images": [image, ...]}`, each image flat or nested.
    func batch(from body: JSONValue, limit: Int) throws(ServiceError) -> (pixels: [Float], count: Int) {
        let members = try object(body, allowed: ["images"], example: "{\"images\": [[\(pixelCount) numbers], ...]}")
        guard let images = members.last(where: { $0.key == "images" })?.value else {
            throw .invalidRequest(
                "the body needs \"images\": an array of images, each \(pixelCount) numbers or \(rows) rows of \(columns)"
            )
        }
        guard case .array(let elements) = images else {
            throw .invalidRequest("images must be an array of images; got \(images.typeName)")
        }
        guard !elements.isEmpty else { throw .invalidRequest("images must hold at least one image") }
        guard elements.count <= limit else { throw .batchTooLarge(count: elements.count, limit: limit) }
        var pixels: [Float] = []
        pixels.reserveCapacity(elements.count * pixelCount)
        for (index, element) in elements.enumerated() {
            let path = "images[\(index)]"
            if case .array(let values) = element, let first = values.first, case .array = first {
                pixels += try nested(element, path: path)
            } else {
                pixels += try flat(element, path: path)
            }
        }
        return (pixels, elements.count)
    }

    private func object(_ body: JSONValue, allowed: [String], example: String) throws(ServiceError) -> [JSONMember] {
        guard case .object(let members) = body else {
            throw .invalidRequest("the body must be a JSON object such as \(example); got \(body.typeName)")
        }
        if let unknown = members.first(where: { !allowed.contains($0.key) }) {
            throw .invalidRequest(
                "unknown field \"\(unknown.key)\"; the body takes "
                    + allowed.map { "\"\($0)\"" }.joined(separator: " or "))
        }
        return members
    }

    /// `pixelCount` numbers, row-major.
    func flat(_ value: JSONValue, path: String) throws(ServiceError) -> [Float] {
        guard case .array(let elements) = value else {
            throw .invalidPixels("\(path) must be an array of \(pixelCount) numbers; got \(value.typeName)")
        }
        guard elements.count == pixelCount else {
            throw .invalidPixels("\(path) must hold \(pixelCount) numbers; got \(elements.count)")
        }
        var pixels: [Float] = []
        pixels.reserveCapacity(pixelCount)
        for (index, element) in elements.enumerated() {
            pixels.append(try number(element, at: { "\(path)[\(index)]" }, error: ServiceError.invalidPixels))
        }
        return pixels
    }

    /// `rows` arrays of `columns` numbers.
    func nested(_ value: JSONValue, path: String) throws(ServiceError) -> [Float] {
        guard case .array(let rowValues) = value else {
            throw .invalidImage("\(path) must be an array of \(rows) rows of \(columns) numbers; got \(value.typeName)")
        }
        guard rowValues.count == rows else {
            throw .invalidImage("\(path) must have \(rows) rows of \(columns) numbers; got \(rowValues.count) rows")
        }
        var pixels: [Float] = []
        pixels.reserveCapacity(pixelCount)
        for (rowIndex, rowValue) in rowValues.enumerated() {
            guard case .array(let values) = rowValue else {
                throw .invalidImage(
                    "\(path) row \(rowIndex) must be an array of \(columns) numbers; got \(rowValue.typeName)")
            }
            guard values.count == columns else {
                throw .invalidImage("\(path) row \(rowIndex) has \(values.count) numbers; expected \(columns)")
            }
            for (column, element) in values.enumerated() {
                pixels.append(
                    try number(element, at: { "\(path)[\(rowIndex)][\(column)]" }, error: ServiceError.invalidImage))
            }
        }
        return pixels
    }

    /// One pixel; `location` names it and is built only when there is an error to report.
    private func number(
        _ value: JSONValue, at location: () -> String, error: (String) -> ServiceError
    ) throws(ServiceError) -> Float {
        if case .number(let number) = value, number >= 0 && number <= 1 { return Float(number) }
        let path = location()
        guard case .number(let number) = value else { throw error("\(path) must be a number; got \(value.typeName)") }
        guard number.isFinite else {
            throw error(
                "\(path) is not a finite number (\(number.isNaN ? "NaN" : number > 0 ? "Infinity" : "-Infinity")); send values from 0 (paper) to 1 (ink)"
            )
        }
        // The models were trained on 0..1; a 0-255 image (the commonest mistake) would be silently misread.
        guard number >= 0 && number <= 1 else {
            throw error(
                "\(path) is \(JSONWriter.number(number)); values must be from 0 (paper) to 1 (ink), so divide 0-255 values by 255"
            )
        }
        return Float(number)
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        guard let first = firstIndex(where: { !characters.contains($0) }),
            let last = lastIndex(where: { !characters.contains($0) })
        else { return "" }
        return String(self[first...last])
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String { String(self).trimmingCharacters(in: set) }
}
