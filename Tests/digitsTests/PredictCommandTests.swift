import Foundation
import Testing

@Suite("digits predict")
struct PredictCommandTests {
    static func picture(_ name: String) -> String { "Tests/Fixtures/pictures/\(name)" }

    @Test("pictures of a 7 in several formats: one line each, the ten-class model reads 7")
    func pictures() throws {
        let files = ["digit35-mnist28.png", "digit35-quality75.jpg", "digit35-mnist28.pgm", "digit35-interlaced.png"]
            .map(Self.picture)
        let result = try CommandRunner.run(["predict", "--model-name", "ten-class"] + files)
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n")
        #expect(lines.count == files.count)
        for (line, file) in zip(lines, files) { #expect(line.hasPrefix("\(file): 7 (probability "), "\(line)") }
    }

    @Test("a .npy of many images and a JSON body: one line per image; --json gives the API's fields")
    func arraysAndJSON() throws {
        let npy = CommandRunner.temporaryPath(".npy")
        defer { try? FileManager.default.removeItem(atPath: npy) }
        // The first three test images, as a (3, 400) float32 array.
        let test = try Data(contentsOf: CommandRunner.projectFolder.appendingPathComponent("data/digits-test-X.npy"))
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 400), }"
        let padded = header + String(repeating: " ", count: 117 - header.count) + "\n"
        var bytes = Data([0x93]) + Data("NUMPY".utf8) + Data([1, 0, 118, 0]) + Data(padded.utf8)
        bytes += test.suffix(from: 128).prefix(3 * 400 * 4)
        try bytes.write(to: URL(fileURLWithPath: npy))
        let result = try CommandRunner.run(
            ["predict", "--model", "data/models/ten-class/1/model.json", "--json", npy, "data/examples/seven.json"])
        #expect(result.status == 0, "\(result.standardError)")
        let document = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as! [String: Any]
        let predictions = document["predictions"] as! [[String: Any]]
        #expect(
            predictions.map { $0["file"] as? String } == [
                "\(npy)[0]", "\(npy)[1]", "\(npy)[2]", "data/examples/seven.json",
            ])
        #expect(predictions.allSatisfy { ($0["probabilities"] as? [Any])?.count == 10 })
        #expect(predictions.last?["predicted_class"] as? Int == 7)
    }

    @Test("a file it cannot read is reported on stderr, the others still answered, exit 1")
    func failures() throws {
        let result = try CommandRunner.run([
            "predict", Self.picture("digit35-mnist28.png"), Self.picture("crc.png"), "no-such-file.png",
            Self.picture("all-paper.png"), "README.md",
        ])
        #expect(result.status == 1)
        #expect(result.standardOutput.split(separator: "\n").count == 1)
        #expect(result.standardError.contains("crc.png: PNG: IDAT: CRC error"))
        #expect(result.standardError.contains("no-such-file.png: open failed: No such file or directory"))
        #expect(result.standardError.contains("all-paper.png: no ink found"))
        #expect(result.standardError.contains("README.md: not a PNG, JPEG, binary PGM, .npy or JSON file"))
        // The default model is the binary one, and its answers say it knows only two digits.
        #expect(
            result.standardError.contains(
                "model 'binary' tells only 0 and 1 apart; --model-name ten-class reads every digit"))
    }

    @Test("refusals of the options name the fix")
    func options() throws {
        var result = try CommandRunner.run(["predict", "--model", "x.json", "--model-name", "binary", "a.png"])
        #expect(result.status != 0 && result.standardError.contains("--model names one file"))
        result = try CommandRunner.run(["predict", "--model-name", "nine-class", Self.picture("digit35-mnist28.png")])
        #expect(result.status != 0 && result.standardError.contains("no model 'nine-class'; it holds binary"))
    }
}
