import Testing

@testable import DigitCore

@Suite("Image transforms")
struct ImageTransformTests {
    /// A 5x5 image with ink at the given (row, column) points.
    func image(_ points: [(Int, Int)], value: Float = 1) -> [Float] {
        var pixels = [Float](repeating: 0, count: 25)
        for (row, column) in points { pixels[row * 5 + column] = value }
        return pixels
    }

    func apply(_ transform: ImageTransform, _ pixels: [Float]) -> [Float] {
        transform.applied(to: pixels, rows: 5, columns: 5)
    }

    @Test("a whole-pixel shift is an exact copy, moved; what it uncovers is paper")
    func wholePixelShift() {
        let digit = (0..<25).map { Float($0) / 24 }
        let moved = apply(ImageTransform(shiftColumns: 2, shiftRows: -1), digit)
        for row in 0..<5 {
            for column in 0..<5 {
                let (sourceRow, sourceColumn) = (row + 1, column - 2)
                let inside = (0..<5).contains(sourceRow) && (0..<5).contains(sourceColumn)
                #expect(moved[row * 5 + column] == (inside ? digit[sourceRow * 5 + sourceColumn] : 0))
            }
        }
        #expect(apply(ImageTransform(), digit) == digit)
    }

    @Test("a positive angle turns clockwise as seen: right goes to the bottom; a bar turns upright")
    func rotation() {
        let right = apply(ImageTransform(rotationDegrees: 90), image([(2, 4)]))
        #expect(zip(right, image([(4, 2)])).allSatisfy { abs($0 - $1) < 1e-5 })
        let bar = apply(ImageTransform(rotationDegrees: -90), image([(2, 1), (2, 2), (2, 3)]))
        #expect(zip(bar, image([(1, 2), (2, 2), (3, 2)])).allSatisfy { abs($0 - $1) < 1e-5 })
        // A half-pixel shift interpolates: half the ink in each of two pixels.
        let half = apply(ImageTransform(shiftColumns: 0.5), image([(2, 2)]))
        #expect(half[12] == 0.5 && half[13] == 0.5 && half.reduce(0, +) == 1)
    }

    @Test("scaling is about the centre: twice the size moves an off-centre point twice as far")
    func scale() {
        let scaled = apply(ImageTransform(scale: 2), image([(2, 3)]))
        #expect(scaled[2 * 5 + 4] == 1 && scaled[2 * 5 + 2] == 0)
    }

    @Test("strokes: t = 1 dilates by the four neighbours, t = −1 erodes, and values between blend")
    func thickness() {
        let dot = image([(2, 2)])
        #expect(apply(ImageTransform(thickness: 1), dot) == image([(2, 2), (1, 2), (3, 2), (2, 1), (2, 3)]))
        #expect(apply(ImageTransform(thickness: -1), dot) == image([]))
        let half = apply(ImageTransform(thickness: 0.5), dot)
        #expect(half[12] == 1 && half[7] == 0.5 && half[6] == 0)
        let block = image([(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3)])
        #expect(apply(ImageTransform(thickness: -1), block) == image([(2, 2)]))
    }

    @Test("augmentation draws within its ranges, from the seed alone")
    func augmentationDraws() {
        let ranges = Augmentation(shift: 2, rotationDegrees: 15, scale: 0.1, thickness: 0.5)
        var generator = SeededGenerator(seed: 3)
        let draws = (0..<1000).map { _ in ranges.draw(&generator) }
        #expect(draws.allSatisfy { abs($0.shiftColumns) <= 2 && abs($0.shiftRows) <= 2 })
        #expect(draws.allSatisfy { abs($0.rotationDegrees) <= 15 && abs($0.scale - 1) <= 0.1 })
        #expect(draws.allSatisfy { abs($0.thickness) <= 0.5 })
        #expect(draws.contains { $0.rotationDegrees < -10 } && draws.contains { $0.rotationDegrees > 10 })
        var again = SeededGenerator(seed: 3)
        #expect((0..<1000).map { _ in ranges.draw(&again) } == draws)
        #expect(Augmentation(shift: 11).problem != nil && Augmentation(thickness: -0.1).problem != nil)
        #expect(ranges.problem == nil)
    }

    @Test(
        "the robustness table: one row per fixed change; a model that reads the centre pixel only fails when it moves")
    func robustness() throws {
        // The "model" is a dense sigmoid unit on the centre pixel of 5x5 images: P(1) = σ(20·(x − 0.5)).
        var weights = [Float](repeating: 0, count: 25)
        weights[12] = 20
        let model = Model(
            name: "centre", classes: [0, 1], inputShape: [5, 5],
            network: Network(layers: [
                DenseLayer(inputSize: 25, units: 1, activation: .sigmoid, weights: weights, bias: [-10])
            ]))
        let data = try LabelledImages(
            pixels: image([(2, 2)]) + image([]), labels: [1, 0], pixelsPerImage: 25)
        let report = model.evaluate(on: data, robustness: true)
        #expect(report.accuracy == 1)
        #expect(report.robustness.map(\.check.name) == RobustnessCheck.all.map(\.name))
        let byName = Dictionary(uniqueKeysWithValues: report.robustness.map { ($0.check.name, $0.correct) })
        #expect(byName["shifted_left_2px"] == 1 && byName["thinned_1px"] == 1 && byName["thickened_1px"] == 2)
        #expect(byName["rotated_clockwise_15deg"] == 2)
        #expect(report.text.contains("shifted_left_2px             0.5000  (1/2, 1 confident mistakes)"))
        // σ(20·(0 − 0.5)) = 0.0000454: the moved 1 is called 0 with probability 0.99995.
        #expect(report.robustness[0].confidentMistakes == 1)
        #expect(model.evaluate(on: data).robustness.isEmpty)
    }
}
