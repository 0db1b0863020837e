import JSON

extension Model {
    /// The format's name, the first thing a reader checks.
    public static let formatName = "digits-model"
    /// The newest format version this build reads and writes. Version 1 holds dense layers only; version 2
    /// adds a `type` to each layer and the convolutional ones (`conv2d`, `max_pool2d`, `dropout`). A model
    /// that version 1 can describe is written as version 1, so older builds keep reading it.
    public static let formatVersion = 2
    /// The most input values a model may take (a 4096x4096 image), so that a hostile shape cannot overflow sizes.
    public static let maximumInputSize = 1 << 24

    /// The number of values an input of `shape` holds, or nil when a size is not positive or the product
    /// (computed without overflow) exceeds ``maximumInputSize``.
    public static func inputSize(of shape: [Int]) -> Int? {
        guard !shape.isEmpty, shape.allSatisfy({ (1...maximumInputSize).contains($0) }) else { return nil }
        var product = 1
        for size in shape {
            let (next, overflow) = product.multipliedReportingOverflow(by: size)
            guard !overflow, next <= maximumInputSize else { return nil }
            product = next
        }
        return product
    }

    /// Reads and validates a model file of at most `maxBytes` (a regular file only, when
    /// `regularFileOnly`: ``FileIO/read(_:maxBytes:regularFileOnly:)``). The checksum is of the file's
    /// bytes, as `sha256sum` prints it.
    public static func load(
        contentsOf path: String, maxBytes: Int = .max, regularFileOnly: Bool = false
    ) throws(FileError) -> (
        model: Model, sha256: String
    ) {
        let bytes = try FileIO.read(path, maxBytes: maxBytes, regularFileOnly: regularFileOnly)
        do {
            return (try Model(jsonBytes: bytes), SHA256.hexDigest(bytes))
        } catch {
            throw FileError(path: path, reason: error)
        }
    }

    /// Writes the model file. The text depends only on the model, so equal models give equal bytes.
    public func save(to path: String) throws(FileError) {
        try FileIO.write(Array(jsonText().utf8), to: path)
    }

    /// Parses and validates a model file's bytes; every shape and every number is checked.
    public init(jsonBytes: [UInt8]) throws(ModelFileError) {
        let document: JSONValue
        do {
            document = try JSONParser(allowsNonFiniteTokens: true).parse(jsonBytes)
        } catch {
            throw .notJSON(error)
        }
        do {
            self = try Self.read(JSONField(document))
        } catch {
            throw ModelFileError(error)
        }
        try validate()
    }

    /// The model a document describes, its every field checked for type and shape.
    private static func read(_ root: JSONField) throws(JSONFieldError) -> Model {
        try root.refuseUnknownKeys([
            "format", "format_version", "name", "classes", "input_shape", "layers", "provenance",
        ])
        let format = try root["format"].string()
        guard format == Self.formatName else {
            throw JSONFieldError(
                path: "format", problem: "is '\(format)'; a model file's format is '\(Self.formatName)'")
        }
        let version = try root["format_version"].integer()
        guard (1...Self.formatVersion).contains(version) else {
            throw JSONFieldError(
                path: "format_version",
                problem:
                    "is \(version); this build reads versions 1 to \(Self.formatVersion) (upgrade digits to read it)")
        }
        let name = try root["name"].string()
        let inputShape = try root["input_shape"].integers()
        let classes = try root["classes"].integers()
        guard Self.inputSize(of: inputShape) != nil else {
            throw JSONFieldError(
                path: "input_shape",
                problem: "must hold positive sizes whose product is at most \(Self.maximumInputSize); got \(inputShape)"
            )
        }
        var current = LayerInput(shape: inputShape)
        let layerReaders = try root["layers"].array()
        guard !layerReaders.isEmpty else {
            throw JSONFieldError(path: "layers", problem: "must hold at least one layer")
        }
        var layers: [Layer] = []
        var cost = NetworkCost()
        for reader in layerReaders {
            let layer =
                try version == 1
                ? .dense(Self.readDense(reader, inputs: current.count, cost: &cost))
                : Self.readLayer(reader, input: current, cost: &cost)
            layers.append(layer)
            current = layer.output
        }
        let network = Network(layers: layers)

        let provenance = try root.optional("provenance")?.members() ?? []
        return Model(name: name, classes: classes, inputShape: inputShape, network: network, provenance: provenance)
    }

    /// Checks what the types alone do not: the name, the classes, the output layer, and that every weight
    /// and bias is a finite number. Loading runs it; so does anything that builds a model to save.
    public func validate() throws(ModelFileError) {
        guard Self.isValidName(name) else {
            throw .invalid(path: "name", problem: "must be 1 to 64 letters, digits, '.', '_' or '-'; got '\(name)'")
        }
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 > 0 }) else {
            throw .invalid(path: "input_shape", problem: "must hold positive sizes; got \(inputShape)")
        }
        guard inputShape.reduce(1, *) == network.inputSize else {
            throw .invalid(
                path: "input_shape",
                problem:
                    "\(inputShape) holds \(inputShape.reduce(1, *)) values but the first layer takes \(network.inputSize)"
            )
        }
        guard classes.allSatisfy({ $0 >= 0 }) else {
            throw .invalid(path: "classes", problem: "labels must not be negative")
        }
        guard Set(classes).count == classes.count else {
            throw .invalid(path: "classes", problem: "must not repeat a label")
        }
        for (index, layer) in network.layers.enumerated() {
            guard let (weights, bias) = layer.parameters else { continue }
            let rowLength = weights.count / bias.count
            if let scales = layer.weightScales, let position = scales.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
                throw .invalid(
                    path: "layers[\(index)].weight_scales[\(position)]",
                    problem: "is \(scales[position]); a scale must be a positive finite number")
            }
            if let position = weights.firstIndex(where: { !$0.isFinite }) {
                throw .invalid(
                    path: "layers[\(index)].weights[\(position / rowLength)][\(position % rowLength)]",
                    problem: Self.nonFiniteProblem(weights[position]))
            }
            if let position = bias.firstIndex(where: { !$0.isFinite }) {
                throw .invalid(
                    path: "layers[\(index)].bias[\(position)]", problem: Self.nonFiniteProblem(bias[position]))
            }
        }
        try Self.checkOutput(of: network, classes: classes)
    }

    private static func nonFiniteProblem(_ value: Float) -> String {
        "is \(value.isNaN ? "NaN" : "infinite (or too large for a 32-bit float)"); every weight and bias must be a finite number"
    }

    /// Whether `name` can name a model in URLs and metrics without escaping.
    public static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                    true
                default: false
                }
            }
    }

    /// A version 2 layer: its `type`, then the fields of that type.
    private static func readLayer(
        _ reader: JSONField, input: LayerInput, cost: inout NetworkCost
    )
        throws(JSONFieldError) -> Layer
    {
        let typeName = try reader["type"].string()
        guard let type = LayerType(rawValue: typeName) else {
            throw JSONFieldError(
                path: reader.path + ".type",
                problem: "is '\(typeName)'; a layer's type is one of "
                    + LayerType.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", "))
        }
        func shapeError(_ error: LayerShapeError) -> JSONFieldError {
            JSONFieldError(path: reader.path, problem: "(\(typeName)) \(error.description)")
        }
        /// Counts the layer's cost before anything of its size is read.
        func add(_ layerCost: Int) throws(JSONFieldError) {
            do throws(LayerShapeError) { try cost.add(layerCost) } catch { throw shapeError(error) }
        }
        func maps() throws(JSONFieldError) -> FeatureMapShape {
            guard case .maps(let maps) = input else {
                throw JSONFieldError(
                    path: reader.path + ".type",
                    problem:
                        "is '\(typeName)', which needs feature maps, but its input is a flat vector of \(input.count) values (a dense layer's output, or an input_shape of other than two or three sizes)"
                )
            }
            return maps
        }
        switch type {
        case .dense:
            return .dense(try readDense(reader, inputs: input.count, typed: true, cost: &cost))
        case .conv2d:
            try reader.refuseUnknownKeys(
                ["type", "filters", "kernel_size", "padding", "activation", "bias"] + weightKeys)
            let maps = try maps()
            let filters = try reader["filters"].integer(minimum: 1, maximum: FeatureMapShape.maximumCount)
            let size = try reader["kernel_size"].integer(minimum: 1, maximum: 64)
            let paddingName = try reader["padding"].string()
            guard let padding = Padding(rawValue: paddingName) else {
                throw JSONFieldError(
                    path: reader.path + ".padding", problem: "is '\(paddingName)'; use 'same' or 'valid'")
            }
            let activation = try readActivation(reader["activation"])
            do throws(LayerShapeError) {
                try Conv2DLayer.checkShape(
                    input: maps, filters: filters, kernelSize: size, padding: padding, activation: activation)
            } catch {
                throw shapeError(error)
            }
            try add(NetworkCost.convolution(input: maps, filters: filters, kernelSize: size, padding: padding))
            let (weights, scales) = try readWeights(
                reader, rows: filters, rowLength: maps.channels * size * size, row: "filter",
                rowMeaning:
                    "the filter's \(maps.channels) x \(size) x \(size) weights, channel by channel, each kernel row-major",
                valueMeaning: "channels x kernel rows x kernel columns")
            let bias = try reader["bias"].floats(count: filters, meaning: "one per filter")
            do throws(LayerShapeError) {
                var layer = try Conv2DLayer.checked(
                    input: maps, filters: filters, kernelSize: size, padding: padding, activation: activation,
                    weights: weights, bias: bias)
                layer.weightScales = scales
                return .convolution(layer)
            } catch {
                throw shapeError(error)
            }
        case .maxPool2d:
            try reader.refuseUnknownKeys(["type"])
            let input = try maps()
            try add(input.count)
            do throws(LayerShapeError) {
                return .maxPool(try MaxPool2DLayer.checked(input: input))
            } catch {
                throw shapeError(error)
            }
        case .dropout:
            try reader.refuseUnknownKeys(["type", "rate"])
            guard let rate = try reader["rate"].value.numberValue else {
                throw JSONFieldError(path: reader.path + ".rate", problem: "must be a number")
            }
            try add(input.count)
            do throws(LayerShapeError) {
                return .dropout(try DropoutLayer.checked(rate: Float(rate), over: input))
            } catch {
                throw shapeError(error)
            }
        }
    }

    private static func readActivation(_ field: JSONField) throws(JSONFieldError) -> Activation {
        let name = try field.string()
        guard let activation = Activation(rawValue: name) else {
            throw JSONFieldError(
                path: field.path,
                problem: "'\(name)' is not an activation; use one of "
                    + Activation.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return activation
    }

    /// A dense layer (version 1's only kind; `typed` when version 2's `type` field is there).
    private static func readDense(
        _ reader: JSONField, inputs: Int, typed: Bool = false, cost: inout NetworkCost
    )
        throws(JSONFieldError) -> DenseLayer
    {
        try reader.refuseUnknownKeys(
            typed ? ["type", "units", "activation", "bias"] + weightKeys : ["units", "activation", "weights", "bias"])
        let units = try reader["units"].integer(minimum: 1, maximum: FeatureMapShape.maximumCount)
        let activation = try readActivation(reader["activation"])
        do throws(LayerShapeError) {
            try cost.add(NetworkCost.dense(inputs: inputs, units: units))
        } catch {
            throw JSONFieldError(path: reader.path, problem: "(dense) \(error.description)")
        }
        let (weights, scales) = try readWeights(
            reader, rows: units, rowLength: inputs, row: "unit", rowMeaning: "the unit's \(inputs) input weights",
            valueMeaning: "one per input")
        let bias = try reader["bias"].floats(count: units, meaning: "one per unit")
        var layer = DenseLayer(inputSize: inputs, units: units, activation: activation, weights: weights, bias: bias)
        layer.weightScales = scales
        return layer
    }

    /// A layer's weight fields in version 2: `weights` (one array of numbers per row), or int8 ones,
    /// `weights_int8` (every row's q in order, one signed byte each, in Base64) with `weight_scales`
    /// (one positive s per row; the weights are q · s).
    static let weightKeys = ["weights", "weights_int8", "weight_scales"]

    /// The weights of `rows` rows of `rowLength`, from either form, and the scales when they are int8.
    private static func readWeights(
        _ reader: JSONField, rows count: Int, rowLength: Int, row: String, rowMeaning: String, valueMeaning: String
    ) throws(JSONFieldError) -> (weights: [Float], scales: [Float]?) {
        if let text = try reader.optional("weights_int8") {
            guard try reader.optional("weights") == nil else {
                throw JSONFieldError(path: reader.path + ".weights", problem: "must not be given with weights_int8")
            }
            let scales = try reader["weight_scales"].floats(count: count, meaning: "one per \(row)")
            if let index = scales.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
                throw JSONFieldError(
                    path: reader.path + ".weight_scales[\(index)]",
                    problem: "is \(scales[index]); a scale must be a positive finite number")
            }
            let bytes: [UInt8]
            switch Base64.decode(try text.string()) {
            case .success(let decoded): bytes = decoded
            case .failure(let error): throw text.error(error.description)
            }
            guard bytes.count == count * rowLength else {
                throw text.error(
                    "holds \(bytes.count) values; expected \(count * rowLength), \(count) rows of \(rowLength) (\(rowMeaning))"
                )
            }
            let values = bytes.map { Int8(bitPattern: $0) }
            if let index = values.firstIndex(of: -128) {
                throw text.error("value \(index) is -128; int8 weights are symmetric, from -127 to 127")
            }
            return (Int8Quantization.dequantize(values, scales: scales, rowLength: rowLength), scales)
        }
        if try reader.optional("weight_scales") != nil {
            throw JSONFieldError(path: reader.path + ".weight_scales", problem: "needs weights_int8 beside it")
        }
        let rows = try reader["weights"].array()
        guard rows.count == count else {
            throw JSONFieldError(
                path: reader.path + ".weights",
                problem: "has \(rows.count) rows; expected \(count), one per \(row) (each row holds \(rowMeaning))")
        }
        var weights: [Float] = []
        for row in rows { weights += try row.floats(count: rowLength, meaning: valueMeaning) }
        return (weights, nil)
    }

    private static func checkOutput(of network: Network, classes: [Int]) throws(ModelFileError) {
        let path = "layers[\(network.layers.count - 1)]"
        guard case .dense(let last) = network.layers[network.layers.count - 1] else {
            throw .invalid(path: path + ".type", problem: "the output layer must be 'dense' (one unit per class)")
        }
        if last.units == 1 {
            guard last.activation == .sigmoid else {
                throw .invalid(
                    path: path + ".activation", problem: "a single output unit must be 'sigmoid' (it is P(class 1))")
            }
            guard classes.count == 2 else {
                throw .invalid(
                    path: "classes", problem: "a single sigmoid output needs exactly two classes; got \(classes.count)")
            }
        } else {
            guard last.activation == .softmax else {
                throw .invalid(
                    path: path + ".activation",
                    problem: "an output of \(last.units) units must be 'softmax' (one probability per class)")
            }
            guard classes.count == last.units else {
                throw .invalid(
                    path: "classes", problem: "has \(classes.count) labels but the output layer has \(last.units) units"
                )
            }
        }
    }

    /// The model file's text: indented JSON with one line per weight row.
    public func jsonText() -> String {
        JSONWriter.pretty(json) + "\n"
    }

    /// The model file's document: version 1 when every layer is dense, so that older builds read it.
    public var json: JSONValue {
        let denseOnly = network.layers.allSatisfy { if case .dense = $0 { true } else { false } }
        let version = denseOnly && !network.isQuantized ? 1 : Self.formatVersion
        return .object([
            JSONMember("format", .string(Self.formatName)),
            JSONMember("format_version", .integer(version)),
            JSONMember("name", .string(name)),
            JSONMember("classes", .array(classes.map { .integer($0) })),
            JSONMember("input_shape", .array(inputShape.map { .integer($0) })),
            JSONMember("layers", .array(network.layers.map { Self.json($0, typed: version > 1) })),
            JSONMember("provenance", .object(provenance)),
        ])
    }

    /// A layer: weights one row per unit or filter, each row that unit's input weights or that filter's
    /// C x R x R weights (channel by channel, each kernel row-major).
    private static func json(_ layer: Layer, typed: Bool) -> JSONValue {
        func rows(_ weights: [Float], _ count: Int, scales: [Float]?) -> [JSONMember] {
            if let scales {
                let bytes = Int8Quantization.storedValues(weights, scales: scales).map { UInt8(bitPattern: $0) }
                return [
                    JSONMember("weight_scales", .array(scales.map { .float($0) })),
                    JSONMember("weights_int8", .string(Base64.encode(bytes))),
                ]
            }
            let length = weights.count / count
            return [
                JSONMember(
                    "weights",
                    .array((0..<count).map { .array(weights[$0 * length..<($0 + 1) * length].map { .float($0) }) }))
            ]
        }
        let type: [JSONMember] = typed ? [JSONMember("type", .string(layer.type.rawValue))] : []
        switch layer {
        case .dense(let dense):
            return .object(
                type + [
                    JSONMember("units", .integer(dense.units)),
                    JSONMember("activation", .string(dense.activation.rawValue)),
                    JSONMember("bias", .array(dense.bias.map { .float($0) })),
                ] + rows(dense.weights, dense.units, scales: dense.weightScales))
        case .convolution(let conv):
            return .object(
                type + [
                    JSONMember("filters", .integer(conv.filters)),
                    JSONMember("kernel_size", .integer(conv.kernelSize)),
                    JSONMember("padding", .string(conv.padding.rawValue)),
                    JSONMember("activation", .string(conv.activation.rawValue)),
                    JSONMember("bias", .array(conv.bias.map { .float($0) })),
                ] + rows(conv.weights, conv.filters, scales: conv.weightScales))
        case .maxPool:
            return .object(type)
        case .dropout(let dropout):
            return .object(type + [JSONMember("rate", .float(dropout.rate))])
        }
    }
}
