import Glibc

/// RFC 8259 numbers: the grammar, checked strictly, and the conversion to the nearest Double.
///
/// Shared by ``JSONParser`` and the service's request-body fast path, so that both accept the same
/// numbers and give the same values to the last bit.
public enum JSONNumber {
    /// Why a number token is malformed.
    public enum Problem: Error, Equatable, Sendable {
        case missingDigit
        case leadingZero
        case missingFractionDigit
        case missingExponentDigit
        /// The number's magnitude is beyond a Double's (about 1.8e308): RFC 8259 §6 lets an implementation
        /// limit the range, and an infinity must never stand in for what the client wrote.
        case outOfRange

        public var message: String {
            switch self {
            case .outOfRange: "a number is too large for a 64-bit float; its magnitude must be below 1.8e308"
            case .missingDigit: "a number needs a digit after '-'"
            case .leadingZero: "numbers must not have leading zeros"
            case .missingFractionDigit: "a decimal point must be followed by a digit"
            case .missingExponentDigit: "an exponent needs at least one digit"
            }
        }
    }

    @inlinable static var zero: UInt8 { UInt8(ascii: "0") }

    /// Reads the number starting at `index` (a `-` or a digit) and moves `index` past it.
    ///
    /// Clinger's fast path handles what real data holds (up to 15 significant digits, small exponents): an
    /// exact integer times or divided by an exact power of ten is correctly rounded by one IEEE operation.
    /// Anything else goes to `strtod`, which rounds correctly too.
    @inlinable
    public static func scan(_ bytes: UnsafeBufferPointer<UInt8>, at index: inout Int) -> Result<Double, Problem> {
        let start = index
        let count = bytes.count
        var negative = false
        if index < count && bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard index < count, isDigit(bytes[index]) else { return .failure(.missingDigit) }
        var mantissa: UInt64 = 0
        var significantDigits = 0
        var fractionDigitsKept = 0
        if bytes[index] == zero {
            index += 1
            if index < count && isDigit(bytes[index]) { return .failure(.leadingZero) }
        } else {
            while index < count, isDigit(bytes[index]) {
                if significantDigits < 19 { mantissa = mantissa &* 10 &+ UInt64(bytes[index] &- zero) }
                significantDigits += 1
                index += 1
            }
        }
        if index < count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < count, isDigit(bytes[index]) else { return .failure(.missingFractionDigit) }
            while index < count, isDigit(bytes[index]) {
                let digit = bytes[index] &- zero
                if mantissa == 0 && digit == 0 {
                    // Leading zeros of the fraction are not significant; they only move the point.
                    fractionDigitsKept += 1
                } else if significantDigits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(digit)
                    significantDigits += 1
                    fractionDigitsKept += 1
                } else {
                    significantDigits += 1
                }
                index += 1
            }
        }
        var exponent = 0
        if index < count && (bytes[index] | 0x20) == UInt8(ascii: "e") {
            index += 1
            var exponentNegative = false
            if index < count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            guard index < count, isDigit(bytes[index]) else { return .failure(.missingExponentDigit) }
            while index < count, isDigit(bytes[index]) {
                if exponent < 100_000 { exponent = exponent * 10 + Int(bytes[index] &- zero) }
                index += 1
            }
            if exponentNegative { exponent = -exponent }
        }
        let power = exponent - fractionDigitsKept
        if significantDigits <= 15 && power >= -22 && power <= 22 {
            let magnitude = Double(mantissa)
            let value = power >= 0 ? magnitude * powerOfTen(power) : magnitude / powerOfTen(-power)
            return .success(negative ? -value : value)
        }
        let value = strtodValue(bytes, from: start, to: index)
        return value.isFinite ? .success(value) : .failure(.outOfRange)
    }

    @inlinable
    static func isDigit(_ byte: UInt8) -> Bool { byte &- zero < 10 }

    /// 10^exponent for 0 ≤ exponent ≤ 22, exactly (a switch, so no lazily initialised table is consulted
    /// on the request path).
    @inlinable
    public static func powerOfTen(_ exponent: Int) -> Double {
        switch exponent {
        case 0: 1e0
        case 1: 1e1
        case 2: 1e2
        case 3: 1e3
        case 4: 1e4
        case 5: 1e5
        case 6: 1e6
        case 7: 1e7
        case 8: 1e8
        case 9: 1e9
        case 10: 1e10
        case 11: 1e11
        case 12: 1e12
        case 13: 1e13
        case 14: 1e14
        case 15: 1e15
        case 16: 1e16
        case 17: 1e17
        case 18: 1e18
        case 19: 1e19
        case 20: 1e20
        case 21: 1e21
        default: 1e22
        }
    }

    @usableFromInline
    static func strtodValue(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Double {
        let length = end - start
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { buffer in
            for offset in 0..<length { buffer[offset] = CChar(bitPattern: bytes[start + offset]) }
            buffer[length] = 0
            return strtod(buffer.baseAddress!, nil)
        }
    }
}
