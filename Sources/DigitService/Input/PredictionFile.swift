import DigitCore
import HTTPCore
import JSON

/// A file of images as `digits predict` reads it, through the same readers as the endpoints: a picture
/// (PNG, JPEG, binary PGM) through ``PictureInput``; a `.npy` of one image (400 values or 20 x 20) or
/// many (N x 400, N x 20 x 20); or a JSON body of `/predict` (`pixels`, `image`) or `/predict/batch`
/// (`images`).
public enum PredictionFile {
    /// The images in `bytes`, 400 values each, with their labels (`""` for a file's only image, `[3]` for
    /// the fourth of many). An error says what is wrong with the file.
    public static func images(
        in bytes: [UInt8], limits: ImageLimits, maxImages: Int
    ) throws(PredictionFileError) -> [(label: String, pixels: [Float])] {
        do {
            if let format = ImageFormat(sniffing: bytes) {
                return [("", try PictureInput(limits: limits).modelInput(bytes, declared: format))]
            }
            if bytes.starts(with: [0x93] + Array("NUMPY".utf8)) { return try numPyImages(bytes, maxImages: maxImages) }
            if bytes.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "{") {
                return try jsonImages(bytes, maxImages: maxImages)
            }
        } catch {
            throw PredictionFileError(description: error.message)
        }
        throw PredictionFileError(
            description:
                "not a PNG, JPEG, binary PGM, .npy or JSON file (\(ImageError.unknownFormat(firstBytes: Array(bytes.prefix(8))))"
                + ")")
    }

    private static let input = ImageInput(rows: DigitImagePreparation.side, columns: DigitImagePreparation.side)

    private static func numPyImages(_ bytes: [UInt8], maxImages: Int) throws(HTTPError) -> [(String, [Float])] {
        let array: NumPyArray
        do {
            array = try NumPyArray(npyBytes: bytes)
        } catch {
            throw HTTPError(status: .unprocessableContent, code: "invalid_npy", message: "\(error)")
        }
        let pixels = input.pixelCount
        let shape = array.shape
        let count: Int
        if shape == [pixels] || shape == [input.rows, input.columns] {
            count = 1
        } else if shape.count >= 2, shape.dropFirst() == [pixels] || shape.dropFirst() == [input.rows, input.columns] {
            count = shape[0]
        } else {
            throw HTTPError(
                status: .unprocessableContent, code: "invalid_npy",
                message:
                    "the array's shape is \(array.shape); one image is (400,) or (20, 20), many (N, 400) or (N, 20, 20)"
            )
        }
        guard count <= maxImages else { throw .batchTooLarge(count: count, limit: maxImages) }
        guard count > 0 else {
            throw HTTPError(status: .unprocessableContent, code: "invalid_npy", message: "the array holds no image")
        }
        let values = array.floats()
        var images: [(String, [Float])] = []
        for index in 0..<count {
            let image = Array(values[index * pixels..<(index + 1) * pixels])
            for (position, value) in image.enumerated() {
                do {
                    _ = try input.pixel(
                        Double(value), path: { count == 1 ? "[\(position)]" : "[\(index)][\(position)]" })
                } catch {
                    throw .invalidImage(error, nested: false)
                }
            }
            images.append((count == 1 ? "" : "[\(index)]", image))
        }
        return images
    }

    private static func jsonImages(_ bytes: [UInt8], maxImages: Int) throws(HTTPError) -> [(String, [Float])] {
        let reader = JSONImageReader(input: input)
        let body = try reader.json(body: bytes, maxImages: maxImages, what: "the file")
        if body["images"] != nil {
            let (pixels, count) = try reader.batch(from: body, limit: maxImages)
            let size = input.pixelCount
            return (0..<count).map { ("[\($0)]", Array(pixels[$0 * size..<($0 + 1) * size])) }
        }
        return [("", try reader.singleImage(from: body))]
    }
}

/// A file `digits predict` cannot read, and why.
public struct PredictionFileError: Error, CustomStringConvertible, Sendable {
    public let description: String
}
