import ArgumentParser
import DigitCore
import DigitService

/// The bundled files, relative to the project's top folder (where the README's commands run); the model
/// and the test split are the service's defaults.
enum DefaultPaths {
    static let binaryModel = ServiceConfiguration.bundledModelPath
    static let trainImages = "data/digits-train-X.npy"
    static let trainLabels = "data/digits-train-y.npy"
    static let testImages = ServiceConfiguration.bundledTestImagesPath
    static let testLabels = ServiceConfiguration.bundledTestLabelsPath
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
        try load(classes: model.classes, pixelsPerImage: model.network.inputSize)
    }

    /// Loads the set for a model of `classes` that takes `pixelsPerImage` (before it exists, as `train`
    /// checks its test data before it trains).
    func load(classes: [Int], pixelsPerImage: Int) throws -> LabelledImages {
        let classCount = max(digitClassCount, (classes.max() ?? 0) + 1)
        let images = imagesPath ?? DefaultPaths.testImages
        let labels = labelsPath ?? DefaultPaths.testLabels
        let all = try withPathHint(images, flag: "--images") {
            try withPathHint(labels, flag: "--labels") {
                try LabelledImages.load(images: images, labels: labels, classCount: classCount)
            }
        }
        guard all.pixelsPerImage == pixelsPerImage else {
            throw CommandFailure(
                "the images have \(all.pixelsPerImage) pixels each but the model takes \(pixelsPerImage)")
        }
        // As the API refuses them: a model given 0-255 answers confidently and wrongly.
        if let index = all.pixels.firstIndex(where: { !(0...1).contains($0) }) {
            let largest = all.pixels.max() ?? 0
            throw CommandFailure(
                "\(imagesPath ?? DefaultPaths.testImages): image \(index / all.pixelsPerImage) has the pixel value \(all.pixels[index]) (the largest is \(largest)); pixels are from 0 (paper) to 1 (ink)"
                    + (largest > 1 && largest <= 255
                        ? ": divide 0-255 values by 255 (images / 255.0) and save the file again" : "")
            )
        }
        return all.keeping(classes: classes)
    }
}
