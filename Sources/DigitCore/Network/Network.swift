/// A feed-forward network: dense layers applied in order to a flat input vector.
///
/// Inference is Float32 throughout. A network is immutable once built and `Sendable`, so one instance
/// serves every request concurrently.
public struct Network: Equatable, Sendable {
    public internal(set) var layers: [DenseLayer]

    /// Creates a network; consecutive layers must agree on their sizes.
    public init(layers: [DenseLayer]) {
        precondition(!layers.isEmpty, "a network needs at least one layer")
        for (previous, next) in zip(layers, layers.dropFirst()) {
            precondition(previous.units == next.inputSize, "layer sizes must chain")
        }
        self.layers = layers
    }

    /// Creates a network with Glorot-uniform weights and zero biases, as Keras initialises `Dense`
    /// (Glorot and Bengio, 2010: U(−l, l) with l = √(6 / (fan_in + fan_out))).
    public init(inputSize: Int, layers shape: [(units: Int, activation: Activation)], seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        var inputs = inputSize
        var layers: [DenseLayer] = []
        for (units, activation) in shape {
            let limit = (6 / Float(inputs + units)).squareRoot()
            let weights = (0..<inputs * units).map { _ in (generator.nextUnitFloat() * 2 - 1) * limit }
            layers.append(
                DenseLayer(
                    inputSize: inputs, units: units, activation: activation, weights: weights,
                    bias: [Float](repeating: 0, count: units)))
            inputs = units
        }
        self.init(layers: layers)
    }

    public var inputSize: Int { layers[0].inputSize }
    public var outputSize: Int { layers[layers.count - 1].units }
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.parameterCount } }

    /// The widest layer (input included): the size of the scratch buffers a forward pass needs per sample.
    var widestLayer: Int { layers.reduce(inputSize) { max($0, $1.units) } }

    /// The network's output for one image of `inputSize` values.
    public func predict(_ input: [Float]) -> [Float] {
        predictBatch(input, count: 1)
    }

    /// The outputs for `count` images stored one after another (`count × inputSize` values),
    /// returned the same way (`count × outputSize` values).
    public func predictBatch(_ inputs: [Float], count: Int) -> [Float] {
        precondition(inputs.count == count * inputSize, "inputs must hold count × inputSize values")
        var output = [Float](repeating: 0, count: count * outputSize)
        inputs.withUnsafeBufferPointer { inputs in
            output.withUnsafeMutableBufferPointer { output in
                forward(inputs.baseAddress!, count: count, into: output.baseAddress!)
            }
        }
        return output
    }

    /// The forward pass over raw buffers, alternating between two scratch buffers (on the stack when they
    /// are small, as they are for one image), so a prediction allocates nothing but its result.
    func forward(_ input: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Float>) {
        if layers.count == 1 {
            layers[0].forward(input, count: count, into: output)
            return
        }
        let scratchSize = count * widestLayer
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * scratchSize) { scratch in
            let first = scratch.baseAddress!
            let second = first + scratchSize
            var source = UnsafePointer(first)
            layers[0].forward(input, count: count, into: first)
            var destination = second
            for layer in layers.dropFirst().dropLast() {
                layer.forward(source, count: count, into: destination)
                let previous = UnsafeMutablePointer(mutating: source)
                source = UnsafePointer(destination)
                destination = previous
            }
            layers[layers.count - 1].forward(source, count: count, into: output)
        }
    }
}
