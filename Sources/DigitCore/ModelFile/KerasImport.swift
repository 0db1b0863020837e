/// Why Keras-style weights could not become a network.
public enum KerasImportError: Error, Equatable, Sendable, CustomStringConvertible {
    case noLayers(available: [String])
    case activationCount(layers: Int, activations: Int)
    case kernelShape(layer: Int, shape: [Int], inputs: Int)
    case biasShape(layer: Int, shape: [Int], units: Int)
    case missingBias(layer: Int)

    public var description: String {
        switch self {
        case .noLayers(let available):
            "no W1 array; the archive holds: \(available.isEmpty ? "nothing" : available.joined(separator: ", "))"
        case .activationCount(let layers, let activations):
            "the archive holds \(layers) layers (W1 to W\(layers)) but \(activations) activations were given; give one per layer"
        case .kernelShape(let layer, let shape, let inputs):
            "W\(layer) has shape \(shapeText(shape)); expected (\(inputs), units): a Keras kernel has one row per input"
        case .biasShape(let layer, let shape, let units):
            "b\(layer) has shape \(shapeText(shape)); expected (\(units),), one per unit of W\(layer)"
        case .missingBias(let layer):
            "W\(layer) has no bias b\(layer)"
        }
    }
}

extension Network {
    /// Builds a network from Keras `Dense` weights saved with `np.savez`: `W1, b1, W2, b2, ...`, where `Wn`
    /// is the kernel of shape (inputs, units) and `bn` the bias of shape (units,).
    ///
    /// Keras stores `kernel[input][unit]`; a ``DenseLayer`` keeps one row per unit, so each kernel is transposed.
    public init(kerasWeights archive: NumPyArchive, inputSize: Int, activations: [Activation]) throws(KerasImportError)
    {
        var layerCount = 0
        while archive.arrays["W\(layerCount + 1)"] != nil { layerCount += 1 }
        guard layerCount > 0 else { throw .noLayers(available: archive.names) }
        guard layerCount == activations.count else {
            throw .activationCount(layers: layerCount, activations: activations.count)
        }
        var layers: [DenseLayer] = []
        var inputs = inputSize
        for number in 1...layerCount {
            let kernel = archive.arrays["W\(number)"]!
            guard let bias = archive.arrays["b\(number)"] else { throw .missingBias(layer: number) }
            guard kernel.shape.count == 2, kernel.shape[0] == inputs, kernel.shape[1] > 0 else {
                throw .kernelShape(layer: number, shape: kernel.shape, inputs: inputs)
            }
            let units = kernel.shape[1]
            guard bias.shape == [units] else { throw .biasShape(layer: number, shape: bias.shape, units: units) }
            let values = kernel.floats()
            var weights = [Float](repeating: 0, count: units * inputs)
            for input in 0..<inputs {
                for unit in 0..<units { weights[unit * inputs + input] = values[input * units + unit] }
            }
            layers.append(
                DenseLayer(
                    inputSize: inputs, units: units, activation: activations[number - 1], weights: weights,
                    bias: bias.floats()))
            inputs = units
        }
        self.init(layers: layers)
    }
}
