import ArgumentParser
import DigitCore
import JSON

/// `digits import`: turns Keras-style weights saved with `np.savez` into a model file.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a model file from Keras weights in an .npz archive (W1, b1, W2, b2, ...).",
        discussion: """
            Wn is the kernel and bn the bias of the n-th layer with weights, in order: a Dense kernel of shape \
            (inputs, units), a Conv2D kernel of shape (rows, columns, input channels, filters). Without \
            --layers every layer is Dense; a CNN names its layers, the output included, as in \
            `--layers conv16,pool,conv32,pool,dense64,dense10` (pooling and dropout have no weights). \
            docs/models.md shows the lines that export them from a Keras model. The result is validated exactly \
            as a model file is when it is loaded.
            """
    )

    @Option(help: "The .npz archive holding W1, b1, W2, b2, ...")
    var weights: String

    @Option(
        help: "One activation per layer with weights, comma-separated: sigmoid, relu, softmax or linear.")
    var activations: CommaSeparated<Activation>

    @Option(help: "Every layer, the output included: \(LayerItem.syntax). (default: Dense layers only)")
    var layers: CommaSeparated<LayerItem>?

    @Option(help: "Class labels, comma-separated. (default: 0,1 for one output unit, else 0 to units-1)")
    var classes: CommaSeparated<Int>?

    @Option(
        help:
            "The input's shape, comma-separated: rows,columns for one channel (a Keras (20, 20, 1) input is 20,20), channels,rows,columns for more."
    )
    var inputShape: CommaSeparated<Int> = CommaSeparated(argument: "20,20")!

    @Option(help: "The model's name.")
    var name: String = "imported"

    @Option(help: "Where to write the model file.")
    var output: String

    func validate() throws {
        guard Model.inputSize(of: inputShape.values) != nil else {
            throw ValidationError(
                "--input-shape must hold positive sizes whose product is at most \(Model.maximumInputSize), such as 20,20; got \(inputShape.values)"
            )
        }
        try checkModelName(name)
        if let layers {
            let weighted = layers.values.filter(\.plan.hasWeights).count
            guard weighted == activations.values.count else {
                throw ValidationError(
                    "--layers names \(weighted) layers with weights (conv and dense) but --activations gives \(activations.values.count); give one per conv and dense layer"
                )
            }
            if let problem = Network.checkedPlan(plan(layers), input: input) {
                throw ValidationError("--layers: \(problem)")
            }
        }
    }

    /// What the first layer reads (``LayerInput/init(shape:)``): three sizes are channels, rows, columns.
    var input: LayerInput { LayerInput(shape: inputShape.values) }

    /// `--layers` with `--activations` given to its conv and dense layers in order.
    func plan(_ layers: CommaSeparated<LayerItem>) -> [LayerPlan] {
        var remaining = activations.values[...]
        return layers.values.map { item in
            guard item.plan.hasWeights, let activation = remaining.popFirst() else {
                return item.plan(activation: .linear)
            }
            return item.plan(activation: activation)
        }
    }

    /// A `.keras` (a zip of config and HDF5 weights) or `.h5` (HDF5) model file is not an `.npz` of arrays:
    /// say so, and how to make the `.npz`, rather than "no W1 array".
    static func refuseKerasModelFile(_ path: String, bytes: [UInt8]) throws {
        let hdf5 = bytes.starts(with: [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A])
        let lowered = path.lowercased()
        guard hdf5 || lowered.hasSuffix(".keras") || lowered.hasSuffix(".h5") || lowered.hasSuffix(".hdf5") else {
            return
        }
        throw CommandFailure(
            "\(path) is a Keras model file (\(hdf5 ? "HDF5" : "a .keras archive")), and import reads the model's weights saved with NumPy: in Python, load the model and save each layer's kernel and bias as W1, b1, W2, b2, ... with np.savez (the snippet is in docs/models.md, under \"Bringing your own Keras weights\"), then import that .npz"
        )
    }

    func run() throws {
        let bytes = try FileIO.read(weights)
        try Self.refuseKerasModelFile(weights, bytes: bytes)
        let archive: NumPyArchive
        do { archive = try NumPyArchive(npzBytes: bytes) } catch { throw FileError(path: weights, reason: error) }

        let network: Network
        do {
            if let layers {
                network = try Network(kerasWeights: archive, input: input, plan: plan(layers))
            } else {
                network = try Network(
                    kerasWeights: archive, inputSize: input.count, activations: activations.values)
            }
        } catch {
            throw FileError(path: weights, reason: error)
        }
        let outputUnits = network.outputSize
        let model = Model(
            name: name, classes: classes?.values ?? (outputUnits == 1 ? [0, 1] : Array(0..<outputUnits)),
            inputShape: inputShape.values, network: network,
            provenance: [
                JSONMember("imported_from", .string(lastPathComponent(weights))),
                JSONMember("imported_sha256", .string(SHA256.hexDigest(bytes))),
            ])
        // The checks a model file gets when it is loaded (finite numbers, output layer, classes), so an
        // import never writes a file that will not load.
        do { try model.validate() } catch { throw CommandFailure("\(weights): \(error)") }
        try model.save(to: output)
        print("wrote \(output): \(network.layers.count) layers, \(network.parameterCount) parameters")
    }
}
