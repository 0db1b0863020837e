import JSON
import Testing

@testable import DigitCore

@Suite("Convolutional model files")
struct ConvolutionalModelFileTests {
    /// A small CNN over 6x6 images: every layer type, both paddings.
    let model = Model(
        name: "small-cnn", classes: [0, 1, 2], inputShape: [6, 6],
        network: Network(
            input: .maps(FeatureMapShape(channels: 1, height: 6, width: 6)),
            architecture: [
                .convolution(filters: 2, kernelSize: 3, padding: .same, activation: .relu), .maxPool,
                .convolution(filters: 3, kernelSize: 3, padding: .valid, activation: .sigmoid),
                .dense(units: 4, activation: .relu), .dropout(rate: 0.25), .dense(units: 3, activation: .softmax),
            ], seed: 9))

    func document(_ transform: (inout [JSONMember]) -> Void) -> [UInt8] {
        guard case .object(var members) = model.json else { return [] }
        transform(&members)
        return Array(JSONWriter.pretty(.object(members)).utf8)
    }

    /// The document with layer `index`'s member `key` replaced (or removed, for nil).
    func layer(_ index: Int, _ key: String, _ value: JSONValue?) -> [UInt8] {
        document { members in
            guard let position = members.firstIndex(where: { $0.key == "layers" }),
                case .array(var layers) = members[position].value, case .object(var fields) = layers[index]
            else { return }
            fields.removeAll { $0.key == key }
            if let value { fields.append(JSONMember(key, value)) }
            layers[index] = .object(fields)
            members[position] = JSONMember("layers", .array(layers))
        }
    }

    @Test("a CNN is written as format version 2 with typed layers, and reads back exactly")
    func roundTrip() throws {
        let text = model.jsonText()
        #expect(text.contains("\"format_version\": 2"))
        for type in ["conv2d", "max_pool2d", "dropout", "dense"] { #expect(text.contains("\"type\": \"\(type)\"")) }
        let loaded = try Model(jsonBytes: Array(text.utf8))
        #expect(loaded == model)
        #expect(loaded.jsonText() == text)
        let image = (0..<36).map { Float($0 % 7) / 6 }
        #expect(loaded.network.predict(image) == model.network.predict(image))
    }

    @Test("a dense-only network is still written as version 1, which older builds read")
    func denseStaysVersionOne() {
        let dense = Model(
            name: "mlp", classes: [0, 1], inputShape: [2, 2],
            network: Network(inputSize: 4, layers: [(3, .relu), (1, .sigmoid)], seed: 1))
        #expect(dense.jsonText().contains("\"format_version\": 1"))
        #expect(!dense.jsonText().contains("\"type\""))
    }

    @Test("GET /model's layer list names each layer as Keras would and gives its shape")
    func info() {
        #expect(
            model.layerNames == ["conv2d_1", "max_pooling2d_1", "conv2d_2", "dense_1", "dropout_1", "dense_2"])
        let text = JSONWriter.compact(model.info)
        #expect(text.contains(#""name":"conv2d_2","type":"Conv2D","filters":3,"kernel_size":[3,3],"padding":"valid""#))
        #expect(text.contains(#""output_shape":[null,1,1,3]"#))
        #expect(text.contains(#""total_params":\#(model.network.parameterCount)"#))
    }

    @Test("every layer's fields are checked, and the message names the layer and what to fix")
    func refusals() {
        expectModelRefusal(
            layer(0, "type", .string("conv3d")), path: "layers[0].type",
            containing: "'conv3d'; a layer's type is one of 'dense', 'conv2d', 'max_pool2d', 'dropout'")
        expectModelRefusal(layer(0, "kernel_size", .integer(4)), path: "layers[0]", containing: "3x3 or 5x5; got 4x4")
        expectModelRefusal(
            layer(0, "padding", .string("full")), path: "layers[0].padding", containing: "'same' or 'valid'")
        expectModelRefusal(
            layer(0, "filters", .integer(3)), path: "layers[0].weights", containing: "has 2 rows; expected 3")
        expectModelRefusal(layer(0, "activation", .string("softmax")), path: "layers[0]", containing: "softmax")
        expectModelRefusal(layer(0, "stride", .integer(2)), path: "layers[0].stride", containing: "not a known field")
        expectModelRefusal(layer(1, "size", .integer(3)), path: "layers[1].size", containing: "not a known field")
        expectModelRefusal(layer(4, "rate", .number(1)), path: "layers[4]", containing: "up to, not including, 1")
        expectModelRefusal(layer(4, "rate", .string("half")), path: "layers[4].rate", containing: "must be a number")
        // A convolution over a flat input has no maps to read.
        expectModelRefusal(
            document { members in
                members.removeAll { $0.key == "input_shape" }
                members.append(JSONMember("input_shape", .array([.integer(36)])))
            }, path: "layers[0].type", containing: "needs feature maps, but its input is a flat vector of 36 values")
        // A valid 3x3 convolution over maps smaller than its kernel.
        expectModelRefusal(
            document { members in
                members.removeAll { $0.key == "input_shape" }
                members.append(JSONMember("input_shape", .array([.integer(2), .integer(2)])))
            }, path: "layers[2]",
            containing: "a valid 3x3 convolution needs maps of at least that size; the input is 2x1x1")
        // The output must be a dense layer.
        expectModelRefusal(
            document { members in
                guard let position = members.firstIndex(where: { $0.key == "layers" }),
                    case .array(var layers) = members[position].value
                else { return }
                layers.removeLast()
                members[position] = JSONMember("layers", .array(layers))
            }, path: "layers[4].type", containing: "the output layer must be 'dense'")
        // Version 1 has no types: a typed layer there is an unknown field.
        expectModelRefusal(
            document { members in
                members.removeAll { $0.key == "format_version" }
                members.append(JSONMember("format_version", .integer(1)))
            }, path: "layers[0].type", containing: "not a known field")
        expectModelRefusal(
            document { members in
                members.removeAll { $0.key == "format_version" }
                members.append(JSONMember("format_version", .integer(3)))
            }, path: "format_version", containing: "reads versions 1 to 2")
    }

    @Test("a file asking for more work per image than the bound is refused before any weight is read")
    func workBound() {
        // 4096 filters of 5x5 over 256 channels of 64x64 (same padding): about 10^11 multiply-adds.
        let bytes = document { members in
            members.removeAll { $0.key == "input_shape" || $0.key == "layers" }
            members.append(JSONMember("input_shape", .array([.integer(256), .integer(64), .integer(64)])))
            members.append(
                JSONMember(
                    "layers",
                    .array([
                        .object([
                            JSONMember("type", .string("conv2d")), JSONMember("filters", .integer(4096)),
                            JSONMember("kernel_size", .integer(5)), JSONMember("padding", .string("same")),
                            JSONMember("activation", .string("relu")), JSONMember("bias", .array([])),
                            JSONMember("weights", .array([])),
                        ])
                    ])))
        }
        expectModelRefusal(bytes, path: "layers[0]", containing: "multiply-adds per image")
    }

    /// A document of `layers` over `shape`, format `version`.
    func file(_ shape: [Int], _ layers: [JSONValue], version: Int = 2) -> [UInt8] {
        Array(
            JSONWriter.compact(
                .object([
                    JSONMember("format", .string("digits-model")), JSONMember("format_version", .integer(version)),
                    JSONMember("name", .string("x")), JSONMember("classes", .array([.integer(0), .integer(1)])),
                    JSONMember("input_shape", .array(shape.map { .integer($0) })), JSONMember("layers", .array(layers)),
                ])
            ).utf8)
    }

    @Test("a dense layer's size is bounded before its rows are read: 2,000 empty rows over 4096x4096 inputs")
    func denseBomb() {
        let rows = JSONValue.array([JSONValue](repeating: .array([]), count: 2000))
        let layer = JSONValue.object([
            JSONMember("units", .integer(2000)), JSONMember("activation", .string("sigmoid")),
            JSONMember("bias", .array([])), JSONMember("weights", rows),
        ])
        expectModelRefusal(
            file([4096, 4096], [layer], version: 1), path: "layers[0]",
            containing: "brings the network's cost to more than 50000000")
    }

    @Test("the whole network's cost is bounded, and its layer count: cheap layers repeated cannot add up")
    func totalBound() {
        // 3,000 filters of 3x3 (int8, so the file stays small) make 1.2 million values an image; each dropout
        // moves them all again.
        let conv = JSONValue.object([
            JSONMember("type", .string("conv2d")), JSONMember("filters", .integer(3000)),
            JSONMember("kernel_size", .integer(3)), JSONMember("padding", .string("same")),
            JSONMember("activation", .string("relu")),
            JSONMember("bias", .array([JSONValue](repeating: .integer(0), count: 3000))),
            JSONMember("weight_scales", .array([JSONValue](repeating: .integer(1), count: 3000))),
            JSONMember("weights_int8", .string(Base64.encode([UInt8](repeating: 0, count: 27_000)))),
        ])
        let dropout = JSONValue.object([JSONMember("type", .string("dropout")), JSONMember("rate", .integer(0))])
        let dense = JSONValue.object([
            JSONMember("type", .string("dense")), JSONMember("units", .integer(1)),
            JSONMember("activation", .string("sigmoid")), JSONMember("bias", .array([.integer(0)])),
            JSONMember("weights", .array([.array([JSONValue](repeating: .integer(0), count: 1_200_000))])),
        ])
        // 10.8 million for the convolution and its unrolled input, then 1.2 million a dropout: the 33rd
        // goes over 50 million.
        expectModelRefusal(
            file([20, 20], [conv] + [JSONValue](repeating: dropout, count: 40) + [dense]), path: "layers[33]",
            containing: "brings the network's cost to more than 50000000")
        let small = JSONValue.object([
            JSONMember("type", .string("dense")), JSONMember("units", .integer(1)),
            JSONMember("activation", .string("sigmoid")), JSONMember("bias", .array([.integer(0)])),
            JSONMember("weights", .array([.array([JSONValue](repeating: .integer(0), count: 400))])),
        ])
        expectModelRefusal(
            file([20, 20], [JSONValue](repeating: dropout, count: 64) + [small]), path: "layers[64]",
            containing: "a network has at most 64 layers")
        #expect(throws: Never.self) { try Model(jsonBytes: file([20, 20], [dropout, small])) }
    }
}
