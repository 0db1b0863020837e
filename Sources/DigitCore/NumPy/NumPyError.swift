/// Why a `.npy` or `.npz` file was refused. Each message says what is wrong and, where it helps, how to fix it.
public enum NumPyError: Error, Equatable, Sendable, CustomStringConvertible {
    case notNumPyFile
    case unsupportedVersion(major: UInt8, minor: UInt8)
    case truncatedHeader(declared: Int, available: Int)
    case malformedHeader(String)
    case unsupportedDType(String)
    case bigEndian(String)
    case fortranOrder
    case invalidShape(String)
    case dataSizeMismatch(shape: [Int], dtype: String, expectedBytes: Int, actualBytes: Int)
    case notZipArchive(String)
    case unsupportedArchive(String)
    case corruptArchive(String)
    case missingEntry(String, available: [String])

    public var description: String {
        switch self {
        case .notNumPyFile:
            "not a NumPy .npy file (it does not start with the \\x93NUMPY magic string)"
        case .unsupportedVersion(let major, let minor):
            "unsupported .npy format version \(major).\(minor); versions 1.0, 2.0 and 3.0 are supported"
        case .truncatedHeader(let declared, let available):
            "truncated .npy header: it declares \(declared) bytes but only \(available) follow"
        case .malformedHeader(let reason):
            "malformed .npy header: \(reason)"
        case .unsupportedDType(let descr):
            "unsupported dtype '\(descr)'; supported: "
                + NumPyArray.DType.allCases.map(\.rawValue).joined(separator: ", ")
                + " (convert with array.astype(np.float32))"
        case .bigEndian(let descr):
            "big-endian dtype '\(descr)' is not supported; save little-endian data (array.astype(array.dtype.newbyteorder('<')))"
        case .fortranOrder:
            "Fortran-ordered arrays are not supported; save a C-ordered array (np.ascontiguousarray(array))"
        case .invalidShape(let reason):
            "invalid shape: \(reason)"
        case .dataSizeMismatch(let shape, let dtype, let expected, let actual):
            "the header declares shape \(shapeText(shape)) of \(dtype), which is \(expected) bytes of data, but the file "
                + (actual < expected ? "is truncated: it holds \(actual)" : "holds \(actual) (trailing bytes)")
        case .notZipArchive(let reason):
            "not an .npz archive: \(reason)"
        case .unsupportedArchive(let reason):
            "unsupported .npz archive: \(reason)"
        case .corruptArchive(let reason):
            "corrupt .npz archive: \(reason)"
        case .missingEntry(let name, let available):
            "the archive has no array named '\(name)'; it holds: \(available.isEmpty ? "nothing" : available.joined(separator: ", "))"
        }
    }
}

/// A shape as Python prints it: `(3, 4)`, `(5,)`, `()`.
func shapeText(_ shape: [Int]) -> String {
    shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
}
