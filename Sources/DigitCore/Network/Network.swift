/// A feed-forward network: layers applied in order to one sample's values (a flat vector, or feature maps
/// stored channel after channel).
///
/// Inference is Float32 throughout. A network is immutable once built and `Sendable`, so one instance
/// serves every request concurrently.
public struct Network: Equatable, Sendable {
    public internal(set) var layers: [Layer]

    /// Creates a network; consecutive layers must agree on their sizes, and a layer over feature maps must
    /// follow one that makes exactly those maps (or come first).
    public init(layers: [Layer]) {
        precondition(!layers.isEmpty, "a network needs at least one layer")
        for (previous, next) in zip(layers, layers.dropFirst()) {
            precondition(previous.outputCount == next.inputCount, "layer sizes must chain")
            switch next {
            case .convolution(let layer): precondition(previous.outputMaps == layer.input, "maps must chain")
            case .maxPool(let layer): precondition(previous.outputMaps == layer.input, "maps must chain")
            case .dense, .dropout: break
            }
        }
        self.layers = layers
    }

    /// A network of dense layers only.
    public init(layers: [DenseLayer]) {
        self.init(layers: layers.map(Layer.dense))
    }

    /// Creates a dense network with Glorot-uniform weights and zero biases, as Keras initialises `Dense`.
    public init(inputSize: Int, layers shape: [(units: Int, activation: Activation)], seed: UInt64) {
        self.init(
            input: .flat(inputSize),
            architecture: shape.map { LayerPlan.dense(units: $0.units, activation: $0.activation) },
            seed: seed)
    }

    public var inputSize: Int { layers[0].inputCount }
    public var outputSize: Int { layers[layers.count - 1].outputCount }
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.parameterCount } }

    /// The dense layers, in order (all of a multilayer perceptron's layers).
    public var denseLayers: [DenseLayer] {
        layers.compactMap { if case .dense(let layer) = $0 { layer } else { nil } }
    }

    /// The widest layer (input included): the size of the scratch buffers a forward pass needs per sample.
    var widestLayer: Int { layers.reduce(inputSize) { max($0, $1.outputCount) } }

    /// Samples run through the layers together: enough to amortise each layer's setup, few enough that a
    /// large batch needs scratch memory for this many samples only.
    static let samplesPerChunk = 64
    /// The most values each of the two scratch buffers holds when more than one sample shares them (4 MB):
    /// a network with wide feature maps runs fewer samples at a time rather than allocating more.
    static let scratchValues = 1 << 20

    /// How many samples share the scratch buffers in one pass: at most ``samplesPerChunk``, fewer when the
    /// widest layer would need more than ``scratchValues``, and at least one.
    func samplesPerPass(_ count: Int) -> Int {
        max(1, min(count, Self.samplesPerChunk, Self.scratchValues / widestLayer))
    }

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

    /// The forward pass over raw buffers, ``samplesPerPass(_:)`` samples at a time, alternating between two
    /// scratch buffers (on the stack when they are small, as they are for one image), so a prediction
    /// allocates nothing but its result.
    func forward(_ input: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Float>) {
        if layers.count == 1 {
            layers[0].forward(input, count: count, into: output)
            return
        }
        let chunk = samplesPerPass(count)
        let scratchSize = chunk * widestLayer
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * scratchSize) { scratch in
            for start in stride(from: 0, to: count, by: chunk) {
                let samples = min(chunk, count - start)
                let first = scratch.baseAddress!
                let second = first + scratchSize
                var source = UnsafePointer(first)
                layers[0].forward(input + start * inputSize, count: samples, into: first)
                var destination = second
                for layer in layers.dropFirst().dropLast() {
                    layer.forward(source, count: samples, into: destination)
                    let previous = UnsafeMutablePointer(mutating: source)
                    source = UnsafePointer(destination)
                    destination = previous
                }
                layers[layers.count - 1].forward(source, count: samples, into: output + start * outputSize)
            }
        }
    }
}
