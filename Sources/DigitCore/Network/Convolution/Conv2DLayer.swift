/// A 2-D convolution over feature maps, stride 1: for output channel k at position (i, j),
///
///     z[k, i, j] = b[k] + Σ_c Σ_u Σ_v  w[k, c, u, v] · x[c, i + u − p, j + v − p]
///     y = f(z)
///
/// with x taken as 0 outside the input, p = 0 for `valid` padding and (R − 1) / 2 for `same`, and the sums
/// over the C input channels and the R x R kernel (as Keras's `Conv2D` computes it: a cross-correlation).
///
/// `weights` is [K][C][R][R] row-major ("OIHW": `weights[((k * C + c) * R + u) * R + v]`); Keras stores
/// [R][R][C][K] ("HWIO"), which an import reorders. A kernel's weights are contiguous and in the order of an
/// unrolled receptive field, which is what lets ``forward(_:count:into:)`` run as dot products.
public struct Conv2DLayer: FeatureMapLayer, Equatable, Sendable {
    public let input: FeatureMapShape
    public let filters: Int
    /// R: 3 or 5.
    public let kernelSize: Int
    public let padding: Padding
    /// Elementwise: sigmoid, ReLU or linear (softmax belongs to an output layer over classes).
    public let activation: Activation
    public internal(set) var weights: [Float]
    public internal(set) var bias: [Float]
    /// Set when the weights are int8 values times one scale per row (unit or filter), as
    /// ``Network/quantized()`` makes them: `weights` then holds exactly q · scale, and a model file stores q.
    public internal(set) var weightScales: [Float]? = nil

    /// The kernel sizes this layer takes.
    public static let kernelSizes = [3, 5]

    /// Creates a layer; the caller guarantees the sizes (a model file's loader validates untrusted ones).
    public init(
        input: FeatureMapShape, filters: Int, kernelSize: Int, padding: Padding, activation: Activation,
        weights: [Float], bias: [Float]
    ) {
        precondition(Self.kernelSizes.contains(kernelSize), "kernels are 3x3 or 5x5")
        precondition(filters > 0, "a convolution has at least one output channel")
        precondition(activation != .softmax, "softmax is not elementwise")
        precondition(
            padding == .same || (input.height >= kernelSize && input.width >= kernelSize),
            "a valid convolution needs an input at least as large as its kernel")
        precondition(weights.count == filters * input.channels * kernelSize * kernelSize, "weights: K·C·R·R")
        precondition(bias.count == filters, "bias: one per output channel")
        self.input = input
        self.filters = filters
        self.kernelSize = kernelSize
        self.padding = padding
        self.activation = activation
        self.weights = weights
        self.bias = bias
    }

    /// p: the zeros added on each side.
    public var pad: Int { padding == .same ? (kernelSize - 1) / 2 : 0 }

    public var output: FeatureMapShape {
        Self.outputShape(input: input, filters: filters, kernelSize: kernelSize, padding: padding)
    }

    /// The maps a convolution makes: as large as its input with `same` padding, kernel − 1 smaller with
    /// `valid`. The caller guarantees a valid kernel fits.
    static func outputShape(
        input: FeatureMapShape, filters: Int, kernelSize: Int, padding: Padding
    )
        -> FeatureMapShape
    {
        let shrink = padding == .same ? 0 : kernelSize - 1
        return FeatureMapShape(channels: filters, height: input.height - shrink, width: input.width - shrink)
    }

    public var parameterCount: Int { weights.count + bias.count }

    /// L = C·R·R: the length of one output position's receptive field, a row of the unrolled input.
    var fieldLength: Int { input.channels * kernelSize * kernelSize }

    /// The most values of the unrolled input held at once (1 MB): positions are unrolled in blocks of as
    /// many rows as fit, so that a layer with a large field or many positions needs no more scratch.
    static let unrolledValues = 1 << 18

    /// The output positions unrolled together: as many rows of ``fieldLength`` as fit in
    /// ``unrolledValues``, at least one.
    var positionsPerBlock: Int {
        max(1, min(output.height * output.width, Self.unrolledValues / fieldLength))
    }

    /// The forward pass over raw buffers, one sample and one block of positions at a time: the input is
    /// unrolled ("im2col": one row of L values per output position, zeros where the kernel hangs over the
    /// border), so that each output value is one contiguous dot product of a kernel with a row, four kernels
    /// sharing each row's loads (``VectorMath/dot4(rows:stride:_:count:)``). Measured against a direct loop
    /// over the kernel's taps with bounds tests, on the bundled CNN's layers: see `Benchmarks/README.md`.
    public func forward(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) {
        let (positions, length, block) = (output.height * output.width, fieldLength, positionsPerBlock)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: block * length) { columns in
            let rows = columns.baseAddress!
            weights.withUnsafeBufferPointer { w in
                for sample in 0..<count {
                    let out = y + sample * output.count
                    for first in stride(from: 0, to: positions, by: block) {
                        let blockPositions = first..<min(first + block, positions)
                        unroll(x + sample * input.count, positions: blockPositions, into: rows)
                        var k = 0
                        while k + 4 <= filters {
                            let kernel = w.baseAddress! + k * length
                            for position in blockPositions {
                                let sums = VectorMath.dot4(
                                    rows: kernel, stride: length, rows + (position - first) * length, count: length)
                                out[k * positions + position] = sums.0 + bias[k]
                                out[(k + 1) * positions + position] = sums.1 + bias[k + 1]
                                out[(k + 2) * positions + position] = sums.2 + bias[k + 2]
                                out[(k + 3) * positions + position] = sums.3 + bias[k + 3]
                            }
                            k += 4
                        }
                        while k < filters {
                            for position in blockPositions {
                                out[k * positions + position] =
                                    VectorMath.dot(
                                        w.baseAddress! + k * length, rows + (position - first) * length, count: length)
                                    + bias[k]
                            }
                            k += 1
                        }
                    }
                    activation.apply(UnsafeMutableBufferPointer(start: out, count: output.count))
                }
            }
        }
    }

    /// Writes the unrolled rows of one sample's `positions` (row-major output positions): the row of
    /// (i, j) holds x[c, i + u − p, j + v − p] for every (c, u, v) in weight order, 0 outside the maps.
    private func unroll(_ x: UnsafePointer<Float>, positions: Range<Int>, into rows: UnsafeMutablePointer<Float>) {
        forEachTap(positions) { row, x0 in rows[row] = x0 < 0 ? 0 : x[x0] }
    }

    /// The inverse walk of ``unroll(_:positions:into:)``: adds each unrolled value's gradient to the input it
    /// came from.
    private func fold(_ rows: UnsafePointer<Float>, positions: Range<Int>, into x: UnsafeMutablePointer<Float>) {
        forEachTap(positions) { row, x0 in if x0 >= 0 { x[x0] += rows[row] } }
    }

    /// Calls `tap(r, x)` for every value of the unrolled rows of `positions`, with its index r in those rows
    /// (from 0) and the index x in the sample's maps that it copies (−1 for the zero padding).
    @inline(__always)
    private func forEachTap(_ positions: Range<Int>, _ tap: (Int, Int) -> Void) {
        let (channels, height, width, size, pad) = (input.channels, input.height, input.width, kernelSize, self.pad)
        let outputWidth = output.width
        var r = 0
        for position in positions {
            let (i, j) = position.quotientAndRemainder(dividingBy: outputWidth)
            for c in 0..<channels {
                for u in 0..<size {
                    let row = i + u - pad
                    let inside = row >= 0 && row < height
                    let xRow = (c * height + row) * width
                    for v in 0..<size {
                        let column = j + v - pad
                        tap(r, inside && column >= 0 && column < width ? xRow + column : -1)
                        r += 1
                    }
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
    /// each sum over the positions that lie inside the maps. On the unrolled input X (one row per position)
    /// the last two are dL/dw[k] = Σ_position δ[k, position] · X[position] and dL/dX[position] =
    /// Σ_k δ[k, position] · w[k], which is folded back onto the maps. dL/dx is left empty unless
    /// `inputGradient` (a first layer's is never used).
    public func backward(
        inputs: [Float], outputs: [Float], outputGradient: [Float], count: Int, inputGradient wantsInput: Bool = true
    ) -> (
        input: [Float], weights: [Float], bias: [Float]
    ) {
        let output = self.output
        precondition(inputs.count == count * input.count && outputs.count == count * output.count)
        precondition(outputGradient.count == outputs.count)
        let (positions, length, block) = (output.height * output.width, fieldLength, positionsPerBlock)
        var inputGradient = [Float](repeating: 0, count: wantsInput ? inputs.count : 0)
        var weightGradient = [Float](repeating: 0, count: weights.count)
        var biasGradient = [Float](repeating: 0, count: bias.count)
        var delta = [Float](repeating: 0, count: output.count)
        var unrolled = [Float](repeating: 0, count: block * length)
        var unrolledGradient = [Float](repeating: 0, count: wantsInput ? block * length : 0)
        inputs.withUnsafeBufferPointer { x in
            weights.withUnsafeBufferPointer { w in
                weightGradient.withUnsafeMutableBufferPointer { dw in
                    inputGradient.withUnsafeMutableBufferPointer { dx in
                        unrolled.withUnsafeMutableBufferPointer { rows in
                            unrolledGradient.withUnsafeMutableBufferPointer { dRows in
                                for sample in 0..<count {
                                    let base = sample * output.count
                                    for position in 0..<output.count {
                                        delta[position] =
                                            outputGradient[base + position]
                                            * activation.derivative(output: outputs[base + position])
                                    }
                                    let sampleInput = x.baseAddress! + sample * input.count
                                    for first in stride(from: 0, to: positions, by: block) {
                                        let blockPositions = first..<min(first + block, positions)
                                        unroll(sampleInput, positions: blockPositions, into: rows.baseAddress!)
                                        if wantsInput { dRows.update(repeating: 0) }
                                        for k in 0..<filters {
                                            for position in blockPositions {
                                                let d = delta[k * positions + position]
                                                guard d != 0 else { continue }
                                                biasGradient[k] += d
                                                let row = (position - first) * length
                                                VectorMath.addScaled(
                                                    rows.baseAddress! + row, times: d,
                                                    to: dw.baseAddress! + k * length, count: length)
                                                if wantsInput {
                                                    VectorMath.addScaled(
                                                        w.baseAddress! + k * length, times: d,
                                                        to: dRows.baseAddress! + row, count: length)
                                                }
                                            }
                                        }
                                        if wantsInput {
                                            fold(
                                                dRows.baseAddress!, positions: blockPositions,
                                                into: dx.baseAddress! + sample * input.count)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (inputGradient, weightGradient, biasGradient)
    }
}
