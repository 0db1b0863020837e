import JSON

/// The request path's fast reader: the bodies of `/predict` and `/predict/batch`, read straight into
/// floats in one pass, with no JSON tree and no allocation but the result.
///
/// It accepts only documents that the full path (``JSONParser`` then ``JSONImageReader``) would accept, and
/// gives the same floats: it checks the whole JSON grammar, reads numbers with the same ``JSONNumber``
/// code, and applies ``ImageInput``'s rules (the shape, and ``ImageInput/isValidPixel(_:)`` for each number). Anything it does not handle itself — an error
/// of any kind, escapes in member names, repeated members — makes it return `nil`, and the full path then
/// reads the body again and explains the problem. Clients pay for the slow path only when they err.
struct FastImageReader {
    let input: ImageInput
    var rows: Int { input.rows }
    var columns: Int { input.columns }
    var pixelCount: Int { input.pixelCount }
    /// A row of zeros to append in one copy, instead of element by element.
    private let zeroRow: [Float]

    init(input: ImageInput) {
        self.input = input
        zeroRow = [Float](repeating: 0, count: input.pixelCount)
    }

    /// The image of `{"pixels": [...]}` or `{"image": [[...], ...]}`, or `nil` to take the full path.
    func singleImage(_ body: [UInt8]) -> [Float]? {
        body.withUnsafeBufferPointer { bytes in
            var cursor = FastCursor(bytes: bytes)
            var pixels: [Float] = []
            guard cursor.expect(UInt8(ascii: "{")) else { return nil }
            guard let key = cursor.memberName() else { return nil }
            switch key {
            case .pixels: guard readFlat(&cursor, into: &pixels) else { return nil }
            case .image: guard readNested(&cursor, into: &pixels) else { return nil }
            case .images: return nil
            }
            guard cursor.expect(UInt8(ascii: "}")), cursor.atEnd() else { return nil }
            return pixels
        }
    }

    /// The images of `{"images": [...]}`, or `nil` to take the full path (which also enforces the limit).
    func batch(_ body: [UInt8], limit: Int) -> (pixels: [Float], count: Int)? {
        body.withUnsafeBufferPointer { bytes -> (pixels: [Float], count: Int)? in
            var cursor = FastCursor(bytes: bytes)
            guard cursor.expect(UInt8(ascii: "{")), cursor.memberName() == .images else { return nil }
            guard cursor.expect(UInt8(ascii: "[")) else { return nil }
            // An image is at least 2 × pixelCount bytes ("0," each), which bounds the count before parsing.
            var pixels: [Float] = []
            pixels.reserveCapacity(min(limit, bytes.count / (2 * pixelCount) + 1) * pixelCount)
            var count = 0
            repeat {
                count += 1
                guard count <= limit, cursor.peek() == UInt8(ascii: "[") else { return nil }
                if cursor.peekSecond() == UInt8(ascii: "[") {
                    guard readNested(&cursor, into: &pixels) else { return nil }
                } else {
                    guard readFlat(&cursor, into: &pixels) else { return nil }
                }
            } while cursor.expect(UInt8(ascii: ","))
            guard cursor.expect(UInt8(ascii: "]")), cursor.expect(UInt8(ascii: "}")), cursor.atEnd() else { return nil }
            return (pixels, count)
        }
    }

    /// `[n, n, ...]` of exactly `pixelCount` numbers from 0 to 1.
    private func readFlat(_ cursor: inout FastCursor, into pixels: inout [Float]) -> Bool {
        readNumbers(&cursor, count: pixelCount, into: &pixels)
    }

    /// `[[...], ...]` of `rows` rows of `columns` numbers from 0 to 1.
    private func readNested(_ cursor: inout FastCursor, into pixels: inout [Float]) -> Bool {
        guard cursor.expect(UInt8(ascii: "[")) else { return false }
        for row in 0..<rows {
            if row > 0 && !cursor.expect(UInt8(ascii: ",")) { return false }
            guard readNumbers(&cursor, count: columns, into: &pixels) else { return false }
        }
        return cursor.expect(UInt8(ascii: "]"))
    }

    /// `[n, n, ...]` of exactly `count` numbers from 0 to 1, appended to `pixels`.
    private func readNumbers(_ cursor: inout FastCursor, count: Int, into pixels: inout [Float]) -> Bool {
        guard cursor.expect(UInt8(ascii: "[")) else { return false }
        let start = pixels.count
        pixels.append(contentsOf: zeroRow[0..<count])
        let complete = pixels.withUnsafeMutableBufferPointer { buffer -> Bool in
            var output = buffer.baseAddress! + start
            var remaining = count
            while remaining > 0 {
                // Blank paper, "0,", is taken with its comma, 8 or 4 pixels at a time where it runs on (the
                // floats are already 0 in `output`); never the last pixel, which a "]" must follow.
                if remaining > 1, let zeros = cursor.zeroPixels(atMost: remaining - 1) {
                    output += zeros
                    remaining -= zeros
                    continue
                }
                guard let value = cursor.pixel() else { return false }
                output.pointee = value
                output += 1
                remaining -= 1
                if remaining > 0 && !cursor.separator() { return false }
            }
            return true
        }
        return complete && cursor.expect(UInt8(ascii: "]"))
    }
}

/// A position in the body and the few token readers the fast path needs.
private struct FastCursor {
    enum Member {
        case pixels
        case image
        case images
    }

    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    @inline(__always)
    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    /// Skips whitespace and consumes `byte` if it is next.
    @inline(__always)
    mutating func expect(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// The comma between two array elements; compact JSON has it right there.
    @inline(__always)
    mutating func separator() -> Bool {
        if index < bytes.count && bytes[index] == UInt8(ascii: ",") {
            index += 1
            return true
        }
        return expect(UInt8(ascii: ","))
    }

    mutating func peek() -> UInt8? {
        skipWhitespace()
        return index < bytes.count ? bytes[index] : nil
    }

    /// Consumes the zero pixels and their commas that come next, `0,0,0,0,0,0,0,0,` (8), `0,0,0,0,` (4) or
    /// `0,` (1), at most `limit` of them, and returns how many; `nil` when the next pixel is no `0,`. Read as
    /// little-endian integers: one or two 8-byte comparisons instead of a byte at a time. (A `SIMD16`
    /// comparison reads better but compiles to a generic lane-by-lane loop.)
    @inline(__always)
    mutating func zeroPixels(atMost limit: Int) -> Int? {
        let available = bytes.count - index
        guard available >= 2 else { return nil }
        let raw = UnsafeRawPointer(bytes.baseAddress! + index)
        guard raw.loadUnaligned(as: UInt16.self) == 0x2C30 else { return nil }
        // "0,0,0,0," as a little-endian UInt64.
        let fourZeros: UInt64 = 0x2C30_2C30_2C30_2C30
        var zeros = 1
        if limit >= 4 && available >= 8 && raw.loadUnaligned(as: UInt64.self) == fourZeros {
            zeros = 4
            if limit >= 8 && available >= 16 && raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == fourZeros {
                zeros = 8
            }
        }
        index += 2 * zeros
        return zeros
    }

    /// The first non-whitespace byte after the next one (to tell `[[` from `[0`).
    func peekSecond() -> UInt8? {
        var probe = index + 1
        while probe < bytes.count,
            bytes[probe] == 0x20 || bytes[probe] == 0x0A || bytes[probe] == 0x0D || bytes[probe] == 0x09
        {
            probe += 1
        }
        return probe < bytes.count ? bytes[probe] : nil
    }

    mutating func atEnd() -> Bool {
        skipWhitespace()
        return index == bytes.count
    }

    /// `"pixels":`, `"image":` or `"images":`; anything else (other names, escapes) is for the full path.
    mutating func memberName() -> Member? {
        guard expect(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
            guard bytes[index] >= UInt8(ascii: "a"), bytes[index] <= UInt8(ascii: "z") else { return nil }
            index += 1
        }
        guard index < bytes.count else { return nil }
        let name = UnsafeBufferPointer(rebasing: bytes[start..<index])
        index += 1
        guard expect(UInt8(ascii: ":")) else { return nil }
        if name.elementsEqual("pixels".utf8) { return .pixels }
        if name.elementsEqual("image".utf8) { return .image }
        if name.elementsEqual("images".utf8) { return .images }
        return nil
    }

    /// A number from 0 to 1, as the full path reads and checks it.
    ///
    /// Pixels are mostly `0`, and otherwise `0.` and a few digits: those two forms are read here directly.
    /// For them ``JSONNumber/scan(_:at:)`` would compute exactly the same thing (a mantissa of at most 15
    /// digits divided by a power of ten, one correctly rounded operation); every other form goes to it.
    @inline(__always)
    mutating func pixel() -> Float? {
        let count = bytes.count
        guard index < count else { return nil }
        if bytes[index] <= 0x20 {
            skipWhitespace()
            guard index < count else { return nil }
        }
        let start = index
        if bytes[index] == UInt8(ascii: "0") {
            var probe = index + 1
            guard probe < count else { return nil }
            let next = bytes[probe]
            if next == UInt8(ascii: ".") {
                probe += 1
                if let (mantissa, digits, end) = Self.fractionDigits(bytes, from: probe),
                    end < count, Self.endsNumber(bytes[end])
                {
                    index = end
                    // At most 15 digits: below 2^53, so the signed conversion (one instruction) is exact.
                    return Float(Double(Int64(bitPattern: mantissa)) / JSONNumber.powerOfTen(digits))
                }
            } else if Self.endsNumber(next) {
                index = probe
                return 0
            }
        } else if bytes[index] == UInt8(ascii: "1"), index + 1 < count, Self.endsNumber(bytes[index + 1]) {
            index += 1
            return 1
        }
        index = start
        guard case .success(let value) = JSONNumber.scan(bytes, at: &index), ImageInput.isValidPixel(value) else {
            return nil
        }
        return Float(value)
    }

    /// The 1 to 15 digits at `start` as an integer, their count and the index after them; `nil` for none or
    /// more than 15 (the general reader takes those). Eight bytes are examined at a time (the SWAR method
    /// of Lemire's fast_float): one subtraction finds the digits, three multiplications add them up.
    @inline(__always)
    static func fractionDigits(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> (UInt64, Int, Int)? {
        var mantissa: UInt64 = 0
        var digits = 0
        var position = start
        while bytes.count - position >= 8 {
            let chunk = UnsafeRawPointer(bytes.baseAddress! + position).loadUnaligned(as: UInt64.self)
            let values = chunk &- 0x3030_3030_3030_3030
            // A byte's high bit is set here when it is not a digit; the first such byte ends the number.
            let notDigits = ((chunk &+ 0x4646_4646_4646_4646) | values) & 0x8080_8080_8080_8080
            let count = notDigits == 0 ? 8 : notDigits.trailingZeroBitCount >> 3
            guard count > 0 else { break }
            guard digits + count <= 15 else { return nil }
            // Keep the first `count` digits, at the top, so the empty places read as leading zeros.
            var value = count == 8 ? values : values << UInt64(8 * (8 - count))
            value = ((value & 0x0F0F_0F0F_0F0F_0F0F) &* 2561) >> 8
            value = ((value & 0x00FF_00FF_00FF_00FF) &* 6_553_601) >> 16
            value = ((value & 0x0000_FFFF_0000_FFFF) &* 42_949_672_960_001) >> 32
            mantissa = mantissa &* powerOfTenInteger(count) &+ value
            digits += count
            position += count
            if count < 8 { return digits > 0 ? (mantissa, digits, position) : nil }
        }
        // The last few bytes of the body, one at a time.
        while position < bytes.count, bytes[position] &- UInt8(ascii: "0") < 10 {
            guard digits < 15 else { return nil }
            mantissa = mantissa &* 10 &+ UInt64(bytes[position] &- UInt8(ascii: "0"))
            digits += 1
            position += 1
        }
        return digits > 0 ? (mantissa, digits, position) : nil
    }

    @inline(__always)
    static func powerOfTenInteger(_ exponent: Int) -> UInt64 {
        switch exponent {
        case 1: 10
        case 2: 100
        case 3: 1000
        case 4: 10000
        case 5: 100_000
        case 6: 1_000_000
        case 7: 10_000_000
        default: 100_000_000
        }
    }

    /// Whether `byte` can follow a number inside an array: a separator, the end, or whitespace.
    @inline(__always)
    static func endsNumber(_ byte: UInt8) -> Bool {
        // The six bytes as bits of two masks (tab, LF, CR, space and comma below 64; "]" above), tested
        // with a shift instead of six comparisons.
        let low: UInt64 = 1 << 0x09 | 1 << 0x0A | 1 << 0x0D | 1 << 0x20 | 1 << 0x2C
        let high: UInt64 = 1 << (0x5D - 64)
        return byte < 64 ? low >> UInt64(byte) & 1 != 0 : byte < 128 && high >> UInt64(byte - 64) & 1 != 0
    }
}
