import Foundation
import JSON
import Testing

@testable import DigitCore

@Suite("Model files")
struct ModelFileTests {
    let model = Model(
        name: "tiny", classes: [0, 1], inputShape: [2, 2],
        network: Network(inputSize: 4, layers: [(3, .relu), (1, .sigmoid)], seed: 5),
        provenance: [JSONMember("seed", .number(5)), JSONMember("note", .string("test"))])

    @Test("a model survives saving and loading exactly")
    func roundTrip() throws {
        let path = temporaryPath(".json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.save(to: path)
        let (loaded, sha256) = try Model.load(contentsOf: path)
        #expect(loaded == model)
        #expect(sha256 == SHA256.hexDigest(Array(model.jsonText().utf8)))
        #expect(loaded.jsonText() == model.jsonText())
    }

    @Test("the bundled models load and have the documented sizes")
    func bundledModels() throws {
        let (binary, _) = try Model.load(contentsOf: projectPath("data/models/binary/1/model.json"))
        #expect(binary.network.parameterCount == 10_431)
        #expect(binary.network.denseLayers.map(\.units) == [25, 15, 1])
        #expect(binary.network.layers.allSatisfy { $0.activation == .sigmoid })
        let (tenClass, _) = try Model.load(contentsOf: projectPath("data/models/ten-class/1/model.json"))
        #expect(tenClass.classes == Array(0..<10))
        #expect(tenClass.network.parameterCount < 250_000)
    }

    @Test("the bundled models are written back byte for byte: the writer lays out what the files hold")
    func bundledModelsRoundTripBytes() throws {
        for name in ["binary", "ten-class"] {
            let path = projectPath("data/models/\(name)/1/model.json")
            let (model, _) = try Model.load(contentsOf: path)
            let original = try FileIO.read(path)
            #expect(Array(model.jsonText().utf8) == original, "\(name)")
        }
    }

    /// The model's text with one substitution, to produce each kind of broken file.
    func broken(_ transform: (String) -> String) -> [UInt8] {
        Array(transform(model.jsonText()).utf8)
    }

    @Test("every shape and number is checked, and the message names the element")
    func validation() throws {
        let layer0 = model.network.denseLayers[0]
        let firstRow = "[" + layer0.weights[0..<4].map { JSONWriter.number($0) }.joined(separator: ", ") + "]"
        let shortRow = "[" + layer0.weights[0..<3].map { JSONWriter.number($0) }.joined(separator: ", ") + "]"
        expectModelRefusal(
            broken { $0.replacingOccurrences(of: firstRow, with: shortRow) }, path: "layers[0].weights[0]",
            containing: "has 3 numbers; expected 4")
        let nanRow = "[NaN, " + layer0.weights[1..<4].map { JSONWriter.number($0) }.joined(separator: ", ") + "]"
        expectModelRefusal(
            broken { $0.replacingOccurrences(of: firstRow, with: nanRow) }, path: "layers[0].weights[0][0]",
            containing: "is NaN")
        let hugeRow = "[1e39, " + layer0.weights[1..<4].map { JSONWriter.number($0) }.joined(separator: ", ") + "]"
        expectModelRefusal(
            broken { $0.replacingOccurrences(of: firstRow, with: hugeRow) }, path: "layers[0].weights[0][0]",
            containing: "infinite")
        expectModelRefusal(
            broken { $0.replacingOccurrences(of: "\"relu\"", with: "\"tanh\"") }, path: "layers[0].activation",
            containing: "not an activation")
        expectModelRefusal(
            broken { $0.replacingOccurrences(of: "\"units\": 3", with: "\"units\": 4") }, path: "layers[0].weights",
            containing: "has 3 rows; expected 4")
        expectModelRefusal(
            broken { $0.replacingOccurrences(of: "\"classes\": [0, 1]", with: "\"classes\": [0, 1, 2]") },
            path: "classes", containing: "exactly two classes")
        expectModelRefusal(
            broken { $0.replacingOccurrences(of: "\"input_shape\": [2, 2]", with: "\"input_shape\": [20, 20]") },
            path: "layers[0].weights[0]", containing: "expected 400")
        expectModelRefusal(
            broken { $0.replacingOccurrences(of: "\"format_version\": 1", with: "\"format_version\": 3") },
            path: "format_version", containing: "reads versions 1 to 2 (upgrade digits")
        expectModelRefusal(
            broken { $0.replacingOccurrences(of: "\"name\": \"tiny\"", with: "\"name\": \"a b\"") }, path: "name",
            containing: "letters")
        expectModelRefusal(
            broken { $0.replacingOccurrences(of: "\"units\"", with: "\"unit\"") }, path: "layers[0].unit",
            containing: "not a known field")
        expectModelRefusal(
            broken { $0.replacingOccurrences(of: "\"sigmoid\"", with: "\"relu\"") }, path: "layers[1].activation",
            containing: "must be 'sigmoid'")
        expectModelRefusal(
            broken { $0.replacingOccurrences(of: "\"format\": \"digits-model\",", with: "") }, path: "format",
            containing: "missing")
        expectModelRefusal(
            broken {
                $0.replacingOccurrences(of: "\"input_shape\": [2, 2]", with: "\"input_shape\": [100000000, 100000000]")
            }, path: "input_shape", containing: "at most")
        expectModelRefusal(
            broken {
                $0.replacingOccurrences(
                    of: "\"input_shape\": [2, 2]", with: "\"input_shape\": [16777216, 16777216, 16777216, 16777216]")
            }, path: "input_shape", containing: "at most")
        expectModelRefusal(
            broken { $0.replacingOccurrences(of: "\"input_shape\": [2, 2]", with: "\"input_shape\": [1e300, 4]") },
            path: "input_shape[0]", containing: "too large")
        expectModelRefusal(
            broken { $0.replacingOccurrences(of: "\"units\": 3", with: "\"units\": 2.5") }, path: "layers[0].units",
            containing: "must be an integer")
    }

    @Test("broken JSON is reported with its position")
    func notJSON() {
        #expect(throws: ModelFileError.self) { try Model(jsonBytes: Array("{\"format\": ".utf8)) }
        #expect(throws: ModelFileError.self) { try Model(jsonBytes: []) }
        #expect(throws: ModelFileError.self) { try Model(jsonBytes: Array("[1, 2]".utf8)) }
    }

    @Test("every truncation of a model file is refused, never crashes")
    func truncations() {
        let bytes = Array(model.jsonText().utf8)
        for length in stride(from: 0, to: bytes.count - 2, by: 3) {
            #expect(throws: ModelFileError.self) { try Model(jsonBytes: Array(bytes[0..<length])) }
        }
    }

    @Test("info has the original's get_model_info keys")
    func info() {
        #expect(model.info["model_type"] == .string("Sequential"))
        #expect(model.info["input_shape"] == .array([.null, .integer(4)]))
        #expect(model.info["output_shape"] == .array([.null, .integer(1)]))
        #expect(model.info["total_params"] == .integer(19))
    }

    @Test("a file given on a command line may be a pipe (read to its end); a repository's must be a regular file")
    func pipesAndRegularFiles() throws {
        var descriptors: [Int32] = [0, 0]
        #expect(pipe(&descriptors) == 0)
        let text = Array("through a pipe".utf8)
        #expect(write(descriptors[1], text, text.count) == text.count)
        close(descriptors[1])
        defer { close(descriptors[0]) }
        #expect(try FileIO.read("/proc/self/fd/\(descriptors[0])") == text)
        #expect(throws: FileError.self) { try FileIO.read("/dev/null", regularFileOnly: true) }
        #expect(try FileIO.read("/dev/null") == [])
    }
}
