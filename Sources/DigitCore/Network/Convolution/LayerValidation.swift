/// A convolutional layer's description that cannot be built: what is wrong, in words a model file's
/// reader can put after the layer's path.
public struct LayerShapeError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}

extension FeatureMapShape {
    /// The most values a sample's feature maps may hold: as many as the largest model input.
    public static let maximumCount = Model.maximumInputSize

    /// A shape from untrusted numbers: each at least 1, their product computed without overflow and at
    /// most ``maximumCount``, so that no later size computation can trap.
    public static func checked(channels: Int, height: Int, width: Int) throws(LayerShapeError) -> FeatureMapShape {
        guard channels >= 1, height >= 1, width >= 1 else {
            throw LayerShapeError(
                "feature maps need at least 1 channel, row and column; got \(channels)x\(height)x\(width)")
        }
        let (area, overflow1) = height.multipliedReportingOverflow(by: width)
        let (count, overflow2) = area.multipliedReportingOverflow(by: channels)
        guard !overflow1, !overflow2, count <= maximumCount else {
            throw LayerShapeError(
                "feature maps of \(channels)x\(height)x\(width) hold more than \(maximumCount) values")
        }
        return FeatureMapShape(channels: channels, height: height, width: width)
    }
}

extension Conv2DLayer {
    /// The most multiply-adds one sample may cost in one layer: about a tenth of a second of one core.
    /// Far above any digit model (the wide CNN's largest layer is about 3 million), it keeps a
    /// small hostile file from asking for hours of work per request.
    public static let maximumMultiplyAdds = 100_000_000

    /// Checks everything but the numbers: a reader calls it before reading any weight, so that a file asking
    /// for an impossible or too costly layer is refused before its weights are parsed.
    public static func checkShape(
        input: FeatureMapShape, outputChannels: Int, kernelSize: Int, padding: Padding, activation: Activation
    ) throws(LayerShapeError) {
        guard kernelSizes.contains(kernelSize) else {
            throw LayerShapeError("the kernel must be 3x3 or 5x5; got \(kernelSize)x\(kernelSize)")
        }
        guard activation != .softmax else {
            throw LayerShapeError("softmax is for the output layer over classes, not a convolution")
        }
        guard padding == .same || (input.height >= kernelSize && input.width >= kernelSize) else {
            throw LayerShapeError(
                "a valid \(kernelSize)x\(kernelSize) convolution needs maps of at least that size; the input is \(input)"
            )
        }
        let shrink = padding == .same ? 0 : kernelSize - 1
        let output = try FeatureMapShape.checked(
            channels: outputChannels, height: input.height - shrink, width: input.width - shrink)
        // K·C·R·R weights, and K·C·R·R·H′·W′ multiply-adds per sample, without overflow.
        let (perOutput, overflow1) = (input.channels * kernelSize * kernelSize).multipliedReportingOverflow(
            by: outputChannels)
        let (work, overflow2) = perOutput.multipliedReportingOverflow(by: output.height * output.width)
        guard !overflow1, !overflow2, work <= maximumMultiplyAdds else {
            throw LayerShapeError(
                "\(outputChannels) channels of \(kernelSize)x\(kernelSize) over \(input) cost more than \(maximumMultiplyAdds) multiply-adds per image"
            )
        }
    }

    /// A layer from untrusted numbers (a model file's): every precondition of ``init(input:outputChannels:kernelSize:padding:activation:weights:bias:)``
    /// checked and refused with what is wrong, and the work per sample bounded.
    public static func checked(
        input: FeatureMapShape, outputChannels: Int, kernelSize: Int, padding: Padding, activation: Activation,
        weights: [Float], bias: [Float]
    ) throws(LayerShapeError) -> Conv2DLayer {
        try checkShape(
            input: input, outputChannels: outputChannels, kernelSize: kernelSize, padding: padding,
            activation: activation)
        let perOutput = outputChannels * input.channels * kernelSize * kernelSize
        guard weights.count == perOutput else {
            throw LayerShapeError(
                "has \(weights.count) weights; expected \(perOutput) (\(outputChannels) x \(input.channels) x \(kernelSize) x \(kernelSize))"
            )
        }
        guard bias.count == outputChannels else {
            throw LayerShapeError("has \(bias.count) biases; expected \(outputChannels), one per output channel")
        }
        if let index = weights.firstIndex(where: { !$0.isFinite }) {
            throw LayerShapeError("weight \(index) is \(weights[index]); every weight must be finite")
        }
        if let index = bias.firstIndex(where: { !$0.isFinite }) {
            throw LayerShapeError("bias \(index) is \(bias[index]); every bias must be finite")
        }
        return Conv2DLayer(
            input: input, outputChannels: outputChannels, kernelSize: kernelSize, padding: padding,
            activation: activation, weights: weights, bias: bias)
    }
}

extension MaxPool2DLayer {
    /// A pooling layer from an untrusted input shape.
    public static func checked(input: FeatureMapShape) throws(LayerShapeError) -> MaxPool2DLayer {
        guard input.height >= 2, input.width >= 2 else {
            throw LayerShapeError("2x2 pooling needs maps of at least 2x2; the input is \(input)")
        }
        return MaxPool2DLayer(input: input)
    }
}

extension DropoutLayer {
    /// A dropout layer from an untrusted rate.
    public static func checked(rate: Float, count: Int, maps: FeatureMapShape?) throws(LayerShapeError) -> DropoutLayer
    {
        guard rate.isFinite, rate >= 0, rate < 1 else {
            throw LayerShapeError("a dropout rate is from 0 up to, not including, 1; got \(rate)")
        }
        return DropoutLayer(rate: rate, count: count, maps: maps)
    }
}
