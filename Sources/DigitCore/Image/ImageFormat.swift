/// The picture formats a digit may be sent in.
public enum ImageFormat: String, Sendable, CaseIterable {
    case png = "PNG"
    case jpeg = "JPEG"
    /// Binary PGM (`P5`), the simplest grey format: a text header and the samples.
    case pgm = "PGM"

    /// The media type a request declares it with.
    public var mediaType: String {
        switch self {
        case .png: "image/png"
        case .jpeg: "image/jpeg"
        case .pgm: "image/x-portable-graymap"
        }
    }

    /// The format of a declared media type (its parameters ignored, letter case too); `image/jpg`, a common
    /// misspelling, and `image/pjpeg`, an old browser's progressive JPEG, are JPEG.
    ///
    /// Every `POST /predict` asks this of its `Content-Type`, nearly always `application/json`, so it works
    /// on the UTF-8 bytes and gives up at the first byte that is not `image/`: the generic reversed-slice
    /// version it replaces cost 77,000 instructions a request, 40 % of a whole prediction.
    public init?(mediaType: String) {
        // Nearly every request is JSON: it is told apart by its first byte, before anything is copied.
        guard let first = mediaType.utf8.first(where: { $0 != 0x20 && $0 != 0x09 }), first | 0x20 == UInt8(ascii: "i")
        else { return nil }
        let bytes = Array(mediaType.utf8)
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
        let lowercased: (UInt8) -> UInt8 = { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
        // Spaces and tabs around the type are dropped; inside it ("image /png") they make it no type taken,
        // as they do for the server's choice of thread (`Content-Type` beginning with `image/`).
        var start = 0
        var end = bytes.firstIndex(of: UInt8(ascii: ";")) ?? bytes.count
        while start < end && isSpace(bytes[start]) { start += 1 }
        while end > start && isSpace(bytes[end - 1]) { end -= 1 }
        let prefix = "image/".utf8
        guard end - start >= prefix.count, zip(bytes[start...], prefix).allSatisfy({ lowercased($0) == $1 })
        else { return nil }
        // ASCII letters in lower case; other bytes as they are, so no non-ASCII type can match.
        switch String(decoding: bytes[start..<end].map(lowercased), as: UTF8.self) {
        case "image/png": self = .png
        case "image/jpeg", "image/jpg", "image/pjpeg": self = .jpeg
        case "image/x-portable-graymap", "image/x-portable-anymap": self = .pgm
        default: return nil
        }
    }

    /// The format whose signature `bytes` begin with.
    public init?(sniffing bytes: some Collection<UInt8>) {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else if bytes.count >= 2, bytes.first == UInt8(ascii: "P"),
            (UInt8(ascii: "1")...UInt8(ascii: "7")).contains(bytes[bytes.index(after: bytes.startIndex)])
        {
            // Every netpbm format ("P1" to "P7"), so that the PGM decoder can say which one it is and that
            // only binary PGM (P5) is taken.
            self = .pgm
        } else {
            return nil
        }
    }

    /// "image/png, image/jpeg or image/x-portable-graymap", for messages.
    public static var mediaTypeList: String {
        let types = allCases.map(\.mediaType)
        return types.dropLast().joined(separator: ", ") + " or " + types.last!
    }
}
