import CZlib

/// A NumPy `.npz` archive: a ZIP file of `.npy` entries, as `np.savez` (stored) and
/// `np.savez_compressed` (deflate) write it.
///
/// Only what NumPy writes is read: stored and deflate entries, ZIP64 sizes and offsets, no encryption,
/// no multi-disk archives. Every entry's CRC-32 is checked, and a declared size is never trusted
/// beyond what the compressed bytes could hold, so a hostile archive cannot make us allocate gigabytes.
public struct NumPyArchive: Sendable {
    /// The arrays by name, without the `.npy` suffix (`W1`, `b1`, ...).
    public let arrays: [String: NumPyArray]

    /// The names of the arrays, sorted.
    public var names: [String] { arrays.keys.sorted() }

    public init(arrays: [String: NumPyArray]) {
        self.arrays = arrays
    }

    /// Reads an `.npz` file.
    public static func load(contentsOf path: String) throws(FileError) -> NumPyArchive {
        let bytes = try FileIO.read(path)
        do {
            return try NumPyArchive(npzBytes: bytes)
        } catch {
            throw FileError(path: path, reason: error)
        }
    }

    /// The array called `name`, or an error that lists the names the archive does hold.
    public func array(named name: String) throws(NumPyError) -> NumPyArray {
        guard let array = arrays[name] else { throw .missingEntry(name, available: names) }
        return array
    }

    /// Decodes the bytes of an `.npz` file.
    public init(npzBytes bytes: [UInt8]) throws(NumPyError) {
        let reader = ByteReader(bytes: bytes)
        let directory = try CentralDirectory(locatingIn: reader)
        var arrays: [String: NumPyArray] = [:]
        var offset = directory.offset
        for _ in 0..<directory.entryCount {
            let entry = try ZipEntry(centralHeaderAt: offset, in: reader)
            offset = entry.nextCentralHeaderOffset
            guard entry.name.hasSuffix(".npy") else { continue }
            let name = String(entry.name.dropLast(4))
            guard arrays[name] == nil else { throw .corruptArchive("the entry '\(entry.name)' appears twice") }
            let content = try entry.content(in: reader)
            do {
                arrays[name] = try NumPyArray(npyBytes: content)
            } catch {
                throw .corruptArchive("entry '\(entry.name)': \(error)")
            }
        }
        self.arrays = arrays
    }
}

/// Bounds-checked little-endian reads; every out-of-range read is reported as a corrupt archive.
private struct ByteReader {
    let bytes: [UInt8]

    func integer<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, at offset: Int) throws(NumPyError) -> T {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset <= bytes.count - size else {
            throw .corruptArchive("a record at byte \(offset) runs past the end of the file")
        }
        var value: T = 0
        for index in 0..<size { value |= T(bytes[offset + index]) << (8 * index) }
        return value
    }

    func slice(at offset: Int, count: Int) throws(NumPyError) -> ArraySlice<UInt8> {
        guard offset >= 0, count >= 0, offset <= bytes.count, count <= bytes.count - offset else {
            throw .corruptArchive("\(count) bytes at byte \(offset) run past the end of the file")
        }
        return bytes[offset..<offset + count]
    }
}

/// Where the central directory is and how many entries it lists, from the end-of-central-directory record
/// (and its ZIP64 counterpart when the 32-bit fields are saturated).
private struct CentralDirectory {
    static let endSignature: UInt32 = 0x0605_4b50
    static let zip64LocatorSignature: UInt32 = 0x0706_4b50
    static let zip64EndSignature: UInt32 = 0x0606_4b50

    var entryCount: Int
    var offset: Int

    init(locatingIn reader: ByteReader) throws(NumPyError) {
        let bytes = reader.bytes
        guard bytes.count >= 22 else { throw .notZipArchive("the file is too short (\(bytes.count) bytes)") }
        // The record is 22 bytes plus a comment of at most 65,535 bytes, so search that far back only.
        var position = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65_535)
        while position >= lowest, try reader.integer(UInt32.self, at: position) != Self.endSignature { position -= 1 }
        guard position >= lowest else { throw .notZipArchive("no end-of-central-directory record") }

        let disk = try reader.integer(UInt16.self, at: position + 4)
        let directoryDisk = try reader.integer(UInt16.self, at: position + 6)
        var count = UInt64(try reader.integer(UInt16.self, at: position + 10))
        var directoryOffset = UInt64(try reader.integer(UInt32.self, at: position + 16))
        if count == 0xFFFF || directoryOffset == 0xFFFF_FFFF {
            let locator = position - 20
            guard locator >= 0, try reader.integer(UInt32.self, at: locator) == Self.zip64LocatorSignature else {
                throw .corruptArchive("saturated directory fields without a ZIP64 locator")
            }
            let zip64End = try reader.integer(UInt64.self, at: locator + 8)
            guard zip64End < UInt64(bytes.count),
                try reader.integer(UInt32.self, at: Int(zip64End)) == Self.zip64EndSignature
            else { throw .corruptArchive("the ZIP64 locator points at no ZIP64 record") }
            count = try reader.integer(UInt64.self, at: Int(zip64End) + 32)
            directoryOffset = try reader.integer(UInt64.self, at: Int(zip64End) + 48)
        } else {
            guard disk == 0, directoryDisk == 0 else {
                throw .unsupportedArchive("multi-disk archives are not supported")
            }
        }
        // Each central header takes at least 46 bytes, which bounds a lying count.
        guard directoryOffset < UInt64(bytes.count), count <= UInt64(bytes.count / 46) else {
            throw .corruptArchive("the central directory lies outside the file")
        }
        self.entryCount = Int(count)
        self.offset = Int(directoryOffset)
    }
}

/// One file in the archive, from its central-directory header.
private struct ZipEntry {
    static let centralSignature: UInt32 = 0x0201_4b50
    static let localSignature: UInt32 = 0x0403_4b50
    /// Deflate cannot expand data by more than this factor, so a larger declared size is a lie.
    static let maximumDeflateRatio = 1032

    var name: String
    var method: UInt16
    var crc32: UInt32
    var compressedSize: Int
    var uncompressedSize: Int
    var localHeaderOffset: Int
    var nextCentralHeaderOffset: Int

    init(centralHeaderAt offset: Int, in reader: ByteReader) throws(NumPyError) {
        guard try reader.integer(UInt32.self, at: offset) == Self.centralSignature else {
            throw .corruptArchive("no central directory header at byte \(offset)")
        }
        let flags = try reader.integer(UInt16.self, at: offset + 8)
        method = try reader.integer(UInt16.self, at: offset + 10)
        crc32 = try reader.integer(UInt32.self, at: offset + 16)
        var compressed = UInt64(try reader.integer(UInt32.self, at: offset + 20))
        var uncompressed = UInt64(try reader.integer(UInt32.self, at: offset + 24))
        let nameLength = Int(try reader.integer(UInt16.self, at: offset + 28))
        let extraLength = Int(try reader.integer(UInt16.self, at: offset + 30))
        let commentLength = Int(try reader.integer(UInt16.self, at: offset + 32))
        var localOffset = UInt64(try reader.integer(UInt32.self, at: offset + 42))
        name = String(decoding: try reader.slice(at: offset + 46, count: nameLength), as: UTF8.self)
        guard flags & 1 == 0 else { throw .unsupportedArchive("entry '\(name)' is encrypted") }

        // ZIP64: the saturated fields are given, in this order, in the extra field with tag 1.
        var extra = offset + 46 + nameLength
        let extraEnd = extra + extraLength
        while extra + 4 <= extraEnd {
            let tag = try reader.integer(UInt16.self, at: extra)
            let size = Int(try reader.integer(UInt16.self, at: extra + 2))
            if tag == 1 {
                var field = extra + 4
                if uncompressed == 0xFFFF_FFFF {
                    uncompressed = try reader.integer(UInt64.self, at: field)
                    field += 8
                }
                if compressed == 0xFFFF_FFFF {
                    compressed = try reader.integer(UInt64.self, at: field)
                    field += 8
                }
                if localOffset == 0xFFFF_FFFF { localOffset = try reader.integer(UInt64.self, at: field) }
            }
            extra += 4 + size
        }
        let fileSize = UInt64(reader.bytes.count)
        guard compressed <= fileSize, localOffset < fileSize else {
            throw .corruptArchive("entry '\(name)' declares sizes or offsets beyond the end of the file")
        }
        compressedSize = Int(compressed)
        localHeaderOffset = Int(localOffset)
        let limit = method == 0 ? compressed : compressed * UInt64(Self.maximumDeflateRatio) + 64
        guard uncompressed <= limit else {
            throw .corruptArchive(
                "entry '\(name)' declares \(uncompressed) bytes, more than its \(compressed) compressed bytes can hold")
        }
        uncompressedSize = Int(uncompressed)
        nextCentralHeaderOffset = offset + 46 + nameLength + extraLength + commentLength
    }

    /// The entry's uncompressed bytes, checked against its CRC-32.
    func content(in reader: ByteReader) throws(NumPyError) -> [UInt8] {
        guard try reader.integer(UInt32.self, at: localHeaderOffset) == Self.localSignature else {
            throw .corruptArchive("no local header for entry '\(name)' at byte \(localHeaderOffset)")
        }
        let nameLength = Int(try reader.integer(UInt16.self, at: localHeaderOffset + 26))
        let extraLength = Int(try reader.integer(UInt16.self, at: localHeaderOffset + 28))
        let data = try reader.slice(at: localHeaderOffset + 30 + nameLength + extraLength, count: compressedSize)
        let content: [UInt8]
        switch method {
        case 0:
            guard compressedSize == uncompressedSize else {
                throw .corruptArchive("stored entry '\(name)' has different compressed and uncompressed sizes")
            }
            content = Array(data)
        case 8:
            content = try Inflate.raw(data, expectedSize: uncompressedSize, entryName: name)
        default:
            throw .unsupportedArchive(
                "entry '\(name)' uses compression method \(method); only stored (0) and deflate (8) are read")
        }
        let checksum = content.withUnsafeBufferPointer { buffer in
            UInt32(CZlib.crc32(0, buffer.baseAddress, UInt32(buffer.count)))
        }
        guard checksum == crc32 else { throw .corruptArchive("entry '\(name)' fails its CRC-32 check") }
        return content
    }
}

/// Raw deflate decompression through the system zlib.
enum Inflate {
    static func raw(_ input: ArraySlice<UInt8>, expectedSize: Int, entryName: String) throws(NumPyError) -> [UInt8] {
        guard input.count <= Int(UInt32.max), expectedSize <= Int(UInt32.max) else {
            throw .unsupportedArchive("entry '\(entryName)' is larger than 4 GiB")
        }
        var output = [UInt8](repeating: 0, count: expectedSize)
        var stream = z_stream()
        guard czlib_inflate_init_raw(&stream) == Z_OK else { throw .corruptArchive("zlib could not start inflating") }
        defer { inflateEnd(&stream) }
        let status: Int32 = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = UInt32(source.count)
                stream.next_out = destination.baseAddress
                stream.avail_out = UInt32(destination.count)
                return inflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END, Int(stream.total_out) == expectedSize else {
            throw .corruptArchive(
                "entry '\(entryName)' does not inflate to its declared \(expectedSize) bytes (zlib status \(status))")
        }
        return output
    }
}
