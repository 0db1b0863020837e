import JSON

extension Model {
    /// The format's name, the first thing a reader checks.
    public static let formatName = "digits-model"
    /// The format version this build reads and writes.
    public static let formatVersion = 1
    /// The most input values a model may take (a 4096x4096 image), so that a hostile shape cannot overflow sizes.
    public static let maximumInputSize = 1 << 24

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
        guard version == Self.formatVersion else {
            throw JSONFieldError(
                path: "format_version",
                problem: "is \(version); this build reads version \(Self.formatVersion) (upgrade digits to read it)")
        }
        let name = try root["name"].string()
        let inputShape = try root["input_shape"].integers()
        let classes = try root["classes"].integers()
        // The product, saturating: sizes of 2^24 each overflow 64 bits by the fourth.
        let product = inputShape.reduce(1) { product, size in
            let (next, overflow) = product.multipliedReportingOverflow(by: size)
            return overflow ? Int.max : next
        }
        guard !inputShape.isEmpty, inputShape.allSatisfy({ (1...Self.maximumInputSize).contains($0) }),
            product <= Self.maximumInputSize
        else {
            throw JSONFieldError(
                path: "input_shape",
                problem: "must hold positive sizes whose product is at most \(Self.maximumInputSize); got \(inputShape)"
            )
        }
        var inputs = product
        let layerReaders = try root["layers"].array()
        guard !layerReaders.isEmpty else {
            throw JSONFieldError(path: "layers", problem: "must hold at least one layer")
        }
        var layers: [DenseLayer] = []
        for reader in layerReaders {
            let layer = try Self.readLayer(reader, inputs: inputs)
            layers.append(layer)
            inputs = layer.units
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
            if let position = layer.weights.firstIndex(where: { !$0.isFinite }) {
                throw .invalid(
                    path: "layers[\(index)].weights[\(position / layer.inputSize)][\(position % layer.inputSize)]",
                    problem: Self.nonFiniteProblem(layer.weights[position]))
            }
            if let position = layer.bias.firstIndex(where: { !$0.isFinite }) {
                throw .invalid(
                    path: "layers[\(index)].bias[\(position)]", problem: Self.nonFiniteProblem(layer.bias[position]))
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

    private static func readLayer(_ reader: JSONField, inputs: Int) throws(JSONFieldError) -> DenseLayer {
        try reader.refuseUnknownKeys(["units", "activation", "weights", "bias"])
        let units = try reader["units"].integer(minimum: 1)
        let activationName = try reader["activation"].string()
        guard let activation = Activation(rawValue: activationName) else {
            throw JSONFieldError(
                path: reader.path + ".activation",
                problem: "'\(activationName)' is not an activation; use one of "
                    + Activation.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let rows = try reader["weights"].array()
        guard rows.count == units else {
            throw JSONFieldError(
                path: reader.path + ".weights",
                problem:
                    "has \(rows.count) rows; expected \(units), one per unit (each row holds the unit's \(inputs) input weights)"
            )
        }
        var weights: [Float] = []
        for row in rows { weights += try row.floats(count: inputs, meaning: "one per input") }
        let bias = try reader["bias"].floats(count: units, meaning: "one per unit")
        return DenseLayer(inputSize: inputs, units: units, activation: activation, weights: weights, bias: bias)
    }

    private static func checkOutput(of network: Network, classes: [Int]) throws(ModelFileError) {
        let last = network.layers[network.layers.count - 1]
        let path = "layers[\(network.layers.count - 1)]"
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

    /// The model file's document.
    public var json: JSONValue {
        .object([
            JSONMember("format", .string(Self.formatName)),
            JSONMember("format_version", .integer(Self.formatVersion)),
            JSONMember("name", .string(name)),
            JSONMember("classes", .array(classes.map { .integer($0) })),
            JSONMember("input_shape", .array(inputShape.map { .integer($0) })),
            JSONMember("layers", .array(network.layers.map(Self.json))),
            JSONMember("provenance", .object(provenance)),
        ])
    }

    /// A layer: its weights one row per unit, each row the unit's input weights.
    private static func json(_ layer: DenseLayer) -> JSONValue {
        .object([
            JSONMember("units", .integer(layer.units)),
            JSONMember("activation", .string(layer.activation.rawValue)),
            JSONMember("bias", .array(layer.bias.map { .float($0) })),
            JSONMember(
                "weights",
                .array(
                    (0..<layer.units).map { unit in
                        .array(layer.weights[unit * layer.inputSize..<(unit + 1) * layer.inputSize].map { .float($0) })
                    })),
        ])
    }
}
