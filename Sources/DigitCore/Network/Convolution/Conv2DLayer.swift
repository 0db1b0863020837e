/// A 2-D convolution over feature maps, stride 1: for output channel k at position (i, j),
///
///     z[k, i, j] = b[k] + Σ_c Σ_u Σ_v  w[k, c, u, v] · x[c, i + u − p, j + v − p]
///     y = f(z)
///
/// with x taken as 0 outside the input, p = 0 for `valid` padding and (R − 1) / 2 for `same`, and the sums
/// over the C input channels and the R x R kernel (as Keras's `Conv2D` computes it: a cross-correlation).
///
/// `weights` is [K][C][R][R] row-major ("OIHW": `weights[((k * C + c) * R + u) * R + v]`); Keras stores
/// [R][R][C][K] ("HWIO"), which an import reorders. The kernel is direct (no im2col): for 20x20 digits and
/// 3x3 or 5x5 kernels the loops touch every weight once per output position and need no scratch memory.
public struct Conv2DLayer: Equatable, Sendable {
    public let input: FeatureMapShape
    public let outputChannels: Int
    /// R: 3 or 5.
    public let kernelSize: Int
    public let padding: Padding
    /// Elementwise: sigmoid, ReLU or linear (softmax belongs to an output layer over classes).
    public let activation: Activation
    public internal(set) var weights: [Float]
    public internal(set) var bias: [Float]

    /// The kernel sizes this layer takes.
    public static let kernelSizes = [3, 5]

    /// Creates a layer; the caller guarantees the sizes (a model file's loader validates untrusted ones).
    public init(
        input: FeatureMapShape, outputChannels: Int, kernelSize: Int, padding: Padding, activation: Activation,
        weights: [Float], bias: [Float]
    ) {
        precondition(Self.kernelSizes.contains(kernelSize), "kernels are 3x3 or 5x5")
        precondition(outputChannels > 0, "a convolution has at least one output channel")
        precondition(activation != .softmax, "softmax is not elementwise")
        precondition(
            padding == .same || (input.height >= kernelSize && input.width >= kernelSize),
            "a valid convolution needs an input at least as large as its kernel")
        precondition(weights.count == outputChannels * input.channels * kernelSize * kernelSize, "weights: K·C·R·R")
        precondition(bias.count == outputChannels, "bias: one per output channel")
        self.input = input
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.padding = padding
        self.activation = activation
        self.weights = weights
        self.bias = bias
    }

    /// p: the zeros added on each side.
    public var pad: Int { padding == .same ? (kernelSize - 1) / 2 : 0 }

    public var output: FeatureMapShape {
        let shrink = padding == .same ? 0 : kernelSize - 1
        return FeatureMapShape(channels: outputChannels, height: input.height - shrink, width: input.width - shrink)
    }

    public var parameterCount: Int { weights.count + bias.count }

    /// The outputs for `count` samples stored one after another (`count × input.count` values).
    public func forward(_ inputs: [Float], count: Int) -> [Float] {
        precondition(inputs.count == count * input.count, "inputs must hold count × input.count values")
        let output = self.output
        var outputs = [Float](repeating: 0, count: count * output.count)
        inputs.withUnsafeBufferPointer { x in
            weights.withUnsafeBufferPointer { w in
                outputs.withUnsafeMutableBufferPointer { y in
                    for sample in 0..<count {
                        for k in 0..<outputChannels {
                            for i in 0..<output.height {
                                for j in 0..<output.width {
                                    var sum = bias[k]
                                    forEachTap(sample: sample, k: k, i: i, j: j) { weight, input in
                                        sum += w[weight] * x[input]
                                    }
                                    y[sample * output.count + output.index(k, i, j)] = sum
                                }
                            }
                        }
                    }
                    activation.apply(y)
                }
            }
        }
        return outputs
    }

    /// Calls `tap(w, x)` with the index in `weights` and the index in a batch's inputs of every product in
    /// output (k, i, j) of `sample`'s sum: the one walk of the kernel over the input, which the forward
    /// pass sums and the backward pass scatters. Positions outside the maps (the zero padding) are skipped.
    @inline(__always)
    private func forEachTap(sample: Int, k: Int, i: Int, j: Int, _ tap: (Int, Int) -> Void) {
        let (channels, height, width, size, pad) = (input.channels, input.height, input.width, kernelSize, self.pad)
        let xBase = sample * input.count
        for c in 0..<channels {
            for u in 0..<size {
                let row = i + u - pad
                guard row >= 0 && row < height else { continue }
                let wRow = ((k * channels + c) * size + u) * size
                let xRow = xBase + (c * height + row) * width
                for v in 0..<size {
                    let column = j + v - pad
                    guard column >= 0 && column < width else { continue }
                    tap(wRow + v, xRow + column)
                }
            }
        }
    }

    /// The gradients of a loss L, summed over the `count` samples, from the layer's `inputs`, its forward
    /// `outputs` y and dL/dy. With δ = dL/dy · f′(z) (f′ written through y, as ``Activation/derivative(output:)``):
    ///
    ///     dL/db[k]          = Σ_{i,j} δ[k, i, j]
    ///     dL/dw[k, c, u, v] = Σ_{i,j} δ[k, i, j] · x[c, i + u − p, j + v − p]
    ///     dL/dx[c, a, b]    = Σ_k Σ_{u,v} δ[k, a − u + p, b − v + p] · w[k, c, u, v]
    ///
    /// each sum over the positions that lie inside the maps.
    public func backward(
        inputs: [Float], outputs: [Float], outputGradient: [Float], count: Int
    ) -> (
        input: [Float], weights: [Float], bias: [Float]
    ) {
        let output = self.output
        precondition(inputs.count == count * input.count && outputs.count == count * output.count)
        precondition(outputGradient.count == outputs.count)
        var inputGradient = [Float](repeating: 0, count: inputs.count)
        var weightGradient = [Float](repeating: 0, count: weights.count)
        var biasGradient = [Float](repeating: 0, count: bias.count)
        for sample in 0..<count {
            for k in 0..<outputChannels {
                for i in 0..<output.height {
                    for j in 0..<output.width {
                        let position = sample * output.count + output.index(k, i, j)
                        let delta = outputGradient[position] * activation.derivative(output: outputs[position])
                        guard delta != 0 else { continue }
                        biasGradient[k] += delta
                        forEachTap(sample: sample, k: k, i: i, j: j) { weight, input in
                            weightGradient[weight] += delta * inputs[input]
                            inputGradient[input] += delta * weights[weight]
                        }
                    }
                }
            }
        }
        return (inputGradient, weightGradient, biasGradient)
    }
}
