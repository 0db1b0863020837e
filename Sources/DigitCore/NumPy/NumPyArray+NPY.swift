extension NumPyArray {
    /// The magic string every `.npy` file starts with.
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Reads a `.npy` file (format versions 1.0 to 3.0, C order, the dtypes of ``DType``).
    public static func load(contentsOf path: String) throws(FileError) -> NumPyArray {
        let bytes = try FileIO.read(path)
        do {
            return try NumPyArray(npyBytes: bytes)
        } catch {
            throw FileError(path: path, reason: error)
        }
    }

    /// Writes a `.npy` file that `np.load` reads back unchanged.
    public func save(to path: String) throws(FileError) {
        try FileIO.write(npyBytes(), to: path)
    }

    /// Decodes the bytes of a `.npy` file, refusing anything it cannot represent exactly.
    public init(npyBytes bytes: [UInt8]) throws(NumPyError) {
        guard bytes.count >= 8, Array(bytes[0..<6]) == Self.magic else { throw .notNumPyFile }
        let major = bytes[6]
        let minor = bytes[7]
        let lengthFieldSize: Int
        switch (major, minor) {
        case (1, 0): lengthFieldSize = 2
        case (2, 0), (3, 0): lengthFieldSize = 4
        default: throw .unsupportedVersion(major: major, minor: minor)
        }
        let prefixSize = 8 + lengthFieldSize
        guard bytes.count >= prefixSize else {
            throw .truncatedHeader(declared: lengthFieldSize, available: bytes.count - 8)
        }
        var headerLength = 0
        for offset in 0..<lengthFieldSize { headerLength |= Int(bytes[8 + offset]) << (8 * offset) }
        guard bytes.count - prefixSize >= headerLength else {
            throw .truncatedHeader(declared: headerLength, available: bytes.count - prefixSize)
        }
        var headerBytes = Array(bytes[prefixSize..<prefixSize + headerLength])
        guard headerBytes.last == UInt8(ascii: "\n") else { throw .malformedHeader("it does not end with a newline") }
        while let last = headerBytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: " ") {
            headerBytes.removeLast()
        }
        let header = try NumPyHeader(parsing: headerBytes)
        let dtype = try DType(descr: header.descr)
        guard !header.fortranOrder else { throw .fortranOrder }

        let dataStart = prefixSize + headerLength
        let count = try Self.elementCount(of: header.shape)
        let (expectedBytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        let actualBytes = bytes.count - dataStart
        guard !overflow, expectedBytes == actualBytes else {
            throw .dataSizeMismatch(
                shape: header.shape, dtype: dtype.rawValue, expectedBytes: overflow ? Int.max : expectedBytes,
                actualBytes: actualBytes)
        }
        let elements = bytes.withUnsafeBytes { raw in
            Self.decodeElements(UnsafeRawBufferPointer(rebasing: raw[dataStart...]), as: dtype, count: count)
        }
        try self.init(shape: header.shape, elements: elements)
    }

    /// The bytes of a `.npy` file: version 1.0 unless the header needs 2.0, padded so the data is 64-byte aligned.
    public func npyBytes() -> [UInt8] {
        let headerText = NumPyHeader(descr: dtype.rawValue, fortranOrder: false, shape: shape).text
        var header = Array(headerText.utf8)
        let needsVersion2 = header.count + 1 + 10 > Int(UInt16.max)
        let prefixSize = needsVersion2 ? 12 : 10
        let padding = (64 - (prefixSize + header.count + 1) % 64) % 64
        header += [UInt8](repeating: UInt8(ascii: " "), count: padding) + [UInt8(ascii: "\n")]

        var bytes = Self.magic + [needsVersion2 ? 2 : 1, 0]
        for offset in 0..<(prefixSize - 8) { bytes.append(UInt8(truncatingIfNeeded: header.count >> (8 * offset))) }
        bytes += header
        bytes.reserveCapacity(bytes.count + count * dtype.byteSize)
        switch elements {
        case .float32(let values): for value in values { Self.appendLittleEndian(value.bitPattern, to: &bytes) }
        case .float64(let values): for value in values { Self.appendLittleEndian(value.bitPattern, to: &bytes) }
        case .uint8(let values): bytes += values
        case .int32(let values): for value in values { Self.appendLittleEndian(UInt32(bitPattern: value), to: &bytes) }
        case .int64(let values): for value in values { Self.appendLittleEndian(UInt64(bitPattern: value), to: &bytes) }
        }
        return bytes
    }

    private static func elementCount(of shape: [Int]) throws(NumPyError) -> Int {
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw .invalidShape("\(shapeText(shape)) has too many elements") }
            count = product
        }
        return count
    }

    private static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    private static func decodeElements(_ raw: UnsafeRawBufferPointer, as dtype: DType, count: Int) -> Elements {
        func read<T: FixedWidthInteger>(_: T.Type) -> [T] {
            (0..<count).map {
                T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self))
            }
        }
        switch dtype {
        case .float32: return .float32(read(UInt32.self).map(Float.init(bitPattern:)))
        case .float64: return .float64(read(UInt64.self).map(Double.init(bitPattern:)))
        case .uint8: return .uint8(Array(raw))
        case .int32: return .int32(read(Int32.self))
        case .int64: return .int64(read(Int64.self))
        }
    }
}
