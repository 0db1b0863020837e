import ArgumentParser
import DigitCore
import JSON

/// `digits quantize`: a model file with int8 weights, and what it costs in accuracy.
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model with int8 weights (per-output-channel symmetric, Float32 activations).",
        discussion: """
            Each dense unit's and each convolution filter's weights become int8 values q with one scale s \
            (the largest |w| over 127), stored as one byte each; biases and activations stay Float32. \
            Prints both models' file sizes and test accuracy. Serve the result like any model, for example as \
            another version of the same one.
            """
    )

    @Option(help: "The model file to quantize.")
    var model: String

    @OptionGroup(title: "Test data (for the accuracy before and after)")
    var testData: TestDataOptions

    @Option(help: "The quantized model's name. (default: the model's)")
    var name: String?

    @Option(help: "Where to write the quantized model file.")
    var output: String

    func validate() throws {
        try checkModelName(name)
    }

    func run() throws {
        let bytes = try FileIO.read(model)
        let original: Model
        do { original = try Model(jsonBytes: bytes) } catch { throw FileError(path: model, reason: error) }
        guard !original.network.isQuantized else { throw CommandFailure("\(model): the weights are int8 already") }
        var quantized = original
        quantized.network = original.network.quantized()
        if let name { quantized.name = name }
        quantized.provenance =
            original.provenance.filter { $0.key != "test_metrics" && $0.key != "quantization" } + [
                JSONMember(
                    "quantization",
                    .object([
                        JSONMember("method", .string("int8 weights, symmetric, one scale per unit or filter")),
                        JSONMember("activations", .string("float32")),
                        JSONMember("quantized_from", .string(lastPathComponent(model))),
                        JSONMember("quantized_from_sha256", .string(SHA256.hexDigest(bytes))),
                    ]))
            ]
        let data = try testData.load(for: original)
        let before = original.evaluate(on: data)
        let after = quantized.evaluate(on: data)
        quantized.provenance.append(JSONMember("test_metrics", after.json))
        do { try quantized.validate() } catch { throw CommandFailure("\(model): \(error)") }
        try quantized.save(to: output)
        let written = try FileIO.read(output).count
        print(
            """
            wrote \(output): \(quantized.network.parameterCount) parameters
              file size      \(bytes.count) bytes -> \(written) bytes (\(decimalText(Double(bytes.count) / Double(written), places: 2))x smaller)
              test accuracy  \(decimalText(before.accuracy)) -> \(decimalText(after.accuracy)) on \(after.totalSamples) images (\(after.correctPredictions - before.correctPredictions >= 0 ? "+" : "")\(after.correctPredictions - before.correctPredictions) correct)
            """)
    }
}
