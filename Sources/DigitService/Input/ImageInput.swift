import JSON

/// What a valid image is, in one place: `rows × columns` numbers, each finite and from 0 (paper) to 1
/// (full ink), the range the models were trained on. Every endpoint reads pixels through it, so a mistake
/// is described in the same words wherever it is sent; only the path differs (`pixels[17]`,
/// `images[3][20]`, `inputs[0].data[401]`).
struct ImageInput: Sendable {
    let rows: Int
    let columns: Int
    var pixelCount: Int { rows * columns }

    /// The pixel rule. (NaN fails both comparisons.) The fast reader applies this same function.
    @inline(__always)
    static func isValidPixel(_ value: Double) -> Bool { value >= 0 && value <= 1 }

    /// One pixel; `path` is built only when there is an error to report.
    @inline(__always)
    func pixel(_ value: JSONValue, path: () -> String) throws(ImageInputError) -> Float {
        if case .number(let number) = value, Self.isValidPixel(number) { return Float(number) }
        guard let number = value.numberValue else {
            throw ImageInputError(path: path(), problem: "must be a number; got \(value.typeName)")
        }
        return try pixel(number, path: path)
    }

    /// One pixel given as a number (as binary tensor data gives it).
    @inline(__always)
    func pixel(_ number: Double, path: () -> String) throws(ImageInputError) -> Float {
        if Self.isValidPixel(number) { return Float(number) }
        guard number.isFinite else {
            throw ImageInputError(
                path: path(),
                problem:
                    "is not a finite number (\(JSONValue.describe(number))); send values from 0 (paper) to 1 (ink)"
            )
        }
        // A 0-255 image, the commonest mistake, would otherwise be silently misread.
        throw ImageInputError(
            path: path(),
            problem:
                "is \(JSONValue.describe(number)); values must be from 0 (paper) to 1 (ink), so divide 0-255 values by 255"
        )
    }

    /// One level of a nested array: how many elements, and what they are called in a message.
    struct Dimension: Equatable {
        let count: Int
        let unit: String
    }

    /// The shape of one image: `pixelCount` numbers, or `rows` rows of `columns` numbers.
    func imageShape(nested: Bool) -> [Dimension] {
        nested
            ? [Dimension(count: rows, unit: "rows"), Dimension(count: columns, unit: "numbers")]
            : [Dimension(count: pixelCount, unit: "numbers")]
    }

    /// Whether a JSON image is nested (rows of numbers) rather than flat: its first element is an array.
    static func isNested(_ value: JSONValue) -> Bool {
        if case .array(let elements) = value, case .array? = elements.first { return true }
        return false
    }

    /// For a count that is an MNIST image's as it comes (784 pixels, 28 rows or columns): what to do
    /// instead, since the models read 20 x 20 digits cropped and scaled as their training data was.
    static func mnistHint(_ count: Int) -> String {
        guard count == 784 || count == 28 else { return "" }
        return
            " (28x28 is an MNIST image as it comes: crop it to the digit's box and scale that to 20x20, as the training data was made, or send the picture itself as PNG or JPEG, which the server prepares so)"
    }

    /// Appends the numbers of `value`, an array nested exactly as `shape` says (400 numbers; 20 rows of
    /// 20; N images of 20 rows), row-major, each checked by the pixel rule; an error names the element by
    /// `path`.
    func read(
        _ value: JSONValue, shape: ArraySlice<Dimension>, path: String, into pixels: inout [Float]
    )
        throws(ImageInputError)
    {
        guard let (count, unit) = shape.first.map({ ($0.count, $0.unit) }) else {
            pixels.append(try pixel(value, path: { path }))
            return
        }
        guard case .array(let elements) = value else {
            throw ImageInputError(path: path, problem: "must be an array of \(count) \(unit); got \(value.typeName)")
        }
        guard elements.count == count else {
            throw ImageInputError(
                path: path,
                problem: "must hold \(count) \(unit); got \(elements.count)" + Self.mnistHint(elements.count))
        }
        let inner = shape.dropFirst()
        if inner.isEmpty {
            for (index, element) in elements.enumerated() {
                pixels.append(try pixel(element, path: { "\(path)[\(index)]" }))
            }
        } else {
            for (index, element) in elements.enumerated() {
                try read(element, shape: inner, path: "\(path)[\(index)]", into: &pixels)
            }
        }
    }
}

/// A pixel or an image shape that is wrong, named by its path in the request.
struct ImageInputError: Error, Equatable {
    let path: String
    /// What is wrong, in words that follow the path.
    let problem: String

    var message: String { "\(path) \(problem)" }
}
