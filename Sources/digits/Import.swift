import ArgumentParser
import DigitCore
import JSON

/// `digits import`: turns Keras-style weights saved with `np.savez` into a model file.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a model file from Keras weights in an .npz archive (W1, b1, W2, b2, ...).",
        discussion: """
            Wn is a Keras Dense kernel of shape (inputs, units) and bn its bias of shape (units,), for layers \
            n = 1, 2, ... in order. The README shows the lines that export them from a Keras model. The \
            result is validated exactly as a model file is when it is loaded.
            """
    )

    @Option(help: "The .npz archive holding W1, b1, W2, b2, ...")
    var weights: String

    @Option(help: "One activation per layer, comma-separated: sigmoid, relu, softmax or linear.")
    var activations: CommaSeparated<Activation>

    @Option(help: "Class labels, comma-separated. (default: 0,1 for one output unit, else 0 to units-1)")
    var classes: CommaSeparated<Int>?

    @Option(help: "The input's shape, comma-separated.")
    var inputShape: CommaSeparated<Int> = CommaSeparated(argument: "20,20")!

    @Option(help: "The model's name.")
    var name: String = "imported"

    @Option(help: "Where to write the model file.")
    var output: String

    func validate() throws {
        guard !inputShape.values.isEmpty, inputShape.values.allSatisfy({ (1...Model.maximumInputSize).contains($0) }),
            inputShape.values.reduce(1, { $0.multipliedReportingOverflow(by: $1).partialValue })
                <= Model.maximumInputSize
        else { throw ValidationError("--input-shape must hold positive sizes such as 20,20") }
        if !Model.isValidName(name) {
            throw ValidationError("--name must be 1 to 64 letters, digits, '.', '_' or '-'; got '\(name)'")
        }
    }

    func run() throws {
        let bytes = try FileIO.read(weights)
        let archive: NumPyArchive
        do { archive = try NumPyArchive(npzBytes: bytes) } catch { throw FileError(path: weights, reason: error) }

        let network: Network
        do {
            network = try Network(
                kerasWeights: archive, inputSize: inputShape.values.reduce(1, *), activations: activations.values)
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
