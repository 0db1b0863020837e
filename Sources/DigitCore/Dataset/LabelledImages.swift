/// Images with their class labels, flat and row-major: image `n` is `pixels[n * pixelsPerImage ..< (n + 1) * pixelsPerImage]`.
///
/// Labels are class indices (`0..<classCount`), which for digits are the digits themselves.
public struct LabelledImages: Sendable, Equatable {
    public let pixels: [Float]
    public let labels: [Int]
    public let pixelsPerImage: Int

    public var count: Int { labels.count }

    /// Checks that the pixels and labels agree in count and that every value is usable.
    public init(pixels: [Float], labels: [Int], pixelsPerImage: Int) throws(DatasetError) {
        guard pixelsPerImage > 0, pixels.count == labels.count * pixelsPerImage else {
            throw .countMismatch(images: pixelsPerImage > 0 ? pixels.count / pixelsPerImage : 0, labels: labels.count)
        }
        if let index = pixels.firstIndex(where: { !$0.isFinite }) {
            throw .nonFinitePixel(image: index / pixelsPerImage, pixel: index % pixelsPerImage)
        }
        self.pixels = pixels
        self.labels = labels
        self.pixelsPerImage = pixelsPerImage
    }

    /// Builds a set from NumPy arrays: images of shape (N, 400) or (N, 20, 20), labels of shape (N,) holding
    /// integers in `0..<classCount`.
    public init(images: NumPyArray, labels: NumPyArray, classCount: Int) throws(DatasetError) {
        guard images.shape.count >= 2, images.shape.dropFirst().allSatisfy({ $0 > 0 }) else {
            throw .badImageShape(images.shape)
        }
        guard labels.shape.count == 1 else { throw .badLabelShape(labels.shape) }
        guard let labelValues = labels.integers() else { throw .nonIntegerLabels(labels.dtype.rawValue) }
        guard images.shape[0] == labels.shape[0] else {
            throw .countMismatch(images: images.shape[0], labels: labels.shape[0])
        }
        if let index = labelValues.firstIndex(where: { !(0..<classCount).contains($0) }) {
            throw .labelOutOfRange(index: index, label: labelValues[index], classCount: classCount)
        }
        try self.init(
            pixels: images.floats(), labels: labelValues, pixelsPerImage: images.shape.dropFirst().reduce(1, *))
    }

    /// Loads a set from two `.npy` files.
    public static func load(
        images imagesPath: String, labels labelsPath: String, classCount: Int
    ) throws(FileError)
        -> LabelledImages
    {
        let images = try NumPyArray.load(contentsOf: imagesPath)
        let labels = try NumPyArray.load(contentsOf: labelsPath)
        do {
            return try LabelledImages(images: images, labels: labels, classCount: classCount)
        } catch {
            throw FileError(path: "\(imagesPath) with \(labelsPath)", reason: error)
        }
    }

    /// The images whose label is one of `classes`, relabelled by their position in `classes`
    /// (the binary task keeps digits 0 and 1 and labels them 0 and 1).
    public func keeping(classes: [Int]) -> LabelledImages {
        var keptPixels: [Float] = []
        var keptLabels: [Int] = []
        for (index, label) in labels.enumerated() {
            guard let newLabel = classes.firstIndex(of: label) else { continue }
            keptPixels += pixels[index * pixelsPerImage..<(index + 1) * pixelsPerImage]
            keptLabels.append(newLabel)
        }
        // The kept values were validated when this set was made.
        return try! LabelledImages(pixels: keptPixels, labels: keptLabels, pixelsPerImage: pixelsPerImage)
    }
}

/// Why a labelled set was refused.
public enum DatasetError: Error, Equatable, Sendable, CustomStringConvertible {
    case badImageShape([Int])
    case badLabelShape([Int])
    case nonIntegerLabels(String)
    case countMismatch(images: Int, labels: Int)
    case labelOutOfRange(index: Int, label: Int, classCount: Int)
    case nonFinitePixel(image: Int, pixel: Int)

    public var description: String {
        switch self {
        case .badImageShape(let shape):
            "images must have shape (N, 400) or (N, 20, 20); got \(shapeText(shape))"
        case .badLabelShape(let shape):
            "labels must have shape (N,); got \(shapeText(shape))"
        case .nonIntegerLabels(let dtype):
            "labels must be integers; the file holds \(dtype) (save them with labels.astype(np.uint8))"
        case .countMismatch(let images, let labels):
            "there are \(images) images but \(labels) labels; each image needs exactly one label"
        case .labelOutOfRange(let index, let label, let classCount):
            "labels[\(index)] is \(label); labels must be class numbers from 0 to \(classCount - 1)"
        case .nonFinitePixel(let image, let pixel):
            "image \(image) pixel \(pixel) is not a finite number"
        }
    }
}
