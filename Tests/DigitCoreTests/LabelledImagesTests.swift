import Testing

@testable import DigitCore

@Suite("Labelled image sets")
struct LabelledImagesTests {
    func load(_ images: String, _ labels: String) throws -> LabelledImages {
        try LabelledImages.load(images: fixturePath(images), labels: fixturePath(labels), classCount: 10)
    }

    @Test("images and labels load together")
    func loads() throws {
        let data = try load("images_4.npy", "labels_4.npy")
        #expect(data.count == 4 && data.pixelsPerImage == 400 && data.labels == [0, 1, 2, 3])
        let binary = data.keeping(classes: [0, 1])
        #expect(binary.count == 2 && binary.labels == [0, 1])
        #expect(Array(binary.pixels[400..<800]) == Array(data.pixels[400..<800]))
    }

    @Test(
        "mismatched, out-of-range and non-integer labels are refused",
        arguments: [
            ("images_3.npy", "labels_4.npy", DatasetError.countMismatch(images: 3, labels: 4)),
            ("images_4.npy", "labels_out_of_range.npy", .labelOutOfRange(index: 2, label: 12, classCount: 10)),
            ("images_4.npy", "labels_float.npy", .nonIntegerLabels("<f4")),
            ("labels_4.npy", "labels_4.npy", .badImageShape([4])),
            ("images_4.npy", "images_4.npy", .badLabelShape([4, 400])),
        ])
    func refusals(images: String, labels: String, expected: DatasetError) {
        #expect(fileErrorReason { try load(images, labels) } as? DatasetError == expected)
    }

    @Test("non-finite pixels are refused")
    func nonFinite() {
        #expect(throws: DatasetError.nonFinitePixel(image: 1, pixel: 0)) {
            try LabelledImages(pixels: [0, 0, .nan, 0], labels: [0, 1], pixelsPerImage: 2)
        }
    }
}
