// libFuzzer entry point for pictures: the PNG (libpng), JPEG (libjpeg-turbo) and PGM decoders behind
// ImageDecoder, the Exif orientation reader, the preparation of the model's 20x20, and the multipart
// framing that carries pictures to /predict/batch.
//
// On every input, beyond "never crashes, never trips AddressSanitizer": a decoded image is within the
// limits; a prepared input is 400 values from 0 to 1; a multipart part lies inside the body.
import CImageCodecs

let limits = ImageLimits(maxSide: 512, maxDecodedBytes: 1 << 20, maxJPEGScans: 64)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for format in [nil] + ImageFormat.allCases {
        guard let image = try? ImageDecoder.decode(bytes, as: format, limits: limits) else { continue }
        precondition(image.width <= limits.maxSide && image.height <= limits.maxSide, "past the size limit")
        precondition(image.levels.count == image.width * image.height)
        if let input = try? DigitImagePreparation.modelInput(from: image) {
            precondition(input.count == 400 && input.allSatisfy { $0 >= 0 && $0 <= 1 }, "a bad model input")
        }
    }
    let orientation = bytes.withUnsafeBufferPointer { ExifOrientation.read($0) }
    precondition((1...8).contains(orientation))
    if let form = try? MultipartFormData(body: bytes, boundary: "b", maxParts: 16) {
        precondition(form.parts.count <= 16)
        for part in form.parts { precondition(part.content.startIndex >= 0 && part.content.endIndex <= bytes.count) }
    }
    return 0
}
