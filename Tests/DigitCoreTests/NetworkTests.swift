import Foundation
import Testing

@testable import DigitCore

@Suite("Forward pass")
struct NetworkTests {
    /// 2 inputs -> 2 sigmoid -> 1 linear, small enough to compute by hand.
    let network = Network(layers: [
        DenseLayer(inputSize: 2, units: 2, activation: .sigmoid, weights: [1, -1, 0.5, 2], bias: [0, -1]),
        DenseLayer(inputSize: 2, units: 1, activation: .linear, weights: [2, -1], bias: [0.5]),
    ])

    @Test("matches values computed by hand")
    func handComputed() {
        // h1 = σ(1·1 − 1·2 + 0) = σ(−1) = 0.2689414214; h2 = σ(0.5·1 + 2·2 − 1) = σ(3.5) = 0.9706877692
        // y = 2·h1 − h2 + 0.5 = 0.0671950735
        let output = network.predict([1, 2])
        #expect(output.count == 1)
        #expect(isClose(Double(output[0]), 0.0671950735, relative: 1e-5))
    }

    @Test("a batch gives what the images give one at a time")
    func batchMatchesSingle() {
        var generator = SeededGenerator(seed: 3)
        let big = Network(inputSize: 400, layers: [(25, .sigmoid), (15, .sigmoid), (1, .sigmoid)], seed: 9)
        let images = (0..<7 * 400).map { _ in generator.nextUnitFloat() }
        let batch = big.predictBatch(images, count: 7)
        for index in 0..<7 {
            #expect(big.predict(Array(images[index * 400..<(index + 1) * 400])) == [batch[index]])
        }
    }

    @Test("the binary architecture has the original's 10,431 parameters")
    func parameterCount() {
        let binary = Network(inputSize: 400, layers: [(25, .sigmoid), (15, .sigmoid), (1, .sigmoid)], seed: 1)
        #expect(binary.parameterCount == 10_431)
    }

    @Test("activations: values and extremes stay finite")
    func activations() {
        var values: [Float] = [-1000, -1, 0, 1, 1000]
        values.withUnsafeMutableBufferPointer { Activation.sigmoid.apply($0) }
        #expect(values[0] == 0 && values[2] == 0.5 && values[4] == 1)
        #expect(isClose(Double(values[1]), 0.2689414214, relative: 1e-6))
        var logits: [Float] = [1000, 1001, 999]
        logits.withUnsafeMutableBufferPointer { Activation.softmax.apply($0) }
        #expect(logits.allSatisfy { $0.isFinite })
        #expect(isClose(Double(logits.reduce(0, +)), 1, relative: 1e-6))
        // e^1 / (1 + e + e^-1) = 0.6652409558
        #expect(isClose(Double(logits[1]), 0.6652409558, relative: 1e-5))
        var mixed: [Float] = [-2, 0, 3]
        mixed.withUnsafeMutableBufferPointer { Activation.relu.apply($0) }
        #expect(mixed == [0, 0, 3])
    }

    @Test("Keras weights from .npz give NumPy's outputs")
    func kerasImport() throws {
        let archive = try NumPyArchive.load(contentsOf: fixturePath("keras_deflate.npz"))
        let network = try Network(kerasWeights: archive, inputSize: 4, activations: [.relu, .softmax])
        let expected =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: fixturePath("keras_expected.json"))))
            as! [String: [[Double]]]
        for (input, output) in zip(expected["inputs"]!, expected["outputs"]!) {
            let actual = network.predict(input.map { Float($0) })
            for (a, b) in zip(actual, output) { #expect(isClose(Double(a), b, relative: 1e-5, absolute: 1e-7)) }
        }
    }

    @Test("Keras weights that do not fit are refused, naming the array")
    func kerasRefusals() throws {
        let archive = try NumPyArchive.load(contentsOf: fixturePath("keras_stored.npz"))
        #expect(throws: KerasImportError.activationCount(layers: 2, activations: 1)) {
            try Network(kerasWeights: archive, inputSize: 4, activations: [.relu])
        }
        #expect(throws: KerasImportError.kernelShape(layer: 1, shape: [4, 3], inputs: 400)) {
            try Network(kerasWeights: archive, inputSize: 400, activations: [.relu, .softmax])
        }
        let biasOnly = NumPyArchive(arrays: ["b1": archive.arrays["b1"]!])
        #expect(throws: KerasImportError.noLayers(available: ["b1"])) {
            try Network(kerasWeights: biasOnly, inputSize: 4, activations: [])
        }
        let kernelOnly = NumPyArchive(arrays: ["W1": archive.arrays["W1"]!])
        #expect(throws: KerasImportError.missingBias(layer: 1)) {
            try Network(kerasWeights: kernelOnly, inputSize: 4, activations: [.softmax])
        }
    }

    @Test("a batch runs in passes that share bounded scratch memory, and equals image-by-image predictions")
    func batchPasses() {
        let wide = Network(
            input: .maps(FeatureMapShape(channels: 1, height: 20, width: 20)),
            architecture: [
                .convolution(filters: 128, kernelSize: 3, padding: .same, activation: .relu), .maxPool,
                .dense(units: 3, activation: .softmax),
            ], seed: 1)
        // 128 maps of 20x20 are 51,200 values a sample: 20 samples fill the 1M-value scratch.
        #expect(wide.samplesPerPass(1000) == 20 && wide.samplesPerPass(7) == 7)
        var generator = SeededGenerator(seed: 2)
        let images = (0..<45 * 400).map { _ in generator.nextUnitFloat() }
        let batch = wide.predictBatch(images, count: 45)
        let single = (0..<45).flatMap { wide.predict(Array(images[$0 * 400..<($0 + 1) * 400])) }
        #expect(batch == single)
    }
}
