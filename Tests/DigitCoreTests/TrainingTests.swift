import Testing

@testable import DigitCore

@Suite("Training")
struct TrainingTests {
    /// Random inputs and labels for a small network.
    func batch(count: Int, inputs: Int, classes: Int, seed: UInt64) -> (pixels: [Float], labels: [Int]) {
        var generator = SeededGenerator(seed: seed)
        let pixels = (0..<count * inputs).map { _ in generator.nextUnitFloat() * 2 - 1 }
        let labels = (0..<count).map { _ in generator.nextInt(below: classes) }
        return (pixels, labels)
    }

    /// The mean loss of `network` on a batch, in Double, for finite differences.
    func meanLoss(_ network: Network, _ loss: Loss, _ pixels: [Float], _ labels: [Int]) -> Double {
        let outputs = network.predictBatch(pixels, count: labels.count)
        return outputs.withUnsafeBufferPointer { buffer in
            labels.indices.reduce(0.0) { sum, sample in
                sum
                    + Double(
                        loss.value(output: buffer.baseAddress! + sample * network.outputSize, label: labels[sample]))
            } / Double(labels.count)
        }
    }

    /// Central differences (L(θ + h) − L(θ − h)) / 2h for every parameter, against backpropagation; L is
    /// the training loss with the same dropout masks. Float32 limits the agreement to about 1e-3 relative;
    /// a wrong term is off by far more.
    func checkGradients(
        _ network: Network, _ loss: Loss, _ pixels: [Float], _ labels: [Int], masks: [[Float]?] = [], parts: Int = 1,
        step: Float = 1e-2, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let analytic = Trainer.gradients(
            of: network, loss: loss, pixels: pixels, labels: labels, masks: masks, parts: parts)
        func trainingLoss(_ network: Network) -> Double {
            Trainer.gradients(of: network, loss: loss, pixels: pixels, labels: labels, masks: masks).loss
        }
        var checked = 0
        for layerIndex in network.layers.indices {
            guard let parameters = network.layers[layerIndex].parameters else {
                #expect(analytic.weights[layerIndex].isEmpty && analytic.bias[layerIndex].isEmpty)
                continue
            }
            for (isBias, count) in [(false, parameters.weights.count), (true, parameters.bias.count)] {
                for position in 0..<count {
                    var plus = network
                    var minus = network
                    if isBias {
                        plus.layers[layerIndex].parameters!.bias[position] += step
                        minus.layers[layerIndex].parameters!.bias[position] -= step
                    } else {
                        plus.layers[layerIndex].parameters!.weights[position] += step
                        minus.layers[layerIndex].parameters!.weights[position] -= step
                    }
                    let numeric = (trainingLoss(plus) - trainingLoss(minus)) / (2 * Double(step))
                    let exact = Double(
                        isBias ? analytic.bias[layerIndex][position] : analytic.weights[layerIndex][position])
                    #expect(
                        isClose(exact, numeric, relative: 2e-2, absolute: 2e-4),
                        "layer \(layerIndex) \(isBias ? "bias" : "weight") \(position)", sourceLocation: sourceLocation)
                    checked += 1
                }
            }
        }
        #expect(checked == network.parameterCount, sourceLocation: sourceLocation)
    }

    @Test(
        "backpropagation agrees with finite differences",
        arguments: [Loss.binaryCrossEntropy, .categoricalCrossEntropy])
    func gradientCheck(loss: Loss) {
        let outputs = loss == .binaryCrossEntropy ? 1 : 4
        let network = Network(
            inputSize: 5, layers: [(6, .sigmoid), (4, .relu), (3, .linear), (outputs, loss.outputActivation)], seed: 11)
        let (pixels, labels) = batch(count: 8, inputs: 5, classes: loss == .binaryCrossEntropy ? 2 : 4, seed: 5)
        let analytic = Trainer.gradients(of: network, loss: loss, pixels: pixels, labels: labels)
        #expect(isClose(analytic.loss, meanLoss(network, loss, pixels, labels), relative: 1e-6))
        checkGradients(network, loss, pixels, labels)
    }

    @Test(
        "a whole small CNN (conv, pool, conv, pool, dense, dropout, softmax): backpropagation agrees with finite differences, in one part or split across threads",
        arguments: [1, 3])
    func convolutionalGradientCheck(parts: Int) {
        let network = Network(
            input: .maps(FeatureMapShape(channels: 1, height: 8, width: 8)),
            architecture: [
                .convolution(filters: 3, kernelSize: 3, padding: .same, activation: .sigmoid), .maxPool,
                .convolution(filters: 4, kernelSize: 3, padding: .valid, activation: .relu), .maxPool,
                .dense(units: 5, activation: .sigmoid), .dropout(rate: 0.4), .dense(units: 3, activation: .softmax),
            ], seed: 3)
        #expect(network.layers.map(\.outputCount) == [192, 48, 16, 4, 5, 5, 3])
        let (pixels, labels) = batch(count: 6, inputs: 64, classes: 3, seed: 12)
        var generator = SeededGenerator(seed: 13)
        let masks: [[Float]?] = network.layers.map {
            guard case .dropout(let layer) = $0 else { return nil }
            return layer.mask(count: 6 * layer.count, generator: &generator)
        }
        #expect(masks[5]!.contains(0))
        checkGradients(network, .categoricalCrossEntropy, pixels, labels, masks: masks, parts: parts, step: 5e-3)
        // Without masks, the training loss is the inference loss (dropout is the identity there).
        let plain = Trainer.gradients(of: network, loss: .categoricalCrossEntropy, pixels: pixels, labels: labels)
        #expect(isClose(plain.loss, meanLoss(network, .categoricalCrossEntropy, pixels, labels), relative: 1e-6))
    }

    @Test("one Adam step matches the formula")
    func adamStep() {
        var adam = Adam(learningRate: 0.1)
        var parameters: [Float] = [1, -2]
        adam.beginStep()
        adam.update(&parameters, gradient: [0.5, -4], slot: 0)
        // Step 1: m = 0.1·g, v = 0.001·g², rate = 0.1·√(1 − 0.999)/(1 − 0.9); the update is
        // rate·m/(√v + ε) = 0.1·sign(g)·(1 − tiny ε term).
        #expect(isClose(Double(parameters[0]), 0.9, relative: 1e-5))
        #expect(isClose(Double(parameters[1]), -1.9, relative: 1e-5))
        adam.beginStep()
        adam.update(&parameters, gradient: [0.5, -4], slot: 0)
        #expect(isClose(Double(parameters[0]), 0.8, relative: 1e-4))
    }

    @Test("training lowers the loss and learns a separable problem")
    func learns() throws {
        // Label = whether the first input exceeds the second: linearly separable.
        var generator = SeededGenerator(seed: 8)
        let pixels = (0..<256 * 4).map { _ in generator.nextUnitFloat() }
        let labels = (0..<256).map { pixels[$0 * 4] > pixels[$0 * 4 + 1] ? 1 : 0 }
        let data = try LabelledImages(pixels: pixels, labels: labels, pixelsPerImage: 4)
        var options = TrainingOptions(epochs: 40, seed: 1)
        options.learningRate = 0.01
        var trainer = try Trainer(
            network: Network(inputSize: 4, layers: [(8, .relu), (1, .sigmoid)], seed: 1), loss: .binaryCrossEntropy,
            options: options)
        let first = trainer.trainEpoch(on: data)
        var last = first
        for _ in 1..<options.epochs { last = trainer.trainEpoch(on: data) }
        #expect(last.loss < first.loss / 3)
        #expect(last.accuracy > 0.95)
    }

    @Test("one seed gives the same network bit for bit; another seed does not")
    func determinism() throws {
        let (pixels, labels) = batch(count: 100, inputs: 400, classes: 10, seed: 4)
        let data = try LabelledImages(pixels: pixels.map { abs($0) }, labels: labels, pixelsPerImage: 400)
        func train(seed: UInt64) throws -> Network {
            var options = TrainingOptions(epochs: 2, seed: seed)
            options.augmentation = Augmentation(shift: 2, rotationDegrees: 10, scale: 0.1, thickness: 0.5)
            var trainer = try Trainer(
                network: Network(inputSize: 400, layers: [(16, .relu), (10, .softmax)], seed: seed),
                loss: .categoricalCrossEntropy, options: options)
            for _ in 0..<options.epochs { _ = trainer.trainEpoch(on: data) }
            return trainer.network
        }
        let first = try train(seed: 1)
        #expect(try train(seed: 1) == first)
        #expect(try train(seed: 2) != first)
        let model = Model(name: "m", classes: Array(0..<10), inputShape: [20, 20], network: first)
        #expect(
            model.jsonText()
                == Model(name: "m", classes: Array(0..<10), inputShape: [20, 20], network: try train(seed: 1))
                .jsonText())
    }

    @Test("unsuitable networks and options are refused")
    func refusals() {
        let sigmoidOutput = Network(inputSize: 4, layers: [(3, .sigmoid), (1, .sigmoid)], seed: 1)
        let softmaxOutput = Network(inputSize: 4, layers: [(3, .softmax), (2, .softmax)], seed: 1)
        #expect(throws: TrainingError.self) {
            try Trainer(
                network: sigmoidOutput, loss: .categoricalCrossEntropy, options: TrainingOptions(epochs: 1, seed: 1))
        }
        #expect(throws: TrainingError.self) {
            try Trainer(
                network: softmaxOutput, loss: .categoricalCrossEntropy, options: TrainingOptions(epochs: 1, seed: 1))
        }
        #expect(throws: TrainingError.self) {
            try Trainer(network: sigmoidOutput, loss: .binaryCrossEntropy, options: TrainingOptions(epochs: 0, seed: 1))
        }
    }

    @Test("the seeded generator is stable: these values are part of the model files' reproducibility")
    func generatorValues() {
        var generator = SeededGenerator(seed: 0)
        // SplitMix64's published first outputs for seed 0.
        #expect(generator.next() == 0xE220_A839_7B1D_CDAF)
        #expect(generator.next() == 0x6E78_9E6A_A1B9_65F4)
        var shuffled = Array(0..<10)
        SeededGenerator(seed: 5).shuffleCopy(&shuffled)
        #expect(shuffled.sorted() == Array(0..<10) && shuffled != Array(0..<10))
    }
}

extension SeededGenerator {
    func shuffleCopy(_ values: inout [Int]) {
        var copy = self
        copy.shuffle(&values)
    }
}
