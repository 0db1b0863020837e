/// A layer described by its shape alone, before it has weights: what `--layers` says, to `digits train`
/// (which gives it fresh weights) and to `digits import` (which takes them from a Keras archive).
public enum LayerPlan: Equatable, Sendable {
    case dense(units: Int, activation: Activation)
    case convolution(filters: Int, kernelSize: Int, padding: Padding, activation: Activation)
    case maxPool
    case dropout(rate: Float)

    /// Whether the layer has weights (dense and convolution layers; each takes one Wn of an import).
    public var hasWeights: Bool {
        switch self {
        case .dense, .convolution: true
        case .maxPool, .dropout: false
        }
    }
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

    /// What a model's `input_shape` gives its first layer: one channel of maps for two sizes (rows,
    /// columns), channels x rows x columns for three, a flat vector otherwise. The sizes must be positive
    /// and their product at most ``Model/maximumInputSize`` (``Model/inputSize(of:)``).
    public init(shape: [Int]) {
        switch shape.count {
        case 2: self = .maps(FeatureMapShape(channels: 1, height: shape[0], width: shape[1]))
        case 3: self = .maps(FeatureMapShape(channels: shape[0], height: shape[1], width: shape[2]))
        default: self = .flat(shape.reduce(1, *))
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
        self.init(input: input, plan: architecture) { _, step, input in
            // The fans, and the rows (units or filters) of fan-in weights each.
            let (fanIn, fanOut, rows): (Int, Int, Int)
            switch step {
            case .dense(let units, _):
                (fanIn, fanOut, rows) = (input.count, units, units)
            case .convolution(let filters, let size, _, _):
                guard case .maps(let maps) = input else { preconditionFailure("a convolution needs feature maps") }
                (fanIn, fanOut, rows) = (maps.channels * size * size, filters * size * size, filters)
            case .maxPool, .dropout:
                preconditionFailure("pooling and dropout have no weights")
            }
            let limit = (6 / Float(fanIn + fanOut)).squareRoot()
            let weights = (0..<fanIn * rows).map { _ in (generator.nextUnitFloat() * 2 - 1) * limit }
            return (weights, [Float](repeating: 0, count: rows))
        }
    }

    /// Builds `plan`'s layers over `input`. `parameters` gives each layer with weights its weights (in
    /// ``DenseLayer``'s or ``Conv2DLayer``'s order) and bias, from the layer's number among those with
    /// weights (from 1), its plan and what it reads; the one way both fresh and imported networks are made.
    /// The caller guarantees that the plan fits its input and that the arrays have the layers' sizes.
    init<Failure: Error>(
        input: LayerInput, plan: [LayerPlan],
        parameters: (Int, LayerPlan, LayerInput) throws(Failure) -> (weights: [Float], bias: [Float])
    ) throws(Failure) {
        var current = input
        var number = 0
        var layers: [Layer] = []
        for step in plan {
            let layer: Layer
            switch step {
            case .dense(let units, let activation):
                number += 1
                let (weights, bias) = try parameters(number, step, current)
                layer = .dense(
                    DenseLayer(
                        inputSize: current.count, units: units, activation: activation, weights: weights, bias: bias))
            case .convolution(let filters, let size, let padding, let activation):
                guard case .maps(let maps) = current else { preconditionFailure("a convolution needs feature maps") }
                number += 1
                let (weights, bias) = try parameters(number, step, current)
                layer = .convolution(
                    Conv2DLayer(
                        input: maps, filters: filters, kernelSize: size, padding: padding, activation: activation,
                        weights: weights, bias: bias))
            case .maxPool:
                guard case .maps(let maps) = current else { preconditionFailure("pooling needs feature maps") }
                layer = .maxPool(MaxPool2DLayer(input: maps))
            case .dropout(let rate):
                layer = .dropout(DropoutLayer(rate: rate, over: current))
            }
            layers.append(layer)
            current = layer.output
        }
        self.init(layers: layers)
    }

    /// Why `plan` cannot be built over `input`, in the words of a `--layers` flag; nil when it can. The
    /// checks and the cost bound are a model file's (``NetworkCost``).
    public static func checkedPlan(_ plan: [LayerPlan], input: LayerInput) -> String? {
        guard !plan.isEmpty else { return "a network needs at least one layer" }
        var current = input
        var cost = NetworkCost()
        for (index, step) in plan.enumerated() {
            let place = "layer \(index + 1)"
            let flatAdvice =
                index == 0
                ? "the input is a flat vector; give a two-dimensional input shape"
                : "put it before the first dense layer"
            do throws(LayerShapeError) {
                switch step {
                case .dense(let units, _):
                    guard units >= 1 else { return "\(place): a dense layer needs at least 1 unit" }
                    try cost.add(NetworkCost.dense(inputs: current.count, units: units))
                    current = .flat(units)
                case .convolution(let filters, let size, let padding, let activation):
                    guard case .maps(let maps) = current else {
                        return "\(place): a convolution needs feature maps; \(flatAdvice)"
                    }
                    try Conv2DLayer.checkShape(
                        input: maps, filters: filters, kernelSize: size, padding: padding, activation: activation)
                    try cost.add(
                        NetworkCost.convolution(input: maps, filters: filters, kernelSize: size, padding: padding))
                    current = .maps(
                        Conv2DLayer.outputShape(input: maps, filters: filters, kernelSize: size, padding: padding))
                case .maxPool:
                    guard case .maps(let maps) = current else {
                        return "\(place): pooling needs feature maps; \(flatAdvice)"
                    }
                    try cost.add(maps.count)
                    current = .maps(try MaxPool2DLayer.checked(input: maps).output)
                case .dropout(let rate):
                    _ = try DropoutLayer.checked(rate: rate, over: current)
                    try cost.add(current.count)
                }
            } catch {
                return "\(place): \(error)"
            }
        }
        return nil
    }
}
