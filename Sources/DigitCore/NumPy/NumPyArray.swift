/// An n-dimensional array as NumPy stores it in a `.npy` file: a shape and its elements in C (row-major) order.
public struct NumPyArray: Equatable, Sendable {
    /// The element values, kept in the type the file declared so a round trip loses nothing.
    public enum Elements: Equatable, Sendable {
        case float32([Float])
        case float64([Double])
        case uint8([UInt8])
        case int32([Int32])
        case int64([Int64])
    }

    public let shape: [Int]
    public let elements: Elements

    /// Creates an array, checking that the shape accounts for every element.
    public init(shape: [Int], elements: Elements) throws(NumPyError) {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw .invalidShape("dimensions must not be negative: \(shape)") }
        let (count, overflow) = shape.reduce((1, false)) { partial, dimension in
            let product = partial.0.multipliedReportingOverflow(by: dimension)
            return (product.partialValue, partial.1 || product.overflow)
        }
        guard !overflow, count == elements.count else {
            throw .invalidShape("shape \(shape) does not hold \(elements.count) elements")
        }
        self.shape = shape
        self.elements = elements
    }

    public init(shape: [Int], floats: [Float]) throws(NumPyError) {
        try self.init(shape: shape, elements: .float32(floats))
    }

    /// The NumPy dtype string (`<f4`, `|u1`, ...) of the elements.
    public var dtype: DType { elements.dtype }

    public var count: Int { elements.count }

    /// The elements as 32-bit floats, converting from whatever type the file holds.
    public func floats() -> [Float] {
        switch elements {
        case .float32(let values): values
        case .float64(let values): values.map { Float($0) }
        case .uint8(let values): values.map { Float($0) }
        case .int32(let values): values.map { Float($0) }
        case .int64(let values): values.map { Float($0) }
        }
    }

    /// The elements as integers; `nil` when the array holds floating-point numbers,
    /// because a label of 2.5 is a mistake to report rather than to round.
    public func integers() -> [Int]? {
        switch elements {
        case .float32, .float64: nil
        case .uint8(let values): values.map { Int($0) }
        case .int32(let values): values.map { Int($0) }
        case .int64(let values): values.map { Int($0) }
        }
    }
}

extension NumPyArray.Elements {
    public var count: Int {
        switch self {
        case .float32(let values): values.count
        case .float64(let values): values.count
        case .uint8(let values): values.count
        case .int32(let values): values.count
        case .int64(let values): values.count
        }
    }

    public var dtype: NumPyArray.DType {
        switch self {
        case .float32: .float32
        case .float64: .float64
        case .uint8: .uint8
        case .int32: .int32
        case .int64: .int64
        }
    }
}

extension NumPyArray {
    /// The element types this package reads and writes, little-endian as NumPy writes them on common machines.
    public enum DType: String, CaseIterable, Sendable {
        case float32 = "<f4"
        case float64 = "<f8"
        case uint8 = "|u1"
        case int32 = "<i4"
        case int64 = "<i8"

        public var byteSize: Int {
            switch self {
            case .uint8: 1
            case .float32, .int32: 4
            case .float64, .int64: 8
            }
        }

        /// Reads a dtype from a header's `descr`. A byte order of `=` (native) or, for single bytes, `<` and `|`
        /// are accepted as the same thing; big-endian data is refused with its own message.
        init(descr: String) throws(NumPyError) {
            var normalized = descr
            if normalized.hasPrefix("=") { normalized = "<" + normalized.dropFirst() }
            if normalized == "<u1" { normalized = "|u1" }
            if let type = DType(rawValue: normalized) {
                self = type
                return
            }
            if descr.hasPrefix(">") && descr.count > 2 { throw .bigEndian(descr) }
            throw .unsupportedDType(descr)
        }
    }
}
