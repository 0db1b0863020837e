/// Binary PGM (`P5`, netpbm): "P5", the width, height and largest value as decimal text separated by
/// whitespace (with `#` comments), one whitespace byte, then the samples, one byte each when the largest
/// value is below 256 and two (most significant first) otherwise. One image per file.
enum PGMDecoder {
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, limits: ImageLimits) throws(ImageError) -> GreyImage {
        if bytes.starts(with: Array("P2".utf8)) {
            throw .unsupported(format: .pgm, reason: "plain (ASCII, P2) PGM is not taken; save it as binary PGM (P5)")
        }
        if bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), bytes[1] != UInt8(ascii: "5"),
            (UInt8(ascii: "1")...UInt8(ascii: "7")).contains(bytes[1])
        {
            throw .unsupported(
                format: .pgm,
                reason: "netpbm P\(Character(Unicode.Scalar(bytes[1]))) is not taken; send binary PGM (P5), PNG or JPEG"
            )
        }
        guard bytes.starts(with: Array("P5".utf8)) else {
            throw .damaged(format: .pgm, reason: "the file does not begin with P5")
        }
        var position = 2
        func number(_ name: String) throws(ImageError) -> Int {
            // Whitespace and comments before the number; at least one separator after the magic or field.
            let start = position
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "#") {
                    while position < bytes.count, bytes[position] != UInt8(ascii: "\n") { position += 1 }
                } else if Self.isWhitespace(byte) {
                    position += 1
                } else {
                    break
                }
            }
            guard position < bytes.count else { throw .damaged(format: .pgm, reason: "premature end of the header") }
            guard position > start else { throw .damaged(format: .pgm, reason: "no space before the \(name)") }
            var value = 0
            var digits = 0
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                value = value * 10 + Int(bytes[position] - UInt8(ascii: "0"))
                digits += 1
                position += 1
                guard value <= 1 << 31 else {
                    throw .damaged(format: .pgm, reason: "the \(name) is too large a number")
                }
            }
            guard digits > 0 else {
                throw .damaged(
                    format: .pgm,
                    reason: position < bytes.count ? "the \(name) is not a number" : "premature end of the header")
            }
            return value
        }
        let width = try number("width")
        let height = try number("height")
        let maxValue = try number("largest value")
        guard width > 0, height > 0 else {
            throw .damaged(format: .pgm, reason: "the image is \(width)x\(height) pixels; it has none")
        }
        guard (1...65535).contains(maxValue) else {
            throw .damaged(format: .pgm, reason: "the largest value is \(maxValue); it must be from 1 to 65535")
        }
        guard width <= limits.maxSide, height <= limits.maxSide else {
            throw .tooLarge(format: .pgm, width: width, height: height, maxSide: limits.maxSide)
        }
        guard width * height <= limits.maxDecodedBytes else {
            throw .decodedTooLarge(
                format: .pgm, width: width, height: height, bytes: width * height, limit: limits.maxDecodedBytes)
        }
        guard position < bytes.count, Self.isWhitespace(bytes[position]) else {
            throw .damaged(format: .pgm, reason: "no whitespace between the header and the samples")
        }
        position += 1
        let sampleBytes = maxValue < 256 ? 1 : 2
        let expected = width * height * sampleBytes
        let available = bytes.count - position
        guard available >= expected else {
            throw .damaged(
                format: .pgm, reason: "premature end of data: \(available) bytes of samples, \(expected) expected")
        }
        guard available == expected else {
            throw .damaged(
                format: .pgm,
                reason: "\(available - expected) bytes follow the \(expected) bytes of samples; send one image per file"
            )
        }
        var levels = [UInt8](repeating: 0, count: width * height)
        for index in 0..<levels.count {
            let sample =
                sampleBytes == 1
                ? Int(bytes[position + index])
                : Int(bytes[position + 2 * index]) << 8 | Int(bytes[position + 2 * index + 1])
            // A sample above the largest value is damage; it is read as full white rather than refused.
            levels[index] = UInt8((min(sample, maxValue) * 255 + maxValue / 2) / maxValue)
        }
        return GreyImage(width: width, height: height, levels: levels)
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }
}
