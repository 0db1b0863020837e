import JSON
import Testing

@testable import DigitCore

@Suite("int8 quantization")
struct QuantizationTests {
    @Test("RFC 4648's test vectors, and strict decoding: no stray padding, bits, characters or lengths")
    func base64() {
        let vectors = [
            ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == .success(Array(plain.utf8)))
        }
        #expect(Base64.decode("Zg=") == .failure(.length(3)))
        #expect(Base64.decode("Zh==") == .failure(.character(position: 1)))
        #expect(Base64.decode("Z===") == .failure(.character(position: 1)))
        #expect(Base64.decode("Zm=v") == .failure(.character(position: 2)))
        #expect(Base64.decode("Zg==Zm9v") == .failure(.character(position: 2)))
        #expect(Base64.decode("Zm9v\n") == .failure(.length(5)))
        #expect(Base64.decode("Zm 9") == .failure(.character(position: 2)))
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }
        #expect(Base64.decode(Base64.encode(bytes)) == .success(bytes))
    }

    @Test("every weight is within half a step; a zero row, or one too small for a normal scale, stays zero")
    func rows() {
        let row: [Float] = [0.5, -1.27, 0.003, 1.0, -0.25]
        let (values, scale) = Int8Quantization.quantize(row[...])
        #expect(scale == Float(1.27) / 127)
        #expect(values.map { Int($0) } == [50, -127, 0, 100, -25])
        let rounded = Int8Quantization.dequantize(values, scales: [scale], rowLength: 5)
        #expect(zip(rounded, row).allSatisfy { abs($0 - $1) <= scale / 2 })
        #expect(Int8Quantization.quantize([0, 0][...]).values == [0, 0])
        let tiny = Int8Quantization.quantize([1e-45, -1e-44][...])
        #expect(tiny.values == [0, 0] && tiny.scale == 1)
    }

    /// A small CNN with every kind of weighted layer.
    let model = Model(
        name: "q", classes: [0, 1, 2], inputShape: [6, 6],
        network: Network(
            input: .maps(FeatureMapShape(channels: 1, height: 6, width: 6)),
            architecture: [
                .convolution(filters: 4, kernelSize: 3, padding: .same, activation: .relu), .maxPool,
                .dense(units: 8, activation: .relu), .dense(units: 3, activation: .softmax),
            ], seed: 4))

    @Test("a quantized model is written with one byte per weight and reads back to the same network, bit for bit")
    func fileRoundTrip() throws {
        let quantized = Model(
            name: model.name, classes: model.classes, inputShape: model.inputShape, network: model.network.quantized())
        #expect(quantized.network.isQuantized && !model.network.isQuantized)
        let text = quantized.jsonText()
        #expect(text.contains("\"weights_int8\": \"") && !text.contains("\"weights\": ["))
        let loaded = try Model(jsonBytes: Array(text.utf8))
        #expect(loaded == quantized)
        #expect(loaded.jsonText() == text)
        let image = (0..<36).map { Float($0 % 5) / 4 }
        #expect(loaded.network.predict(image) == quantized.network.predict(image))
        let difference = zip(quantized.network.predict(image), model.network.predict(image)).map { abs($0 - $1) }
        #expect(difference.max()! < 0.05)
        // This model's rows are short, so the scales weigh more (CI checks the bundled models' 3.5 times).
        #expect(model.jsonText().utf8.count > 2 * text.utf8.count)
        // A dense-only quantized model needs version 2 too.
        let mlp = Network(inputSize: 4, layers: [(3, .relu), (1, .sigmoid)], seed: 2).quantized()
        #expect(
            Model(name: "m", classes: [0, 1], inputShape: [4], network: mlp).jsonText().contains(
                "\"format_version\": 2"))
        // Training makes the weights Float32 again.
        var retrained = quantized.network
        for index in retrained.layers.indices {
            retrained.layers[index].parameters = retrained.layers[index].parameters
        }
        #expect(!retrained.isQuantized)
    }

    /// Expects the quantized model's text, changed by `transform`, to be refused.
    func expectRefusal(
        _ transform: (String) -> String, path: String, containing fragment: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let quantized = Model(
            name: model.name, classes: model.classes, inputShape: model.inputShape, network: model.network.quantized())
        expectModelRefusal(
            Array(transform(quantized.jsonText()).utf8), path: path, containing: fragment,
            sourceLocation: sourceLocation)
    }

    @Test("broken int8 weights are refused with the field and what is wrong")
    func refusals() throws {
        let quantized = model.network.quantized()
        guard case .convolution(let conv) = quantized.layers[0], let scales = conv.weightScales else {
            Issue.record("not quantized")
            return
        }
        let values = Int8Quantization.storedValues(conv.weights, scales: scales).map { UInt8(bitPattern: $0) }
        let stored = Base64.encode(values)
        let withMinimum = Base64.encode([0x80] + values.dropFirst())
        expectRefusal(
            { $0.replacingOccurrences(of: stored, with: String(stored.dropLast(4))) }, path: "layers[0].weights_int8",
            containing: "holds 33 values; expected 36, 4 rows of 9")
        expectRefusal(
            { $0.replacingOccurrences(of: stored, with: withMinimum) }, path: "layers[0].weights_int8",
            containing: "value 0 is -128; int8 weights are symmetric, from -127 to 127")
        expectRefusal(
            { $0.replacingOccurrences(of: stored, with: "*" + stored.dropFirst()) }, path: "layers[0].weights_int8",
            containing: "not strict Base64 at position 0")
        let firstScale = JSONWriter.number(scales[0])
        expectRefusal(
            { $0.replacingOccurrences(of: "[\(firstScale),", with: "[0,") }, path: "layers[0].weight_scales[0]",
            containing: "a scale must be a positive finite number")
        expectRefusal(
            { $0.replacingOccurrences(of: "\"weights_int8\": \"\(stored)\"", with: "\"weights\": []") },
            path: "layers[0].weight_scales", containing: "needs weights_int8 beside it")
    }
}
