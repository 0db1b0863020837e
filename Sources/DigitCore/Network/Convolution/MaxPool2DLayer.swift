/// 2x2 max pooling, stride 2, per channel, as Keras's `MaxPooling2D()`:
///
///     y[c, i, j] = max(x[c, 2i, 2j], x[c, 2i, 2j + 1], x[c, 2i + 1, 2j], x[c, 2i + 1, 2j + 1])
///
/// An odd last row or column is dropped (Keras's `valid` padding). It has no parameters; its gradient goes
/// whole to the input that was the maximum (the first of equal ones, in row-major order) and is 0 for the
/// other three.
public struct MaxPool2DLayer: FeatureMapLayer, Equatable, Sendable {
    public let input: FeatureMapShape

    public init(input: FeatureMapShape) {
        precondition(input.height >= 2 && input.width >= 2, "2x2 pooling needs maps of at least 2x2")
        self.input = input
    }

    public var output: FeatureMapShape {
        FeatureMapShape(channels: input.channels, height: input.height / 2, width: input.width / 2)
    }

    /// The forward pass over raw buffers.
    public func forward(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) {
        let output = self.output
        for sample in 0..<count {
            for c in 0..<input.channels {
                for i in 0..<output.height {
                    for j in 0..<output.width {
                        y[sample * output.count + output.index(c, i, j)] = x[maximum(x, sample: sample, c, i, j)]
                    }
                }
            }
        }
    }

    /// dL/dx from the layer's `inputs` and dL/dy: each output's gradient to its window's maximum.
    public func backward(inputs: [Float], outputGradient: [Float], count: Int) -> [Float] {
        let output = self.output
        precondition(inputs.count == count * input.count && outputGradient.count == count * output.count)
        var inputGradient = [Float](repeating: 0, count: inputs.count)
        for sample in 0..<count {
            for c in 0..<input.channels {
                for i in 0..<output.height {
                    for j in 0..<output.width {
                        let winner = inputs.withUnsafeBufferPointer {
                            maximum($0.baseAddress!, sample: sample, c, i, j)
                        }
                        inputGradient[winner] += outputGradient[sample * output.count + output.index(c, i, j)]
                    }
                }
            }
        }
        return inputGradient
    }

    /// The index in `inputs` of window (c, i, j)'s maximum, the first of equal values.
    @inline(__always)
    private func maximum(_ inputs: UnsafePointer<Float>, sample: Int, _ c: Int, _ i: Int, _ j: Int) -> Int {
        let topLeft = sample * input.count + input.index(c, 2 * i, 2 * j)
        let (right, below) = (topLeft + 1, topLeft + input.width)
        var winner = topLeft
        if inputs[right] > inputs[winner] { winner = right }
        if inputs[below] > inputs[winner] { winner = below }
        if inputs[below + 1] > inputs[winner] { winner = below + 1 }
        return winner
    }
}
