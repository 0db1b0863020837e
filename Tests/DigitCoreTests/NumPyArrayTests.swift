import Foundation
import Testing

@testable import DigitCore

@Suite("NumPy .npy files")
struct NumPyArrayTests {
    @Test("reads what NumPy wrote, for every supported dtype and version")
    func readsNumPyFixtures() throws {
        let small: [Float] = [0, 0.5, 1, -1.5, 2.25, 1e-7]
        let f4 = try NumPyArray.load(contentsOf: fixturePath("f4.npy"))
        #expect(f4.shape == [2, 3])
        #expect(f4.elements == .float32(small))
        let f8 = try NumPyArray.load(contentsOf: fixturePath("f8.npy"))
        #expect(f8.elements == .float64([0, 0.5, 1, -1.5, 2.25, 1e-7]))
        #expect(try NumPyArray.load(contentsOf: fixturePath("u1.npy")).elements == .uint8([0, 1, 9, 255]))
        let i4 = try NumPyArray.load(contentsOf: fixturePath("i4.npy"))
        #expect(i4.shape == [2, 2] && i4.elements == .int32([-2, 0, 7, Int32.max]))
        #expect(try NumPyArray.load(contentsOf: fixturePath("i8.npy")).integers() == [0, 1, 2, -9])
        let scalar = try NumPyArray.load(contentsOf: fixturePath("scalar_shape.npy"))
        #expect(scalar.shape == [] && scalar.elements == .float64([3.5]))
        let empty = try NumPyArray.load(contentsOf: fixturePath("empty.npy"))
        #expect(empty.shape == [0, 400] && empty.count == 0)
        for version in ["v2.npy", "v3.npy"] {
            #expect(try NumPyArray.load(contentsOf: fixturePath(version)) == f4)
        }
    }

    @Test("the data set's files load with the shapes and checksums its README gives")
    func readsTheDataSet() throws {
        let labelsBytes = try FileIO.read(projectPath("data/digits-test-y.npy"))
        #expect(SHA256.hexDigest(labelsBytes) == "a3b8e68b02b1174e33f1f24cab85e3246fdde763f73876dd1e4bb56bfab0acca")
        let labels = try NumPyArray(npyBytes: labelsBytes)
        #expect(labels.shape == [900] && labels.dtype == .uint8)
        let images = try NumPyArray.load(contentsOf: projectPath("data/digits-test-X.npy"))
        #expect(images.shape == [900, 400] && images.dtype == .float32)
    }

    @Test(
        "writing then reading gives the same array",
        arguments: [
            try! NumPyArray(
                shape: [2, 3], elements: .float32([0, -0.0, 1.5, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -3])),
            try! NumPyArray(shape: [3], elements: .float64([0.1, -2e300, 5e-324])),
            try! NumPyArray(shape: [2, 2], elements: .uint8([0, 1, 128, 255])),
            try! NumPyArray(shape: [1, 2], elements: .int32([Int32.min, Int32.max])),
            try! NumPyArray(shape: [4], elements: .int64([Int64.min, -1, 0, Int64.max])),
            try! NumPyArray(shape: [], elements: .float32([42])),
            try! NumPyArray(shape: [0, 400], elements: .float32([])),
        ])
    func roundTrip(array: NumPyArray) throws {
        let bytes = array.npyBytes()
        #expect(bytes.count % 64 == (array.count * array.dtype.byteSize) % 64, "data starts 64-byte aligned")
        #expect(try NumPyArray(npyBytes: bytes) == array)
        let path = temporaryPath(".npy")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try array.save(to: path)
        #expect(try NumPyArray.load(contentsOf: path) == array)
    }

    @Test("what we write is byte for byte what NumPy writes")
    func writesLikeNumPy() throws {
        for name in ["f4.npy", "f8.npy", "u1.npy", "i4.npy", "i8.npy", "empty.npy"] {
            let bytes = try FileIO.read(fixturePath(name))
            #expect(try NumPyArray(npyBytes: bytes).npyBytes() == bytes, "\(name)")
        }
    }

    @Test(
        "refuses what it cannot read exactly, saying why",
        arguments: [
            ("big_endian.npy", NumPyError.bigEndian(">f4")),
            ("fortran.npy", .fortranOrder),
            ("complex.npy", .unsupportedDType("<c8")),
            ("float16.npy", .unsupportedDType("<f2")),
            ("truncated.npy", .dataSizeMismatch(shape: [2, 3], dtype: "<f4", expectedBytes: 24, actualBytes: 19)),
            ("trailing.npy", .dataSizeMismatch(shape: [2, 3], dtype: "<f4", expectedBytes: 24, actualBytes: 28)),
            ("lying_shape.npy", .dataSizeMismatch(shape: [9, 3], dtype: "<f4", expectedBytes: 108, actualBytes: 24)),
            ("truncated_header.npy", .truncatedHeader(declared: 118, available: 30)),
            ("not_numpy.npy", .notNumPyFile),
            ("bad_version.npy", .unsupportedVersion(major: 9, minor: 0)),
        ])
    func refusals(file: String, expected: NumPyError) {
        let reason = fileErrorReason { try NumPyArray.load(contentsOf: fixturePath(file)) }
        #expect(reason as? NumPyError == expected)
        #expect(!String(describing: reason!).isEmpty)
    }

    @Test("a missing file names the file and the system's reason")
    func missingFile() {
        do {
            _ = try NumPyArray.load(contentsOf: "/nonexistent/x.npy")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "/nonexistent/x.npy: open failed: No such file or directory")
        }
    }

    @Test(
        "hostile headers are refused, never crash",
        arguments: [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 2), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
            "{'descr': '<f4', 'fortran_order': False, }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
            "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': 5, 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '<f4', 'fortran_order': 'no', 'shape': (2,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,",
            "{'descr': '<f4\\', 'fortran_order': False, 'shape': (2,), }",
            "",
            "[1, 2]",
        ])
    func hostileHeaders(header: String) {
        var bytes = NumPyArray.magic + [1, 0]
        let text = Array((header + "\n").utf8)
        bytes += [UInt8(text.count & 0xFF), UInt8(text.count >> 8)] + text + [UInt8](repeating: 0, count: 8)
        #expect(throws: NumPyError.self) { try NumPyArray(npyBytes: bytes) }
    }

    @Test("every prefix of a valid file is refused as truncated, never crashes")
    func everyPrefix() throws {
        let bytes = try FileIO.read(fixturePath("f4.npy"))
        for length in 0..<bytes.count {
            #expect(throws: NumPyError.self) { try NumPyArray(npyBytes: Array(bytes[0..<length])) }
        }
    }
}
