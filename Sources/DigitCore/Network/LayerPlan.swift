/// A layer to be made with fresh weights: what `digits train --layers` describes.
public enum LayerPlan: Equatable, Sendable {
    case dense(units: Int, activation: Activation)
    case convolution(channels: Int, kernelSize: Int, padding: Padding, activation: Activation)
    case maxPool
    case dropout(rate: Float)
}

/// What a layer reads: a flat vector, or feature maps.
public enum LayerInput: Equatable, Sendable {
    case flat(Int)
    case maps(FeatureMapShape)

    public var count: Int {
        switch self {
        case .flat(let count): count
        case .maps(let maps): maps.count
        }
    }
}

extension Network {
    /// Creates a network from a plan with Glorot-uniform weights and zero biases, as Keras initialises
    /// `Dense` and `Conv2D` (Glorot and Bengio, 2010: U(−l, l) with l = √(6 / (fan_in + fan_out)), where a
    /// convolution's fans are C·R·R and K·R·R).
    ///
    /// The caller guarantees that the plan fits its input (``checkedPlan(_:input:)`` says why one does not).
    public init(input: LayerInput, architecture: [LayerPlan], seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        func glorot(fanIn: Int, fanOut: Int, count: Int) -> [Float] {
            let limit = (6 / Float(fanIn + fanOut)).squareRoot()
            return (0..<count).map { _ in (generator.nextUnitFloat() * 2 - 1) * limit }
        }
        var current = input
        var layers: [Layer] = []
        for plan in architecture {
            let layer: Layer
            switch plan {
            case .dense(let units, let activation):
                let inputs = current.count
                layer = .dense(
                    DenseLayer(
                        inputSize: inputs, units: units, activation: activation,
                        weights: glorot(fanIn: inputs, fanOut: units, count: inputs * units),
                        bias: [Float](repeating: 0, count: units)))
            case .convolution(let channels, let size, let padding, let activation):
                guard case .maps(let maps) = current else { preconditionFailure("a convolution needs feature maps") }
                let area = size * size
                layer = .convolution(
                    Conv2DLayer(
                        input: maps, outputChannels: channels, kernelSize: size, padding: padding,
                        activation: activation,
                        weights: glorot(
                            fanIn: maps.channels * area, fanOut: channels * area, count: channels * maps.channels * area
                        ),
                        bias: [Float](repeating: 0, count: channels)))
            case .maxPool:
                guard case .maps(let maps) = current else { preconditionFailure("pooling needs feature maps") }
                layer = .maxPool(MaxPool2DLayer(input: maps))
            case .dropout(let rate):
                if case .maps(let maps) = current {
                    layer = .dropout(DropoutLayer(rate: rate, count: maps.count, maps: maps))
                } else {
                    layer = .dropout(DropoutLayer(rate: rate, count: current.count))
                }
            }
            layers.append(layer)
            current = layer.outputMaps.map(LayerInput.maps) ?? .flat(layer.outputCount)
        }
        self.init(layers: layers)
    }

    /// Why `plan` cannot be built over `input`, in the words of a `--layers` flag; nil when it can.
    public static func checkedPlan(_ plan: [LayerPlan], input: LayerInput) -> String? {
        guard !plan.isEmpty else { return "a network needs at least one layer" }
        var current = input
        for (index, step) in plan.enumerated() {
            let place = "layer \(index + 1)"
            do throws(LayerShapeError) {
                switch step {
                case .dense(let units, _):
                    guard units >= 1 else { return "\(place): a dense layer needs at least 1 unit" }
                    let (weights, overflow) = units.multipliedReportingOverflow(by: current.count)
                    guard !overflow, weights <= FeatureMapShape.maximumCount else {
                        return "\(place): \(units) units over \(current.count) inputs are too many weights"
                    }
                    current = .flat(units)
                case .convolution(let channels, let size, let padding, let activation):
                    guard case .maps(let maps) = current else {
                        return "\(place): a convolution needs feature maps; put it before the first dense layer"
                    }
                    try Conv2DLayer.checkShape(
                        input: maps, outputChannels: channels, kernelSize: size, padding: padding,
                        activation: activation)
                    let shrink = padding == .same ? 0 : size - 1
                    let output = FeatureMapShape(
                        channels: channels, height: maps.height - shrink, width: maps.width - shrink)
                    current = .maps(output)
                case .maxPool:
                    guard case .maps(let maps) = current else {
                        return "\(place): pooling needs feature maps; put it before the first dense layer"
                    }
                    current = .maps(try MaxPool2DLayer.checked(input: maps).output)
                case .dropout(let rate):
                    _ = try DropoutLayer.checked(rate: rate, count: current.count, maps: nil)
                }
            } catch {
                return "\(place): \(error)"
            }
        }
        return nil
    }
}
