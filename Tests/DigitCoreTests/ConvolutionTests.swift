import Foundation
import Testing

@testable import DigitCore

@Suite("Convolution and pooling layers")
struct ConvolutionTests {
    /// Values from a seeded generator in [−1, 1).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in generator.nextUnitFloat() * 2 - 1 }
    }

    @Test("a valid 3x3 convolution, computed by hand")
    func validByHand() {
        // x[r][c] = 4r + c + 1 on 4x4; the kernel adds the diagonal and subtracts its far end.
        let layer = Conv2DLayer(
            input: FeatureMapShape(channels: 1, height: 4, width: 4), filters: 1, kernelSize: 3,
            padding: .valid, activation: .linear, weights: [1, 0, 0, 0, 1, 0, 0, 0, -1], bias: [0.5])
        #expect(layer.output == FeatureMapShape(channels: 1, height: 2, width: 2))
        #expect(layer.forward((1...16).map(Float.init), count: 1) == [-3.5, -2.5, 0.5, 1.5])
    }

    @Test("same padding adds zeros around the input: a 3x3 sum of ones")
    func sameByHand() {
        let layer = Conv2DLayer(
            input: FeatureMapShape(channels: 1, height: 3, width: 3), filters: 1, kernelSize: 3,
            padding: .same, activation: .linear, weights: [Float](repeating: 1, count: 9), bias: [0])
        #expect(layer.forward((1...9).map(Float.init), count: 1) == [12, 21, 16, 27, 45, 33, 24, 39, 28])
    }

    @Test("input channels are summed, each output channel has its own kernel and bias; ReLU clips")
    func channelsByHand() {
        // Two input channels (ones, twos), two outputs: the first reads channel 0, the second channel 1.
        let ones = [Float](repeating: 1, count: 9)
        let zeros = [Float](repeating: 0, count: 9)
        let layer = Conv2DLayer(
            input: FeatureMapShape(channels: 2, height: 3, width: 3), filters: 2, kernelSize: 3,
            padding: .valid, activation: .relu, weights: ones + zeros + zeros + ones.map { -$0 }, bias: [1, 2])
        let input = ones + [Float](repeating: 2, count: 9)
        #expect(layer.forward(input, count: 1) == [10, 0])
        // Two samples at once give what each gives alone.
        #expect(layer.forward(input + input.map { $0 * 3 }, count: 2) == [10, 0, 28, 0])
    }

    @Test("2x2 max pooling, computed by hand; an odd last row and column are dropped")
    func poolByHand() {
        let pool = MaxPool2DLayer(input: FeatureMapShape(channels: 1, height: 4, width: 4))
        #expect(pool.forward([1, 5, 2, 0, 3, 4, 8, 1, 0, 0, 1, 1, 9, 0, 1, 2], count: 1) == [5, 8, 9, 2])
        let odd = MaxPool2DLayer(input: FeatureMapShape(channels: 2, height: 3, width: 3))
        #expect(odd.output == FeatureMapShape(channels: 2, height: 1, width: 1))
        #expect(odd.forward([1, 2, 9, 3, 4, 9, 9, 9, 9] + [-1, -2, 9, -3, -4, 9, 9, 9, 9], count: 1) == [4, -1])
    }

    /// L = Σ r · y for fixed random r, in Double: dL/dy = r.
    static func loss(_ outputs: [Float], _ weights: [Float]) -> Double {
        zip(outputs, weights).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// Central differences of `loss` at each of `parameters`' entries, against `analytic`.
    static func check(
        _ parameters: [Float], analytic: [Float], what: String, loss: ([Float]) -> Double
    ) {
        let step: Float = 1e-2
        for index in parameters.indices {
            var plus = parameters
            var minus = parameters
            plus[index] += step
            minus[index] -= step
            let numeric = (loss(plus) - loss(minus)) / (2 * Double(step))
            #expect(
                isClose(Double(analytic[index]), numeric, relative: 2e-2, absolute: 2e-3), "\(what)[\(index)]")
        }
    }

    @Test(
        "convolution gradients agree with finite differences: weights, bias and input",
        arguments: [
            (3, Padding.same, Activation.sigmoid), (5, .valid, .linear), (3, .valid, .sigmoid), (5, .same, .linear),
        ])
    func convolutionGradients(kernel: Int, padding: Padding, activation: Activation) {
        let shape = FeatureMapShape(channels: 2, height: 6, width: 7)
        let make = { (weights: [Float], bias: [Float]) in
            Conv2DLayer(
                input: shape, filters: 3, kernelSize: kernel, padding: padding, activation: activation,
                weights: weights, bias: bias)
        }
        let layer = make(Self.values(3 * 2 * kernel * kernel, seed: 1), Self.values(3, seed: 2))
        let count = 2
        let inputs = Self.values(count * shape.count, seed: 3)
        let outputs = layer.forward(inputs, count: count)
        let r = Self.values(outputs.count, seed: 4)
        let gradients = layer.backward(inputs: inputs, outputs: outputs, outputGradient: r, count: count)
        Self.check(layer.weights, analytic: gradients.weights, what: "weights") {
            Self.loss(make($0, layer.bias).forward(inputs, count: count), r)
        }
        Self.check(layer.bias, analytic: gradients.bias, what: "bias") {
            Self.loss(make(layer.weights, $0).forward(inputs, count: count), r)
        }
        Self.check(inputs, analytic: gradients.input, what: "input") {
            Self.loss(layer.forward($0, count: count), r)
        }
    }

    @Test("a large field is unrolled in blocks of positions: the same outputs and gradients as one block")
    func unrolledInBlocks() {
        // 32 channels of 5x5 is a field of 800 values: 327 of the 400 positions fit in one block.
        let input = FeatureMapShape(channels: 32, height: 20, width: 20)
        let layer = Conv2DLayer(
            input: input, filters: 3, kernelSize: 5, padding: .same, activation: .sigmoid,
            weights: Self.values(3 * 800, seed: 31), bias: [0.1, 0, -0.1])
        #expect(layer.positionsPerBlock == 327)
        let inputs = Self.values(2 * input.count, seed: 32)
        let outputs = layer.forward(inputs, count: 2)
        // The sum written out for a few outputs, border and inside.
        for (sample, k, i, j) in [(0, 0, 0, 0), (1, 2, 19, 19), (0, 1, 17, 7), (1, 0, 16, 8), (0, 2, 10, 10)] {
            var sum = Double(layer.bias[k])
            for c in 0..<32 {
                for u in 0..<5 {
                    for v in 0..<5 {
                        let (row, column) = (i + u - 2, j + v - 2)
                        guard (0..<20).contains(row) && (0..<20).contains(column) else { continue }
                        sum +=
                            Double(layer.weights[((k * 32 + c) * 5 + u) * 5 + v])
                            * Double(inputs[sample * input.count + input.index(c, row, column)])
                    }
                }
            }
            let expected = 1 / (1 + exp(-sum))
            #expect(isClose(Double(outputs[sample * 1200 + k * 400 + i * 20 + j]), expected, relative: 1e-4))
        }
        // Gradients of some weights and inputs on both sides of the block boundary, by finite differences.
        let r = Self.values(outputs.count, seed: 33)
        let gradients = layer.backward(inputs: inputs, outputs: outputs, outputGradient: r, count: 2)
        let probes = [0, 17, 799, 800, 1601, 2399]
        Self.check(
            probes.map { layer.weights[$0] }, analytic: probes.map { gradients.weights[$0] }, what: "weights"
        ) { chosen in
            var weights = layer.weights
            for (index, value) in zip(probes, chosen) { weights[index] = value }
            let changed = Conv2DLayer(
                input: input, filters: 3, kernelSize: 5, padding: .same, activation: .sigmoid, weights: weights,
                bias: layer.bias)
            return Self.loss(changed.forward(inputs, count: 2), r)
        }
        let inputProbes = [0, 327, 398, 12_799, 12_800 + 6_543, 25_599]
        Self.check(
            inputProbes.map { inputs[$0] }, analytic: inputProbes.map { gradients.input[$0] }, what: "inputs"
        ) { chosen in
            var changed = inputs
            for (index, value) in zip(inputProbes, chosen) { changed[index] = value }
            return Self.loss(layer.forward(changed, count: 2), r)
        }
    }

    @Test("pooling gradients agree with finite differences")
    func poolingGradients() {
        let pool = MaxPool2DLayer(input: FeatureMapShape(channels: 2, height: 5, width: 6))
        // Distinct values, far enough apart that a step of 0.01 changes no window's winner.
        let inputs = (0..<(2 * pool.input.count)).map { Float(($0 * 37) % 120) / 10 }
        let r = Self.values(2 * pool.output.count, seed: 9)
        let analytic = pool.backward(inputs: inputs, outputGradient: r, count: 2)
        Self.check(inputs, analytic: analytic, what: "input") { Self.loss(pool.forward($0, count: 2), r) }
    }

    @Test("a small CNN (conv, pool, flatten, dense): chained gradients agree with finite differences of the whole")
    func smallNetworkGradients() {
        let image = FeatureMapShape(channels: 1, height: 6, width: 6)
        let conv = { (weights: [Float]) in
            Conv2DLayer(
                input: image, filters: 2, kernelSize: 3, padding: .same, activation: .sigmoid,
                weights: weights, bias: [0.1, -0.2])
        }
        let layer = conv(Self.values(18, seed: 21))
        let pool = MaxPool2DLayer(input: layer.output)
        let dense = DenseLayer(
            inputSize: pool.output.count, units: 3, activation: .linear, weights: Self.values(54, seed: 22),
            bias: [0, 0, 0])
        let inputs = Self.values(2 * image.count, seed: 23)
        let r = Self.values(6, seed: 24)
        /// The whole network's loss: the flattened pooled maps (CHW order) into the dense layer.
        func loss(_ conv: Conv2DLayer, _ inputs: [Float]) -> Double {
            let pooled = pool.forward(conv.forward(inputs, count: 2), count: 2)
            var outputs = [Float](repeating: 0, count: 6)
            pooled.withUnsafeBufferPointer { x in
                outputs.withUnsafeMutableBufferPointer {
                    dense.forward(x.baseAddress!, count: 2, into: $0.baseAddress!)
                }
            }
            return Self.loss(outputs, r)
        }
        // Backwards by hand through the linear dense layer: dL/dx[i] = Σ_j r[j] w[j][i], per sample.
        let features = layer.forward(inputs, count: 2)
        let pooled = pool.forward(features, count: 2)
        var pooledGradient = [Float](repeating: 0, count: pooled.count)
        for sample in 0..<2 {
            for i in 0..<dense.inputSize {
                pooledGradient[sample * dense.inputSize + i] = (0..<3).reduce(0) {
                    $0 + r[sample * 3 + $1] * dense.weights[$1 * dense.inputSize + i]
                }
            }
        }
        let featureGradient = pool.backward(inputs: features, outputGradient: pooledGradient, count: 2)
        let gradients = layer.backward(inputs: inputs, outputs: features, outputGradient: featureGradient, count: 2)
        Self.check(layer.weights, analytic: gradients.weights, what: "conv weights") { loss(conv($0), inputs) }
        Self.check(inputs, analytic: gradients.input, what: "image") { loss(layer, $0) }
    }

    @Test(
        "dropout keeps 1 − r of the values scaled by 1 / (1 − r), passes gradients through the same mask, and is the identity in inference"
    )
    func dropout() {
        let layer = DropoutLayer(rate: 0.25, count: 20_000)
        var generator = SeededGenerator(seed: 7)
        let mask = layer.mask(count: 20_000, generator: &generator)
        #expect(Set(mask) == [0, Float(1) / 0.75])
        let kept = Double(mask.filter { $0 != 0 }.count) / 20_000
        #expect(abs(kept - 0.75) < 0.02, "\(kept)")
        let inputs = Self.values(20_000, seed: 8)
        let outputs = layer.forward(inputs, mask: mask)
        #expect(zip(zip(inputs, mask), outputs).allSatisfy { $0.0 * $0.1 == $1 })
        #expect(layer.forward(inputs, mask: nil) == inputs)
        let gradient = Self.values(20_000, seed: 9)
        #expect(layer.backward(outputGradient: gradient, mask: mask) == zip(gradient, mask).map { $0 * $1 })
        // The same seed gives the same mask: training stays reproducible.
        var again = SeededGenerator(seed: 7)
        #expect(layer.mask(count: 20_000, generator: &again) == mask)
        var none = SeededGenerator(seed: 7)
        #expect(
            DropoutLayer(rate: 0, count: 100).mask(count: 100, generator: &none) == [Float](repeating: 1, count: 100))
    }

    @Test(
        "untrusted layer descriptions are refused with what is wrong, never trapped on",
        arguments: [
            (1, 20, 20, 16, 4, Padding.same, Activation.relu, 0, 16, "must be 3x3 or 5x5"),
            (1, 20, 20, 16, 3, .same, .softmax, 144, 16, "softmax is for the output layer"),
            (1, 4, 4, 8, 5, .valid, .relu, 200, 8, "needs maps of at least that size"),
            (1, 20, 20, 0, 3, .same, .relu, 0, 0, "at least 1 channel"),
            (1, 20, 20, 16, 3, .same, .relu, 143, 16, "has 143 weights; expected 144"),
            (1, 20, 20, 16, 3, .same, .relu, 144, 15, "has 15 biases; expected 16"),
            (4096, 4096, 1, 4096, 5, .same, .linear, 0, 0, "cost more than 50000000 multiply-adds"),
            (1, 20, 20, Int.max, 3, .same, .relu, 0, 0, "hold more than"),
        ])
    func refusedLayers(
        channels: Int, height: Int, width: Int, outputs: Int, kernel: Int, padding: Padding, activation: Activation,
        weights: Int, biases: Int, message: String
    ) throws {
        let input = try FeatureMapShape.checked(channels: channels, height: height, width: width)
        #expect {
            try Conv2DLayer.checked(
                input: input, filters: outputs, kernelSize: kernel, padding: padding, activation: activation,
                weights: [Float](repeating: 0.1, count: weights), bias: [Float](repeating: 0, count: biases))
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test("untrusted shapes, weight counts, pools and dropout rates are refused too")
    func refusedShapesAndValues() throws {
        for (channels, height, width) in [(0, 20, 20), (1, -1, 20), (Int.max, Int.max, 2), (1 << 20, 1 << 20, 1)] {
            #expect(throws: LayerShapeError.self) {
                try FeatureMapShape.checked(channels: channels, height: height, width: width)
            }
        }
        let input = try FeatureMapShape.checked(channels: 1, height: 6, width: 6)
        #expect {
            try Conv2DLayer.checked(
                input: input, filters: 1, kernelSize: 3, padding: .same, activation: .relu,
                weights: [Float](repeating: 0.1, count: 8), bias: [0])
        } throws: { "\($0)".contains("has 8 weights; expected 9") }
        #expect(throws: LayerShapeError.self) {
            try MaxPool2DLayer.checked(input: FeatureMapShape.checked(channels: 3, height: 1, width: 8))
        }
        for rate: Float in [-0.1, 1, .nan, .infinity] {
            #expect(throws: LayerShapeError.self) { try DropoutLayer.checked(rate: rate, over: .flat(10)) }
        }
        let layer = try Conv2DLayer.checked(
            input: input, filters: 2, kernelSize: 5, padding: .valid, activation: .sigmoid,
            weights: [Float](repeating: 0.1, count: 50), bias: [0, 0])
        #expect(layer.output == FeatureMapShape(channels: 2, height: 2, width: 2))
    }
}
