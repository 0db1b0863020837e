/// Why Keras-style weights could not become a network.
public enum KerasImportError: Error, Equatable, Sendable, CustomStringConvertible {
    case noLayers(available: [String])
    case activationCount(layers: Int, activations: Int)
    case kernelShape(layer: Int, shape: [Int], inputs: Int)
    case convolutionKernelShape(layer: Int, shape: [Int], expected: [Int])
    case biasShape(layer: Int, shape: [Int], units: Int)
    case missingBias(layer: Int)
    case layerCount(planned: Int, arrays: Int)
    case unsuitableLayers(String)
    case gap(found: String, missing: String)

    public var description: String {
        switch self {
        case .noLayers(let available):
            "no W1 array; the archive holds: \(available.isEmpty ? "nothing" : available.joined(separator: ", "))"
        case .activationCount(let layers, let activations):
            "the archive holds \(layers) layers (W1 to W\(layers)) but \(activations) activations were given; give one per layer"
        case .kernelShape(let layer, let shape, let inputs):
            "W\(layer) has shape \(shapeText(shape)); expected (\(inputs), units): a Keras kernel has one row per input"
        case .convolutionKernelShape(let layer, let shape, let expected):
            "W\(layer) has shape \(shapeText(shape)); expected \(shapeText(expected)): a Keras Conv2D kernel is (rows, columns, input channels, filters)"
        case .biasShape(let layer, let shape, let units):
            "b\(layer) has shape \(shapeText(shape)); expected (\(units),), one per unit of W\(layer)"
        case .missingBias(let layer):
            "W\(layer) has no bias b\(layer)"
        case .layerCount(let planned, let arrays):
            "the layers name \(planned) layers with weights (conv and dense) but the archive holds \(arrays) (W1 to W\(arrays))"
        case .unsuitableLayers(let problem):
            problem
        case .gap(let found, let missing):
            "the archive holds \(found) but no \(missing); the layers' arrays are numbered from W1 without a gap"
        }
    }
}

extension Network {
    /// Builds a dense network from Keras `Dense` weights saved with `np.savez`: `W1, b1, W2, b2, ...`, where
    /// `Wn` is the kernel of shape (inputs, units) and `bn` the bias of shape (units,).
    public init(kerasWeights archive: NumPyArchive, inputSize: Int, activations: [Activation]) throws(KerasImportError)
    {
        let count = try Self.weightedLayerCount(in: archive)
        guard count > 0 else { throw .noLayers(available: archive.names) }
        guard count == activations.count else { throw .activationCount(layers: count, activations: activations.count) }
        var plan: [LayerPlan] = []
        var inputs = inputSize
        for number in 1...count {
            let shape = archive.arrays["W\(number)"]!.shape
            guard shape.count == 2, shape[0] == inputs, shape[1] > 0 else {
                throw .kernelShape(layer: number, shape: shape, inputs: inputs)
            }
            plan.append(.dense(units: shape[1], activation: activations[number - 1]))
            inputs = shape[1]
        }
        try self.init(kerasWeights: archive, input: .flat(inputSize), plan: plan)
    }

    /// Builds a network of any layers from Keras weights saved with `np.savez`, `W1, b1, ...` for the layers
    /// with weights in `plan`'s order (its pooling and dropout layers have none). The plan's sizes must
    /// match the arrays'.
    ///
    /// Keras stores a `Conv2D` kernel [R][R][C][K] (HWIO) and a `Dense` kernel [input][unit]; a
    /// ``Conv2DLayer`` keeps [K][C][R][R] and a ``DenseLayer`` one row per unit, so both are reordered. A
    /// dense layer after feature maps reads Keras's `Flatten`, which is channels last ((h, w, c) order); ours
    /// is channels first ((c, h, w)), so its rows are permuted too.
    public init(kerasWeights archive: NumPyArchive, input: LayerInput, plan: [LayerPlan]) throws(KerasImportError) {
        if let problem = Self.checkedPlan(plan, input: input) { throw .unsuitableLayers(problem) }
        let arrays = try Self.weightedLayerCount(in: archive)
        guard arrays > 0 else { throw .noLayers(available: archive.names) }
        let planned = plan.filter(\.hasWeights)
        guard planned.count == arrays else { throw .layerCount(planned: planned.count, arrays: arrays) }
        try self.init(input: input, plan: plan) { (number, step, current) throws(KerasImportError) in
            let (kernel, bias) = try Self.arrays(number, in: archive)
            let values = kernel.floats()
            switch step {
            case .dense(let units, _):
                let inputs = current.count
                guard kernel.shape == [inputs, units] else {
                    throw .kernelShape(layer: number, shape: kernel.shape, inputs: inputs)
                }
                guard bias.shape == [units] else { throw .biasShape(layer: number, shape: bias.shape, units: units) }
                var weights = [Float](repeating: 0, count: units * inputs)
                for ours in 0..<inputs {
                    let theirs: Int
                    if case .maps(let maps) = current {
                        let (c, rest) = ours.quotientAndRemainder(dividingBy: maps.height * maps.width)
                        theirs = rest * maps.channels + c
                    } else {
                        theirs = ours
                    }
                    for unit in 0..<units { weights[unit * inputs + ours] = values[theirs * units + unit] }
                }
                return (weights, bias.floats())
            case .convolution(let filters, let size, _, _):
                guard case .maps(let maps) = current else {
                    preconditionFailure("checkedPlan lets no such plan through")
                }
                let expected = [size, size, maps.channels, filters]
                guard kernel.shape == expected else {
                    throw .convolutionKernelShape(layer: number, shape: kernel.shape, expected: expected)
                }
                guard bias.shape == [filters] else {
                    throw .biasShape(layer: number, shape: bias.shape, units: filters)
                }
                let channels = maps.channels
                var weights = [Float](repeating: 0, count: values.count)
                for k in 0..<filters {
                    for c in 0..<channels {
                        for u in 0..<size {
                            for v in 0..<size {
                                weights[((k * channels + c) * size + u) * size + v] =
                                    values[((u * size + v) * channels + c) * filters + k]
                            }
                        }
                    }
                }
                return (weights, bias.floats())
            case .maxPool, .dropout:
                preconditionFailure("pooling and dropout have no weights")
            }
        }
    }

    /// How many of W1, W2, ... the archive holds, counting from W1; a Wn after a gap (W3 without W2) is
    /// refused rather than left out.
    private static func weightedLayerCount(in archive: NumPyArchive) throws(KerasImportError) -> Int {
        var count = 0
        while archive.arrays["W\(count + 1)"] != nil { count += 1 }
        let numbered = archive.names.filter { $0.hasPrefix("W") && Int($0.dropFirst()) != nil }
        if let stray = numbered.first(where: { Int($0.dropFirst())! > count }) {
            throw .gap(found: stray, missing: "W\(count + 1)")
        }
        return count
    }

    private static func arrays(
        _ number: Int, in archive: NumPyArchive
    ) throws(KerasImportError) -> (
        kernel: NumPyArray, bias: NumPyArray
    ) {
        guard let bias = archive.arrays["b\(number)"] else { throw .missingBias(layer: number) }
        return (archive.arrays["W\(number)"]!, bias)
    }
}
