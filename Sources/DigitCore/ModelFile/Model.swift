import JSON

/// A trained classifier: the network, the class labels its outputs stand for, the input shape it expects,
/// and where it came from.
///
/// One sigmoid output unit is the seed's binary classifier: the output is P(class 1), and class 1 is
/// predicted when it is at least 0.5. Several softmax units give one probability per class.
public struct Model: Equatable, Sendable {
    public var name: String
    /// Class labels in output order; for a binary model `[0, 1]`.
    public var classes: [Int]
    /// The input's shape, row-major (`[20, 20]` for the digit models).
    public var inputShape: [Int]
    public var network: Network
    /// How the model was made: training data checksums, seed, epochs, test metrics, ... Informational,
    /// kept as written.
    public var provenance: [JSONMember]

    public init(name: String, classes: [Int], inputShape: [Int], network: Network, provenance: [JSONMember] = []) {
        self.name = name
        self.classes = classes
        self.inputShape = inputShape
        self.network = network
        self.provenance = provenance
    }

    /// Whether the model is the single-sigmoid-output binary kind.
    public var isBinary: Bool { network.outputSize == 1 }

    /// Predicts the class index of each of `count` images (flat, `count × inputSize` values).
    public func classify(_ images: [Float], count: Int) -> [Int] {
        let outputs = network.predictBatch(images, count: count)
        let width = network.outputSize
        return outputs.withUnsafeBufferPointer { buffer in
            (0..<count).map {
                Classification.decide(UnsafeBufferPointer(rebasing: buffer[$0 * width..<($0 + 1) * width])).classIndex
            }
        }
    }

    /// Evaluates the model on labelled images whose labels are class indices; with `robustness`, also on
    /// the same images under each fixed change of ``RobustnessCheck/all``.
    public func evaluate(on data: LabelledImages, robustness: Bool = false) -> EvaluationReport {
        var confusion = ConfusionMatrix(classCount: classes.count)
        for (predicted, actual) in zip(classify(data.pixels, count: data.count), data.labels) {
            confusion.record(predicted: predicted, actual: actual)
        }
        return EvaluationReport(
            classes: classes, confusion: confusion, robustness: robustness ? self.robustness(on: data) : [])
    }

    /// The layers' names as Keras would give them: `dense_1`, `conv2d_2`, `max_pooling2d_1`, ...
    public var layerNames: [String] {
        var seen: [String: Int] = [:]
        return network.layers.map { layer in
            let stem = layer.type.kerasName
            seen[stem, default: 0] += 1
            return "\(stem)_\(seen[stem]!)"
        }
    }

    /// The original `get_model_info` keys, with shapes as Keras reports them (`null` for the batch dimension).
    public var info: JSONValue {
        let layerInfo: [JSONValue] = zip(network.layers, layerNames).map { layer, name in
            var members = [JSONMember("name", .string(name)), JSONMember("type", .string(layer.type.kerasClass))]
            switch layer {
            case .dense(let dense):
                members.append(JSONMember("units", .integer(dense.units)))
            case .convolution(let conv):
                members += [
                    JSONMember("filters", .integer(conv.filters)),
                    JSONMember("kernel_size", .array([.integer(conv.kernelSize), .integer(conv.kernelSize)])),
                    JSONMember("padding", .string(conv.padding.rawValue)),
                ]
            case .maxPool:
                members.append(JSONMember("pool_size", .array([.integer(2), .integer(2)])))
            case .dropout(let dropout):
                members.append(JSONMember("rate", .float(dropout.rate)))
            }
            if layer.parameters != nil {
                members.append(JSONMember("activation", .string(layer.activation.rawValue)))
            }
            if let maps = layer.outputMaps {
                members.append(
                    JSONMember(
                        "output_shape",
                        .array([.null, .integer(maps.height), .integer(maps.width), .integer(maps.channels)])))
            }
            members.append(JSONMember("params", .integer(layer.parameterCount)))
            return .object(members)
        }
        return .object([
            JSONMember("model_type", .string("Sequential")),
            JSONMember("input_shape", .array([.null, .integer(network.inputSize)])),
            JSONMember("output_shape", .array([.null, .integer(network.outputSize)])),
            JSONMember("total_params", .integer(network.parameterCount)),
            JSONMember("layers", .array(layerInfo)),
        ])
    }

    /// The model's document, as `GET /model` and `digits info --json` give it: the original
    /// `get_model_info` keys, then the model's identity (`sha256` is the file's), classes, input layout
    /// and provenance.
    public func document(sha256: String) -> [JSONMember] {
        guard case .object(let members) = info else { return [] }
        return members + [
            JSONMember("name", .string(name)),
            JSONMember("sha256", .string(sha256)),
            JSONMember("classes", .array(classes.map { .integer($0) })),
            JSONMember(
                "input_layout",
                .string("\(inputShape.map(String.init).joined(separator: "x")) row-major, 0 = paper, 1 = ink")),
            JSONMember("provenance", .object(provenance)),
        ]
    }
}
