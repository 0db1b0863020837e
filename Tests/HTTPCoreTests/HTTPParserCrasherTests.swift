import Foundation
import Testing

@testable import HTTPCore

/// Every input the fuzzer has kept (its seed corpus and any crasher it found, in
/// `Tests/Fuzz/parser/`) replayed through the parser: all at once, byte by byte and in pieces of
/// three must give the same outcome. A crasher that comes back fails here, in the normal test run.
@Suite("Fuzzer corpus and crashers")
struct HTTPParserCrasherTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/parser")

    static var inputs: [String] {
        ["corpus", "crashers"].flatMap { sub -> [String] in
            let path = folder.appendingPathComponent(sub).path
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            return names.filter { !$0.hasPrefix(".") }.sorted().map { "\(sub)/\($0)" }
        }
    }

    @Test("replays consistently", arguments: inputs)
    func replay(name: String) throws {
        let bytes = Array(try Data(contentsOf: Self.folder.appendingPathComponent(name)))
        let limits = HTTPParserLimits(maxHeaderBytes: 512, maxHeaderCount: 16, maxBodyBytes: 512)
        let whole = run(bytes, pieces: [bytes.count], limits: limits)
        #expect(run(bytes, pieces: Array(repeating: 1, count: bytes.count), limits: limits) == whole)
        let threes = Array(repeating: 3, count: bytes.count / 3) + (bytes.count % 3 == 0 ? [] : [bytes.count % 3])
        #expect(run(bytes, pieces: threes, limits: limits) == whole)
    }
}
