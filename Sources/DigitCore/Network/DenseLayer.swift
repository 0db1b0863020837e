/// A fully connected layer: h = f(W·x + b).
///
/// `weights` is row-major with one row per unit, `weights[j * inputSize + i]` connecting input `i`
/// to unit `j`, so each unit's pre-activation is one contiguous dot product. (Keras stores the
/// transpose, `kernel[i][j]`; the `.npz` import transposes it.)
public struct DenseLayer: Equatable, Sendable {
    public let inputSize: Int
    public let units: Int
    public let activation: Activation
    public internal(set) var weights: [Float]
    public internal(set) var bias: [Float]
    /// Set when the weights are int8 values times one scale per row (unit or filter), as
    /// ``Network/quantized()`` makes them: `weights` then holds exactly q · scale, and a model file stores q.
    public internal(set) var weightScales: [Float]? = nil

    /// Creates a layer; the caller guarantees the sizes (``Model/init(jsonBytes:)`` validates untrusted ones).
    public init(inputSize: Int, units: Int, activation: Activation, weights: [Float], bias: [Float]) {
        precondition(inputSize > 0 && units > 0, "a layer needs at least one input and one unit")
        precondition(weights.count == inputSize * units, "weights must hold inputSize × units values")
        precondition(bias.count == units, "bias must hold one value per unit")
        self.inputSize = inputSize
        self.units = units
        self.activation = activation
        self.weights = weights
        self.bias = bias
    }

    /// Weights plus biases.
    public var parameterCount: Int { weights.count + bias.count }

    /// Computes the layer's output for `count` samples stored one after another in `input`.
    @inlinable
    func forward(_ input: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Float>) {
        weights.withUnsafeBufferPointer { weights in
            bias.withUnsafeBufferPointer { bias in
                for sample in 0..<count {
                    let x = input + sample * inputSize
                    let h = output + sample * units
                    let w = weights.baseAddress!
                    var unit = 0
                    while unit + 4 <= units {
                        let sums = VectorMath.dot4(rows: w + unit * inputSize, stride: inputSize, x, count: inputSize)
                        h[unit] = sums.0 + bias[unit]
                        h[unit + 1] = sums.1 + bias[unit + 1]
                        h[unit + 2] = sums.2 + bias[unit + 2]
                        h[unit + 3] = sums.3 + bias[unit + 3]
                        unit += 4
                    }
                    while unit < units {
                        h[unit] = VectorMath.dot(w + unit * inputSize, x, count: inputSize) + bias[unit]
                        unit += 1
                    }
                    activation.apply(UnsafeMutableBufferPointer(start: h, count: units))
                }
            }
        }
    }
}

extension DenseLayer {
    /// The gradients of a loss L, summed over the `count` samples, from the layer's `inputs` and
    /// δ = dL/dz, the gradient at the pre-activations:
    ///
    ///     dL/db[j]    = δ[j]
    ///     dL/dw[j, i] = δ[j] · x[i]
    ///     dL/dx[i]    = Σ_j δ[j] · w[j, i]
    ///
    /// (dL/dx only when `inputGradient`: the first layer's is never used.)
    func backward(
        inputs: [Float], delta: [Float], count: Int, inputGradient: Bool
    ) -> (
        input: [Float], weights: [Float], bias: [Float]
    ) {
        precondition(inputs.count == count * inputSize && delta.count == count * units)
        var weightGradient = [Float](repeating: 0, count: weights.count)
        var biasGradient = [Float](repeating: 0, count: units)
        var previous = [Float](repeating: 0, count: inputGradient ? count * inputSize : 0)
        inputs.withUnsafeBufferPointer { x in
            weights.withUnsafeBufferPointer { w in
                weightGradient.withUnsafeMutableBufferPointer { dw in
                    previous.withUnsafeMutableBufferPointer { dx in
                        for sample in 0..<count {
                            let row = x.baseAddress! + sample * inputSize
                            for unit in 0..<units {
                                let d = delta[sample * units + unit]
                                guard d != 0 else { continue }
                                biasGradient[unit] += d
                                VectorMath.addScaled(
                                    row, times: d, to: dw.baseAddress! + unit * inputSize, count: inputSize)
                                if inputGradient {
                                    VectorMath.addScaled(
                                        w.baseAddress! + unit * inputSize, times: d,
                                        to: dx.baseAddress! + sample * inputSize, count: inputSize)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (previous, weightGradient, biasGradient)
    }
}
