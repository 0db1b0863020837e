/// What one image may cost a network, summed over its layers, so that a small model file (a hostile one,
/// or a mistake) cannot make each prediction, and the evaluation every version gets at load, take minutes:
/// multiply-adds, plus the values a layer only moves (pooling, dropout, a convolution's unrolled input).
/// The bundled CNN costs about 2.1 million; the bound is over twenty times that.
public struct NetworkCost: Sendable {
    /// About 10 to 40 ms of one core per image.
    public static let maximumPerImage = 50_000_000
    /// More layers than any digit model needs; each costs its setup even when it moves few values.
    public static let maximumLayers = 64

    public private(set) var total = 0
    public private(set) var layers = 0

    public init() {}

    /// Adds one layer of `cost`, or says why the network is now too costly.
    public mutating func add(_ cost: Int) throws(LayerShapeError) {
        layers += 1
        guard layers <= Self.maximumLayers else {
            throw LayerShapeError("is layer \(layers); a network has at most \(Self.maximumLayers) layers")
        }
        let (sum, overflow) = total.addingReportingOverflow(cost)
        guard !overflow, sum <= Self.maximumPerImage else {
            throw LayerShapeError(
                "brings the network's cost to more than \(Self.maximumPerImage) multiply-adds and moved values per image"
            )
        }
        total = sum
    }

    /// A dense layer's: inputs × units multiply-adds (overflow saturates, and is refused by ``add(_:)``).
    public static func dense(inputs: Int, units: Int) -> Int {
        let (product, overflow) = inputs.multipliedReportingOverflow(by: units)
        return overflow ? .max : product
    }

    /// A convolution's, from a shape ``Conv2DLayer/checkShape(input:filters:kernelSize:padding:activation:)``
    /// accepted: K·C·R·R·H′·W′ multiply-adds plus the C·R·R·H′·W′ values of its unrolled input.
    public static func convolution(input: FeatureMapShape, filters: Int, kernelSize: Int, padding: Padding) -> Int {
        let output = Conv2DLayer.outputShape(input: input, filters: filters, kernelSize: kernelSize, padding: padding)
        let unrolled = input.channels * kernelSize * kernelSize * output.height * output.width
        return unrolled * (filters + 1)
    }
}
