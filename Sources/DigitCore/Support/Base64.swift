/// Base64 (RFC 4648, section 4), strict: the standard alphabet, padding required, nothing else allowed
/// (no line breaks or spaces), so that one byte sequence has exactly one text. DigitCore needs no
/// Foundation, and a model file's reader wants to say where a text went wrong.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Each byte's value in the alphabet, 255 for bytes outside it.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 255, count: 256)
        for (index, character) in alphabet.enumerated() { table[Int(character)] = UInt8(index) }
        return table
    }()

    static func encode(_ bytes: [UInt8]) -> String {
        var text: [UInt8] = []
        text.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let count = min(3, bytes.count - index)
            let b0 = UInt32(bytes[index])
            let b1 = count > 1 ? UInt32(bytes[index + 1]) : 0
            let b2 = count > 2 ? UInt32(bytes[index + 2]) : 0
            let group = b0 << 16 | b1 << 8 | b2
            text.append(alphabet[Int(group >> 18 & 63)])
            text.append(alphabet[Int(group >> 12 & 63)])
            text.append(count > 1 ? alphabet[Int(group >> 6 & 63)] : UInt8(ascii: "="))
            text.append(count > 2 ? alphabet[Int(group & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The bytes, or why the text is not strict Base64 (with the offending character's position).
    static func decode(_ text: String) -> Result<[UInt8], Base64Error> {
        let characters = Array(text.utf8)
        guard characters.count % 4 == 0 else { return .failure(.length(characters.count)) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(characters.count / 4 * 3)
        var index = 0
        while index < characters.count {
            // Only the last group may end in "=" or "==".
            var padding = 0
            if index + 4 == characters.count, characters[index + 3] == UInt8(ascii: "=") {
                padding = characters[index + 2] == UInt8(ascii: "=") ? 2 : 1
            }
            var group: UInt32 = 0
            for offset in 0..<(4 - padding) {
                let value = values[Int(characters[index + offset])]
                guard value != 255 else { return .failure(.character(position: index + offset)) }
                group = group << 6 | UInt32(value)
            }
            group <<= UInt32(6 * padding)
            bytes.append(UInt8(group >> 16 & 255))
            if padding < 2 { bytes.append(UInt8(group >> 8 & 255)) }
            if padding < 1 { bytes.append(UInt8(group & 255)) }
            // Bits below the data must be zero: otherwise two texts would give the same bytes.
            let unused = padding == 2 ? group & 0xFFFF : padding == 1 ? group & 0xFF : 0
            guard unused == 0 else { return .failure(.character(position: index + 3 - padding)) }
            index += 4
        }
        return .success(bytes)
    }
}

enum Base64Error: Error, Equatable, CustomStringConvertible {
    case length(Int)
    case character(position: Int)

    var description: String {
        switch self {
        case .length(let count): "is \(count) characters long; Base64 comes in groups of 4 (padded with '=')"
        case .character(let position): "has a character that is not strict Base64 at position \(position)"
        }
    }
}
