import ArgumentParser
import DigitCore

/// The bundled files, relative to the project's top folder (where the README's commands run).
enum DefaultPaths {
    static let binaryModel = "data/models/binary.json"
    static let trainImages = "data/digits-train-X.npy"
    static let trainLabels = "data/digits-train-y.npy"
    static let testImages = "data/digits-test-X.npy"
    static let testLabels = "data/digits-test-y.npy"
}

/// Labels in the bundled data are digits, so a set holds classes 0 to 9 at least.
let digitClassCount = 10

/// The labelled images to evaluate on.
struct TestDataOptions: ParsableArguments {
    @Option(
        name: .customLong("images"),
        help: "Test images, a .npy of shape (N, 400) or (N, 20, 20). (default: \(DefaultPaths.testImages))")
    var imagesPath: String?

    @Option(
        name: .customLong("labels"), help: "Their labels, a .npy of N integers. (default: \(DefaultPaths.testLabels))")
    var labelsPath: String?

    /// Loads the set and keeps the images of the model's classes, relabelled as class indices.
    func load(for model: Model) throws -> LabelledImages {
        let classCount = max(digitClassCount, (model.classes.max() ?? 0) + 1)
        let all = try LabelledImages.load(
            images: imagesPath ?? DefaultPaths.testImages, labels: labelsPath ?? DefaultPaths.testLabels,
            classCount: classCount)
        guard all.pixelsPerImage == model.network.inputSize else {
            throw CommandFailure(
                "the images have \(all.pixelsPerImage) pixels each but the model takes \(model.network.inputSize)")
        }
        return all.keeping(classes: model.classes)
    }
}

/// A failure to report as one line on standard error, with exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// A comma-separated list option such as `--hidden 256,128`.
struct CommaSeparated<Element: ExpressibleByArgument>: ExpressibleByArgument {
    let values: [Element]

    init?(argument: String) {
        var values: [Element] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let value = Element(argument: part.trimmingCharacters(in: " ")) else { return nil }
            values.append(value)
        }
        self.values = values
    }
}

extension Activation: ExpressibleByArgument {}

extension Substring {
    func trimmingCharacters(in character: Character) -> String {
        String(drop(while: { $0 == character }).reversed().drop(while: { $0 == character }).reversed())
    }
}
