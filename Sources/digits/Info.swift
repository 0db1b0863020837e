import ArgumentParser
import DigitCore
import JSON

/// `digits info`: what the original's `get_model_info` returned, plus the file's identity and provenance.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model's type, input and output shapes, parameter count and layers.")

    @Option(help: "The model file.")
    var model: String = DefaultPaths.binaryModel

    @Flag(help: "Print the information as JSON.")
    var json = false

    func run() throws {
        let (model, sha256) = try withPathHint(self.model, flag: "--model") { try Model.load(contentsOf: self.model) }
        if json {
            print(JSONWriter.pretty(.object(model.document(sha256: sha256))))
            return
        }
        let network = model.network
        print("Name:             \(model.name)")
        print("File:             \(self.model) (sha256 \(sha256))")
        print("Model type:       Sequential")
        print(
            "Input shape:      (None, \(network.inputSize))  [\(model.inputShape.map(String.init).joined(separator: "x")) row-major]"
        )
        print("Output shape:     (None, \(network.outputSize))")
        print("Total parameters: \(network.parameterCount)")
        print("Classes:          \(model.classes.map(String.init).joined(separator: ", "))")
        print("Layers:")
        for (layer, name) in zip(network.layers, model.layerNames) {
            let shape = layer.outputMaps.map { "\($0)" } ?? "\(layer.outputCount)"
            let activation = layer.parameters == nil ? "" : "  \(layer.activation.rawValue)"
            print("  \(name)  \(layer.inputCount) -> \(shape)\(activation)  \(layer.parameterCount) parameters")
        }
        if !model.provenance.isEmpty {
            print("Provenance:")
            for member in model.provenance {
                print("  \(member.key): \(JSONWriter.compact(member.value))")
            }
        }
    }
}
