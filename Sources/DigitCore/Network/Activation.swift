import Glibc

/// The activation functions a dense layer may apply to its pre-activations `z`.
public enum Activation: String, Codable, CaseIterable, Sendable {
    /// σ(z) = 1 / (1 + e^−z), the seed model's activation throughout; as the output of a single unit,
    /// the probability of the positive class.
    case sigmoid
    /// max(0, z) (Nair and Hinton, 2010).
    case relu
    /// e^zᵢ / Σⱼ e^zⱼ over the layer's units: a probability distribution over classes. Computed with
    /// the maximum subtracted first, which changes nothing mathematically and keeps e^z finite.
    case softmax
    /// The identity, z.
    case linear

    /// Applies the activation in place to one sample's pre-activations.
    @inlinable
    public func apply(_ values: UnsafeMutableBufferPointer<Float>) {
        switch self {
        case .sigmoid:
            for index in values.indices { values[index] = Self.sigmoid(values[index]) }
        case .relu:
            for index in values.indices { values[index] = max(0, values[index]) }
        case .softmax:
            guard let largest = values.max() else { return }
            var sum: Float = 0
            for index in values.indices {
                let exponential = Self.exp(values[index] - largest)
                values[index] = exponential
                sum += exponential
            }
            for index in values.indices { values[index] /= sum }
        case .linear:
            break
        }
    }

    /// The derivative dh/dz expressed through the output h = f(z), which is what backpropagation has at hand.
    /// Softmax has no elementwise derivative; as an output layer its gradient is folded into the loss's.
    @inlinable
    public func derivative(output h: Float) -> Float {
        switch self {
        case .sigmoid: h * (1 - h)
        case .relu: h > 0 ? 1 : 0
        case .linear, .softmax: 1
        }
    }

    /// The logistic function, written so that neither branch overflows: e^−|z| is at most 1.
    @inlinable
    public static func sigmoid(_ z: Float) -> Float {
        if z >= 0 {
            return 1 / (1 + exp(-z))
        }
        let exponential = exp(z)
        return exponential / (1 + exponential)
    }

    @inlinable
    static func exp(_ x: Float) -> Float {
        expf(x)
    }
}
