import Foundation
import Testing

@testable import DigitCore

@Suite("NumPy .npz archives")
struct NumPyArchiveTests {
    @Test("stored (np.savez) and deflate (np.savez_compressed) archives give the same arrays")
    func readsBothKinds() throws {
        let stored = try NumPyArchive.load(contentsOf: fixturePath("keras_stored.npz"))
        let deflated = try NumPyArchive.load(contentsOf: fixturePath("keras_deflate.npz"))
        #expect(stored.names == ["W1", "W2", "b1", "b2"])
        #expect(stored.arrays == deflated.arrays)
        #expect(try stored.array(named: "W1").shape == [4, 3])
        #expect(try stored.array(named: "b2").shape == [2])
    }

    @Test("a missing array is named, with what the archive holds")
    func missingEntry() throws {
        let archive = try NumPyArchive.load(contentsOf: fixturePath("keras_stored.npz"))
        #expect(throws: NumPyError.missingEntry("W3", available: ["W1", "W2", "b1", "b2"])) {
            try archive.array(named: "W3")
        }
    }

    @Test(
        "corrupt and unsupported archives are refused",
        arguments: [
            "corrupt_deflate.npz", "bad_crc.npz", "bzip2.npz", "f4.npy", "not_numpy.npy",
        ])
    func refusals(file: String) {
        let reason = fileErrorReason { try NumPyArchive.load(contentsOf: fixturePath(file)) }
        #expect(reason is NumPyError, "\(String(describing: reason))")
    }

    @Test("every truncation and every single-byte corruption is refused or read, never crashes")
    func hostileBytes() throws {
        let bytes = try FileIO.read(fixturePath("keras_deflate.npz"))
        for length in stride(from: 0, to: bytes.count, by: 7) {
            #expect(throws: NumPyError.self) { try NumPyArchive(npzBytes: Array(bytes[0..<length])) }
        }
        for index in bytes.indices {
            var corrupted = bytes
            corrupted[index] ^= 0xFF
            _ = try? NumPyArchive(npzBytes: corrupted)
        }
    }
}
