import HTTPCore
import JSON

/// The full reader of `/predict` and `/predict/batch` bodies: the JSON tree, then ``ImageInput``'s rules,
/// naming the element at fault. The fast reader declines every body with a mistake, and this one explains it.
///
/// An image is flat and row-major (`"pixels": [400 numbers]`) or nested (`"image": [[20 numbers] × 20]`).
struct JSONImageReader: Sendable {
    let input: ImageInput

    /// The parser for request bodies: no more arrays, objects and values than twice what `maxImages`
    /// images of this shape need (nested as rows; twice, for repeated members and the inference protocol's
    /// other fields), so the tree of a body that is mostly brackets cannot cost many times the body limit.
    /// NaN and Infinity tokens are let through, so that they are refused by name (by the pixel rule) instead
    /// of as a syntax error: Python's json module writes them for float('nan').
    func parser(maxImages: Int) -> JSONParser {
        // Saturating: a huge configured batch limit means no limit, never an overflow trap.
        func twice(_ perImage: Int, plus slack: Int) -> Int {
            let (product, overflow) = maxImages.multipliedReportingOverflow(by: 2 * perImage)
            return overflow || product > Int.max - slack ? Int.max : product + slack
        }
        return JSONParser(
            allowsNonFiniteTokens: true, maxContainers: twice(input.rows + 1, plus: 256),
            maxValues: twice(input.pixelCount + input.rows + 1, plus: 1024))
    }

    /// Reads a request body as JSON; `what` names the document in messages, `example` shows one.
    func json(
        body: some Collection<UInt8>, maxImages: Int, what: String = "the body",
        example: String = "{\"pixels\": [400 numbers]}"
    ) throws(HTTPError) -> JSONValue {
        guard !body.isEmpty else { throw .invalidJSON("\(what) is empty; send a JSON object such as \(example)") }
        do {
            return try parser(maxImages: maxImages).parse(Array(body))
        } catch {
            if error.exceedsLimit {
                throw .tooManyValues(maxImages: maxImages, rows: input.rows, columns: input.columns)
            }
            if error.numberOutOfRange {
                throw HTTPError(
                    status: .unprocessableContent, code: "invalid_pixels",
                    message:
                        "a number at line \(error.line), column \(error.column) is too large for a 64-bit float; pixels are from 0 (paper) to 1 (ink), shapes and sizes whole numbers"
                )
            }
            throw .invalidJSON("\(what) is not valid JSON: \(error)" + Self.fileNameHint(body))
        }
    }

    /// For a body that is a file's name rather than its contents (`curl --data one.json`, without the
    /// `@` that makes curl send the file): the fix. A name has a letter after its last dot (`1.5.2` is not
    /// one); a name too long to quote whole is not written into the command.
    static func fileNameHint(_ body: some Collection<UInt8>) -> String {
        let text = String(decoding: body.prefix(256), as: UTF8.self)
        let looksLikeName =
            body.count <= 256 && text.contains(".")
            && text.allSatisfy { $0.isLetter || $0.isNumber || "._-/~".contains($0) }
            && text.split(separator: ".").last?.contains(where: \.isLetter) == true
        guard looksLikeName, let first = text.first, first.isLetter || first.isNumber || "./~_".contains(first)
        else { return "" }
        let quoted = HTTPError.echo(text)
        return
            "; the body is '\(quoted)', which looks like a file name: curl sends a file's contents with an @ (--data @\(quoted == text ? text : "FILE"))"
    }

    /// `application/json`, with an optional `charset=utf-8` parameter (JSON is UTF-8 by definition, RFC 8259).
    /// `alternatives` names the other bodies the route takes, for the refusal's message.
    static func checkContentType(_ value: String?, alternatives: String? = nil) throws(HTTPError) {
        guard let value else { throw .unsupportedMediaType(nil, alternatives: alternatives) }
        // What nearly every client sends, recognised without splitting and lowercasing.
        if value == "application/json" { return }
        let parts = value.split(separator: ";").map { $0.trimmingHTTPWhitespace().lowercased() }
        guard parts.first == "application/json" else { throw .unsupportedMediaType(value, alternatives: alternatives) }
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingHTTPWhitespace() }
            let charset = pair.count == 2 ? pair[1].trimmingCharacters(equalTo: "\"") : ""
            guard pair.count == 2, pair[0] == "charset", charset == "utf-8" || charset == "utf8" else {
                throw .unsupportedMediaType(value, alternatives: alternatives)
            }
        }
    }

    /// The image of a `/predict` body: `{"pixels": [...]}` or `{"image": [[...], ...]}`.
    func singleImage(from body: JSONValue) throws(HTTPError) -> [Float] {
        try refuseUnknownMembers(
            body, allowed: ["pixels", "image"], example: "{\"pixels\": [\(input.pixelCount) numbers]}")
        // A repeated member counts once, with its last value, as in most parsers.
        let pixels = body["pixels"].map { JSONField($0, path: "pixels") }
        let image = body["image"].map { JSONField($0, path: "image") }
        switch (pixels, image) {
        case (let pixels?, nil): return try read(pixels, nested: false)
        case (nil, let image?): return try read(image, nested: true)
        case (.some, .some): throw .invalidRequest("send either \"pixels\" or \"image\", not both")
        case (nil, nil):
            throw .invalidRequest(
                "the body needs \"pixels\" (\(input.pixelCount) numbers, row-major) or \"image\" (\(input.rows) rows of \(input.columns) numbers)"
            )
        }
    }

    /// The images of a `/predict/batch` body, `{"images": [image, ...]}`, each image flat or nested.
    func batch(from body: JSONValue, limit: Int) throws(HTTPError) -> (pixels: [Float], count: Int) {
        try refuseUnknownMembers(
            body, allowed: ["images"], example: "{\"images\": [[\(input.pixelCount) numbers], ...]}")
        guard let images = body["images"].map({ JSONField($0, path: "images") }) else {
            throw .invalidRequest(
                "the body needs \"images\": an array of images, each \(input.pixelCount) numbers or \(input.rows) rows of \(input.columns)"
            )
        }
        guard case .array(let elements) = images.value else {
            throw .invalidRequest("images must be an array of images; got \(images.value.typeName)")
        }
        guard !elements.isEmpty else { throw .invalidRequest("images must hold at least one image") }
        guard elements.count <= limit else { throw .batchTooLarge(count: elements.count, limit: limit) }
        var pixels: [Float] = []
        pixels.reserveCapacity(elements.count * input.pixelCount)
        for (index, element) in elements.enumerated() {
            pixels += try read(JSONField(element, path: images.path(of: index)), nested: ImageInput.isNested(element))
        }
        return (pixels, elements.count)
    }

    /// One image in the shape it was sent in.
    private func read(_ field: JSONField, nested: Bool) throws(HTTPError) -> [Float] {
        var pixels: [Float] = []
        pixels.reserveCapacity(input.pixelCount)
        do {
            try input.read(field.value, shape: input.imageShape(nested: nested)[...], path: field.path, into: &pixels)
        } catch {
            throw .invalidImage(error, nested: nested)
        }
        return pixels
    }

    /// Refuses a body that is not an object of `allowed` members only.
    private func refuseUnknownMembers(_ body: JSONValue, allowed: [String], example: String) throws(HTTPError) {
        guard case .object(let members) = body else {
            throw .invalidRequest("the body must be a JSON object such as \(example); got \(body.typeName)")
        }
        if let unknown = members.first(where: { !allowed.contains($0.key) }) {
            throw .invalidRequest(
                "unknown field \"\(HTTPError.echo(unknown.key))\"; the body takes "
                    + allowed.map { "\"\($0)\"" }.joined(separator: " or "))
        }
    }
}
