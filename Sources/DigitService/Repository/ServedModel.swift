import DigitCore
import HTTPCore
import JSON

/// One version of one model, loaded, checked, evaluated on the test split and warmed up: everything a
/// request needs, fixed for the version's life. A request takes a reference to the version it started on
/// and keeps it until it has answered, so an unloaded version's memory goes when its last request ends
/// (TF Serving's reference-counted handles, done by Swift's reference counting).
public final class ServedModel: Sendable {
    public let name: String
    public let version: Int
    /// `version` as the protocol and the `Model-Version` header write it.
    public let versionText: String
    /// The model, its `name` the served name (the folder's, whatever the file says).
    public let model: Model
    /// The model file's SHA-256, as `sha256sum` prints it.
    public let sha256: String
    public let evaluation: EvaluationReport
    let file: VersionFile
    /// What a valid image is for this model.
    let input: ImageInput
    let reader: JSONImageReader
    let fastReader: FastImageReader
    /// Response bodies that never change, encoded once.
    let evaluationBody: [UInt8]
    let documentServing: [UInt8]
    let documentDraining: [UInt8]
    /// `Model-Name` and `Model-Version`, which every prediction carries.
    let identityHeaders: [(String, String)]
    /// A JSON prediction's header fields (`Content-Type` and the identity), made once.
    let jsonResponseHeaders: HTTPHeaders

    /// Reads and validates `file`, checks that the model takes the test split's images, evaluates it and
    /// runs one forward pass. Throws what is wrong in words for the index and the log.
    init(name: String, version: Int, file: VersionFile, testSplit: LabelledImages) throws(ModelLoadError) {
        var model: Model
        do {
            (model, sha256) = try Model.load(
                contentsOf: file.path, maxBytes: ModelRepository.maximumModelFileBytes, regularFileOnly: true)
        } catch {
            throw ModelLoadError("\(error)")
        }
        guard model.inputShape.count == 2 else {
            throw ModelLoadError(
                "\(file.path): the service needs a model of 2-D images; its input_shape is \(model.inputShape)")
        }
        guard testSplit.pixelsPerImage == model.network.inputSize else {
            throw ModelLoadError(
                "\(file.path): the model takes \(model.network.inputSize) pixels but the test images have \(testSplit.pixelsPerImage)"
            )
        }
        if let unknown = model.classes.first(where: { !(0..<10).contains($0) }) {
            throw ModelLoadError("\(file.path): class \(unknown) is no digit; the test split's labels are 0 to 9")
        }
        model.name = name
        self.name = name
        self.version = version
        versionText = String(version)
        self.model = model
        self.file = file
        input = ImageInput(rows: model.inputShape[0], columns: model.inputShape[1])
        reader = JSONImageReader(input: input)
        fastReader = FastImageReader(input: input)
        evaluation = model.evaluate(on: testSplit.keeping(classes: model.classes), robustness: true)
        // The warm-up: the first answer costs what every later one does.
        _ = model.network.predict([Float](repeating: 0, count: model.network.inputSize))
        evaluationBody = JSONWriter.bytes(evaluation.json)
        let document = model.document(sha256: sha256) + [JSONMember("version", .string(versionText))]
        documentServing = JSONWriter.bytes(.object(document + [JSONMember("status", .string("serving"))]))
        documentDraining = JSONWriter.bytes(.object(document + [JSONMember("status", .string("draining"))]))
        identityHeaders = [("Model-Name", name), ("Model-Version", versionText)]
        jsonResponseHeaders = HTTPHeaders([("Content-Type", "application/json")] + identityHeaders)
    }
}

/// Why a version was not loaded, for the repository index, the log and `digits serve`'s exit message.
public struct ModelLoadError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// Refused because another load or unload was under way: the client should retry.
    public let isBusy: Bool

    init(_ description: String, isBusy: Bool = false) {
        self.description = description
        self.isBusy = isBusy
    }

    /// A load or unload asked for while another runs. Refused rather than queued, so that no Dispatch
    /// worker (shared with batch and inference requests) waits behind it.
    static let busy = ModelLoadError("another load or unload is under way; retry when it has ended", isBusy: true)
}
