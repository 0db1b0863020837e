import CImageCodecs

/// What decoding one picture may cost, checked from its header before its pixels are allocated: a small
/// file can declare a huge image (a "bomb").
public struct ImageLimits: Sendable, Equatable {
    /// Width and height at most. Default 4096.
    public var maxSide: Int
    /// Bytes of decoded samples at most (width x height x channels, 8 bits each; for a progressive JPEG,
    /// its coefficient buffers too). Default 64 MiB.
    public var maxDecodedBytes: Int
    /// A progressive JPEG's scans at most; a normal one has about ten. Default 256.
    public var maxJPEGScans: Int

    public init(maxSide: Int = 4096, maxDecodedBytes: Int = 64 * 1024 * 1024, maxJPEGScans: Int = 256) {
        self.maxSide = maxSide
        self.maxDecodedBytes = maxDecodedBytes
        self.maxJPEGScans = maxJPEGScans
    }
}

/// Turns a PNG, JPEG or binary PGM into grey levels: PNG through libpng, JPEG through libjpeg-turbo (with
/// its Exif orientation applied), PGM here.
public enum ImageDecoder {
    /// Decodes `bytes` as `format`; `format` nil means "whatever the bytes' signature says".
    public static func decode(
        _ bytes: [UInt8], as format: ImageFormat? = nil, limits: ImageLimits = ImageLimits()
    ) throws(ImageError) -> GreyImage {
        guard let format = format ?? ImageFormat(sniffing: bytes) else {
            throw .unknownFormat(firstBytes: Array(bytes.prefix(8)))
        }
        return try bytes.withUnsafeBufferPointer { buffer throws(ImageError) in
            switch format {
            case .pgm: try PGMDecoder.decode(buffer, limits: limits)
            case .png, .jpeg: try decodeWithLibrary(buffer, format: format, limits: limits)
            }
        }
    }

    private static func decodeWithLibrary(
        _ bytes: UnsafeBufferPointer<UInt8>, format: ImageFormat, limits: ImageLimits
    ) throws(ImageError) -> GreyImage {
        var raster = image_codecs_raster()
        defer { image_codecs_release(&raster) }
        let codecLimits = image_codecs_limits(
            max_width: UInt32(clamping: limits.maxSide), max_height: UInt32(clamping: limits.maxSide),
            max_decoded_bytes: UInt64(clamping: limits.maxDecodedBytes),
            max_jpeg_scans: UInt32(clamping: limits.maxJPEGScans))
        guard let base = bytes.baseAddress, !bytes.isEmpty else {
            throw .damaged(format: format, reason: "the file is empty")
        }
        let status =
            format == .png
            ? image_codecs_decode_png(base, bytes.count, codecLimits, &raster)
            : image_codecs_decode_jpeg(base, bytes.count, codecLimits, &raster)
        let width = Int(raster.width)
        let height = Int(raster.height)
        switch status {
        case IMAGE_CODECS_OK:
            break
        case IMAGE_CODECS_TOO_LARGE:
            if width > limits.maxSide || height > limits.maxSide {
                throw .tooLarge(format: format, width: width, height: height, maxSide: limits.maxSide)
            }
            throw .decodedTooLarge(
                format: format, width: width, height: height, bytes: Int(clamping: raster.decoded_bytes),
                limit: limits.maxDecodedBytes)
        case IMAGE_CODECS_TOO_COMPLEX:
            throw .tooComplex(format: format, reason: Self.message(of: &raster))
        case IMAGE_CODECS_UNSUPPORTED:
            throw .unsupported(format: format, reason: Self.message(of: &raster))
        case IMAGE_CODECS_OUT_OF_MEMORY:
            throw .outOfMemory(format: format)
        default:
            throw .damaged(format: format, reason: Self.message(of: &raster))
        }
        let channels = Int(raster.channels)
        guard let pixels = raster.pixels, width > 0, height > 0, (1...4).contains(channels) else {
            throw .damaged(format: format, reason: "the image has no pixels")
        }
        let image = GreyImage(
            width: width, height: height, channels: channels,
            samples: UnsafeBufferPointer(start: pixels, count: width * height * channels))
        guard let exif = raster.exif else { return image }
        return image.oriented(ExifOrientation.read(UnsafeBufferPointer(start: exif, count: raster.exif_length)))
    }

    /// The C string in the raster's message field.
    private static func message(of raster: inout image_codecs_raster) -> String {
        withUnsafeBytes(of: &raster.message) { bytes in
            let text = bytes.prefix { $0 != 0 }
            return String(decoding: text, as: UTF8.self)
        }
    }
}
