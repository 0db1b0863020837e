import Testing

@testable import DigitCore

@Suite("Keras CNN import")
struct KerasCNNImportTests {
    /// The layers of `Fixtures/make_keras_cnn.py`'s model.
    let plan: [LayerPlan] = [
        .convolution(filters: 8, kernelSize: 3, padding: .same, activation: .relu), .maxPool,
        .convolution(filters: 16, kernelSize: 3, padding: .valid, activation: .relu), .maxPool,
        .dense(units: 32, activation: .relu), .dropout(rate: 0.25), .dense(units: 10, activation: .softmax),
    ]
    let input = LayerInput.maps(FeatureMapShape(channels: 1, height: 20, width: 20))

    func archive() throws -> NumPyArchive {
        try NumPyArchive(npzBytes: FileIO.read(fixturePath("keras_cnn.npz")))
    }

    @Test("a Keras-trained CNN imports and our forward pass gives Keras's own probabilities to 1e-5")
    func kerasParity() throws {
        let network = try Network(kerasWeights: archive(), input: input, plan: plan)
        #expect(network.parameterCount == 80 + 1168 + 8224 + 330)
        let digits = try NumPyArray(npyBytes: FileIO.read(fixturePath("keras_cnn_digits.npy")))
        let expected = try NumPyArray(npyBytes: FileIO.read(fixturePath("keras_cnn_probabilities.npy")))
        #expect(digits.shape == [12, 400] && expected.shape == [12, 10])
        let ours = network.predictBatch(digits.floats(), count: 12)
        let worst = zip(ours, expected.floats()).map { abs($0 - $1) }.max() ?? 1
        #expect(worst <= 1e-5, "largest difference \(worst)")
        // The same through a model file: written as format 2, read back, the same outputs bit for bit.
        let model = Model(name: "keras-cnn", classes: Array(0..<10), inputShape: [20, 20], network: network)
        let loaded = try Model(jsonBytes: Array(model.jsonText().utf8))
        #expect(loaded.network.predictBatch(digits.floats(), count: 12) == ours)
    }

    @Test("a plan that does not match the arrays is refused with the shapes on both sides")
    func mismatches() throws {
        let archive = try archive()
        var wrongFilters = plan
        wrongFilters[0] = .convolution(filters: 4, kernelSize: 3, padding: .same, activation: .relu)
        #expect(
            throws: KerasImportError.convolutionKernelShape(layer: 1, shape: [3, 3, 1, 8], expected: [3, 3, 1, 4])
        ) {
            try Network(kerasWeights: archive, input: input, plan: wrongFilters)
        }
        // Same padding where Keras had valid: the dense layer then reads 16x5x5 maps, not 16x4x4.
        var wrongPadding = plan
        wrongPadding[2] = .convolution(filters: 16, kernelSize: 3, padding: .same, activation: .relu)
        #expect(throws: KerasImportError.kernelShape(layer: 3, shape: [256, 32], inputs: 400)) {
            try Network(kerasWeights: archive, input: input, plan: wrongPadding)
        }
        #expect(throws: KerasImportError.layerCount(planned: 3, arrays: 4)) {
            try Network(kerasWeights: archive, input: input, plan: Array(plan.dropLast()))
        }
        #expect {
            try Network(kerasWeights: archive, input: .flat(400), plan: plan)
        } throws: { error in
            guard case KerasImportError.unsuitableLayers(let problem) = error else { return false }
            return problem.contains("layer 1: a convolution needs feature maps; the input is a flat vector")
        }
    }
}
