import Glibc

/// The two losses, each paired with the output activation it is meant for.
///
/// With a sigmoid output and binary cross-entropy, or a softmax output and categorical cross-entropy,
/// the gradient of the loss with respect to the output's pre-activation is simply p − y
/// (Bishop, *Pattern Recognition and Machine Learning*, §5.3): backpropagation starts from that.
public enum Loss: String, Codable, Sendable {
    /// −[y·log p + (1 − y)·log(1 − p)] for one sigmoid output, p = P(class 1).
    case binaryCrossEntropy = "binary_crossentropy"
    /// −log p_y over a softmax distribution.
    case categoricalCrossEntropy = "categorical_crossentropy"

    /// Probabilities are clipped to [ε, 1 − ε] before the logarithm, as Keras does, so a confident
    /// mistake costs a large but finite loss.
    static let epsilon: Float = 1e-7

    /// The output activation this loss assumes.
    public var outputActivation: Activation {
        switch self {
        case .binaryCrossEntropy: .sigmoid
        case .categoricalCrossEntropy: .softmax
        }
    }

    /// The loss of one sample whose network output is `output` and whose class index is `label`.
    func value(output: UnsafePointer<Float>, label: Int) -> Float {
        switch self {
        case .binaryCrossEntropy:
            let p = min(max(output[0], Self.epsilon), 1 - Self.epsilon)
            return label == 1 ? -logf(p) : -logf(1 - p)
        case .categoricalCrossEntropy:
            return -logf(min(max(output[label], Self.epsilon), 1 - Self.epsilon))
        }
    }

    /// dL/dz for the output layer's pre-activations, scaled by `scale` (1 / batch size).
    func outputGradient(
        output: UnsafePointer<Float>, label: Int, units: Int, scale: Float, into gradient: UnsafeMutablePointer<Float>
    ) {
        switch self {
        case .binaryCrossEntropy:
            gradient[0] = (output[0] - Float(label)) * scale
        case .categoricalCrossEntropy:
            for unit in 0..<units { gradient[unit] = (output[unit] - (unit == label ? 1 : 0)) * scale }
        }
    }
}
