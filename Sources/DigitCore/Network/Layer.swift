/// One step of a ``Network``: what a model file's `layers` list holds, in order.
///
/// A dense layer after feature maps reads them flattened in their stored (CHW) order: flattening moves no
/// value, so it is not a layer of its own.
public enum Layer: Equatable, Sendable {
    case dense(DenseLayer)
    case convolution(Conv2DLayer)
    case maxPool(MaxPool2DLayer)
    case dropout(DropoutLayer)

    /// Values per sample in.
    public var inputCount: Int {
        switch self {
        case .dense(let layer): layer.inputSize
        case .convolution(let layer): layer.input.count
        case .maxPool(let layer): layer.input.count
        case .dropout(let layer): layer.count
        }
    }

    /// Values per sample out.
    public var outputCount: Int {
        switch self {
        case .dense(let layer): layer.units
        case .convolution(let layer): layer.output.count
        case .maxPool(let layer): layer.output.count
        case .dropout(let layer): layer.count
        }
    }

    /// The feature maps this layer produces (nil for a dense layer's flat vector; a dropout keeps its
    /// input's).
    public var outputMaps: FeatureMapShape? {
        switch self {
        case .dense: nil
        case .convolution(let layer): layer.output
        case .maxPool(let layer): layer.output
        case .dropout(let layer): layer.maps
        }
    }

    /// The int8 weights' scales, one per row, when the layer has them (``Network/quantized()``).
    public var weightScales: [Float]? {
        switch self {
        case .dense(let layer): layer.weightScales
        case .convolution(let layer): layer.weightScales
        case .maxPool, .dropout: nil
        }
    }

    /// What the next layer reads: this layer's maps, or its flat output.
    public var output: LayerInput {
        outputMaps.map(LayerInput.maps) ?? .flat(outputCount)
    }

    /// The activation applied to the layer's output (pooling and dropout apply none).
    public var activation: Activation {
        switch self {
        case .dense(let layer): layer.activation
        case .convolution(let layer): layer.activation
        case .maxPool, .dropout: .linear
        }
    }

    public var parameterCount: Int {
        switch self {
        case .dense(let layer): layer.parameterCount
        case .convolution(let layer): layer.parameterCount
        case .maxPool, .dropout: 0
        }
    }

    public var type: LayerType {
        switch self {
        case .dense: .dense
        case .convolution: .conv2d
        case .maxPool: .maxPool2d
        case .dropout: .dropout
        }
    }

    /// The trainable weights and biases, for layers that have them: what the optimiser updates. Setting
    /// them makes the weights Float32 again (no longer int8 times a scale).
    public var parameters: (weights: [Float], bias: [Float])? {
        get {
            switch self {
            case .dense(let layer): (layer.weights, layer.bias)
            case .convolution(let layer): (layer.weights, layer.bias)
            case .maxPool, .dropout: nil
            }
        }
        set {
            guard let newValue else { return }
            switch self {
            case .dense(var layer):
                layer.weights = newValue.weights
                layer.bias = newValue.bias
                layer.weightScales = nil
                self = .dense(layer)
            case .convolution(var layer):
                layer.weights = newValue.weights
                layer.bias = newValue.bias
                layer.weightScales = nil
                self = .convolution(layer)
            case .maxPool, .dropout:
                break
            }
        }
    }

    /// The inference pass for `count` samples (a dropout is the identity here).
    func forward(_ input: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Float>) {
        switch self {
        case .dense(let layer): layer.forward(input, count: count, into: output)
        case .convolution(let layer): layer.forward(input, count: count, into: output)
        case .maxPool(let layer): layer.forward(input, count: count, into: output)
        case .dropout(let layer): output.update(from: input, count: count * layer.count)
        }
    }
}

/// A layer's kind, in each of the words it has: the model file's `type`, and Keras's class and layer names.
public enum LayerType: String, CaseIterable, Sendable {
    case dense
    case conv2d
    case maxPool2d = "max_pool2d"
    case dropout

    /// Keras's class name, as `GET /model` gives each layer's `type`.
    public var kerasClass: String {
        switch self {
        case .dense: "Dense"
        case .conv2d: "Conv2D"
        case .maxPool2d: "MaxPooling2D"
        case .dropout: "Dropout"
        }
    }

    /// The stem of Keras's layer names (`conv2d_2`, `max_pooling2d_1`).
    public var kerasName: String { self == .maxPool2d ? "max_pooling2d" : rawValue }
}
