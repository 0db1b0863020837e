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
    /// Checks everything but the numbers: a reader calls it before reading any weight, so that a file asking
    /// for an impossible or too costly layer is refused before its weights are parsed. One layer may cost
    /// no more than a whole network may (``NetworkCost``), which the reader then adds up.
    public static func checkShape(
        input: FeatureMapShape, filters: Int, kernelSize: Int, padding: Padding, activation: Activation
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
            channels: filters, height: input.height - shrink, width: input.width - shrink)
        // K·C·R·R weights, and K·C·R·R·H′·W′ multiply-adds per sample, without overflow.
        let maximum = NetworkCost.maximumPerImage
        let (perOutput, overflow1) = (input.channels * kernelSize * kernelSize).multipliedReportingOverflow(
            by: filters)
        let (work, overflow2) = perOutput.multipliedReportingOverflow(by: output.height * output.width)
        guard !overflow1, !overflow2, work <= maximum else {
            throw LayerShapeError(
                "\(filters) filters of \(kernelSize)x\(kernelSize) over \(input) cost more than \(maximum) multiply-adds per image"
            )
        }
    }

    /// A layer from untrusted numbers (a model file's): every precondition of ``init(input:filters:kernelSize:padding:activation:weights:bias:)``
    /// checked and refused with what is wrong, and the work per sample bounded. The numbers are the
    /// model's to check (``Model/validate()`` names a non-finite one by its row and column).
    public static func checked(
        input: FeatureMapShape, filters: Int, kernelSize: Int, padding: Padding, activation: Activation,
        weights: [Float], bias: [Float]
    ) throws(LayerShapeError) -> Conv2DLayer {
        try checkShape(
            input: input, filters: filters, kernelSize: kernelSize, padding: padding,
            activation: activation)
        let perOutput = filters * input.channels * kernelSize * kernelSize
        guard weights.count == perOutput else {
            throw LayerShapeError(
                "has \(weights.count) weights; expected \(perOutput) (\(filters) x \(input.channels) x \(kernelSize) x \(kernelSize))"
            )
        }
        guard bias.count == filters else {
            throw LayerShapeError("has \(bias.count) biases; expected \(filters), one per output channel")
        }
        return Conv2DLayer(
            input: input, filters: filters, kernelSize: kernelSize, padding: padding,
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
    public static func checked(rate: Float, over input: LayerInput) throws(LayerShapeError) -> DropoutLayer {
        guard rate.isFinite, rate >= 0, rate < 1 else {
            throw LayerShapeError("a dropout rate is from 0 up to, not including, 1; got \(rate)")
        }
        return DropoutLayer(rate: rate, over: input)
    }
}
