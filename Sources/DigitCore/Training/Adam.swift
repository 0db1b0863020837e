/// Adam (Kingma and Ba, 2015, "Adam: A Method for Stochastic Optimization", arXiv:1412.6980).
///
///     m ← β₁·m + (1 − β₁)·g
///     v ← β₂·v + (1 − β₂)·g²
///     θ ← θ − α·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m / (√v + ε)
///
/// in the "efficient" form of the paper's section 2, which is how Keras applies it; ε = 1e-7 is Keras's default.
public struct Adam: Sendable {
    public var learningRate: Float
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-7

    /// β₁ᵗ and β₂ᵗ for the current step t, kept as running products in Double.
    private var beta1Power = 1.0
    private var beta2Power = 1.0
    private var firstMoments: [[Float]] = []
    private var secondMoments: [[Float]] = []

    public init(learningRate: Float = 0.001) {
        self.learningRate = learningRate
    }

    /// Starts a new step: every parameter tensor is then updated once with ``update(_:gradient:slot:)``.
    mutating func beginStep() {
        beta1Power *= Double(beta1)
        beta2Power *= Double(beta2)
    }

    /// Updates the parameters in `slot` (a fixed index per tensor) from their gradient.
    mutating func update(_ parameters: inout [Float], gradient: [Float], slot: Int) {
        while firstMoments.count <= slot {
            firstMoments.append([])
            secondMoments.append([])
        }
        if firstMoments[slot].isEmpty {
            firstMoments[slot] = [Float](repeating: 0, count: parameters.count)
            secondMoments[slot] = [Float](repeating: 0, count: parameters.count)
        }
        let correctedRate = Float(Double(learningRate) * (1 - beta2Power).squareRoot() / (1 - beta1Power))
        let (beta1, beta2, epsilon) = (self.beta1, self.beta2, self.epsilon)
        parameters.withUnsafeMutableBufferPointer { theta in
            gradient.withUnsafeBufferPointer { g in
                firstMoments[slot].withUnsafeMutableBufferPointer { m in
                    secondMoments[slot].withUnsafeMutableBufferPointer { v in
                        for index in 0..<theta.count {
                            m[index] = beta1 * m[index] + (1 - beta1) * g[index]
                            v[index] = beta2 * v[index] + (1 - beta2) * g[index] * g[index]
                            theta[index] -= correctedRate * m[index] / (v[index].squareRoot() + epsilon)
                        }
                    }
                }
            }
        }
    }
}
