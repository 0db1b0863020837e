/// Why a picture cannot become a model's input. Each message says what is wrong and what to send instead.
public enum ImageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The declared width or height is over the limit (a "bomb": a small file of a huge image).
    case tooLarge(format: ImageFormat, width: Int, height: Int, maxSide: Int)
    /// The decoded pixels would take more bytes than allowed.
    case decodedTooLarge(format: ImageFormat, width: Int, height: Int, bytes: Int, limit: Int)
    /// The decoder's own limit on work (a JPEG's progressive scans).
    case tooComplex(format: ImageFormat, reason: String)
    /// The file is damaged, cut short or not of its format; `reason` is the decoder's.
    case damaged(format: ImageFormat, reason: String)
    /// A valid file of a kind that is not taken (a CMYK JPEG, an ASCII PGM).
    case unsupported(format: ImageFormat, reason: String)
    /// Bytes of no format taken.
    case unknownFormat(firstBytes: [UInt8])
    /// A picture with nothing on it to read: one shade, or too little contrast.
    case noInk(reason: String)
    case outOfMemory(format: ImageFormat)

    /// What kind of refusal: the status a server answers with follows from it.
    public enum Kind: Sendable {
        /// Over a limit: 413.
        case tooLarge
        /// Not a readable picture of a digit: 422.
        case unreadable
        /// Not a format or variant that is taken: 415.
        case unsupported
    }

    public var kind: Kind {
        switch self {
        case .tooLarge, .decodedTooLarge, .tooComplex, .outOfMemory: .tooLarge
        case .damaged, .noInk: .unreadable
        case .unsupported, .unknownFormat: .unsupported
        }
    }

    public var description: String {
        switch self {
        case .tooLarge(let format, let width, let height, let maxSide):
            "\(format.rawValue): the image is \(width)x\(height) pixels; at most \(maxSide)x\(maxSide) are taken: scale it down (a digit needs no more than a few hundred pixels a side)"
        case .decodedTooLarge(let format, let width, let height, let bytes, let limit):
            "\(format.rawValue): the \(width)x\(height) image would take \(bytes) bytes decoded, over the limit of \(limit): send a smaller image"
        case .tooComplex(let format, let reason):
            "\(format.rawValue): \(reason): save it again as a baseline (non-progressive) file"
        case .damaged(let format, let reason):
            "\(format.rawValue): \(reason): the file is damaged or cut short; send it again or export it again"
        case .unsupported(let format, let reason):
            "\(format.rawValue): \(reason)"
        case .unknownFormat(let firstBytes):
            "the body is not a PNG, JPEG or binary PGM (P5) image"
                + (firstBytes.isEmpty ? " (it is empty)" : " (it begins with bytes \(Self.hex(firstBytes)))")
        case .noInk(let reason):
            "no ink found: \(reason); send a picture of one digit, dark on light or light on dark"
        case .outOfMemory(let format):
            "\(format.rawValue): not enough memory to decode the image; send a smaller one"
        }
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        bytes.prefix(8).map { byte in
            let digits = String(byte, radix: 16, uppercase: true)
            return byte < 16 ? "0" + digits : digits
        }.joined(separator: " ")
    }
}
