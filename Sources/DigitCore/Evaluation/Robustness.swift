import JSON

/// One fixed change applied to every test image, and the accuracy the model keeps under it.
public struct RobustnessResult: Equatable, Sendable {
    public let check: RobustnessCheck
    public let correct: Int
    /// Wrong answers given with a probability of at least ``confidentProbability``: the mistakes a caller
    /// cannot catch by looking at the answer's probability.
    public let confidentMistakes: Int
    public let total: Int

    public static let confidentProbability: Float = 0.9

    public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }
}

/// The fixed, documented changes of the robustness table: the test split moved 2 px each way, turned 15°
/// each way, its strokes thickened and thinned a full pixel (``ImageTransform``). Untidy digits, as people
/// draw them, without new data: what a model trained only on centred, upright strokes fails at.
public struct RobustnessCheck: Equatable, Sendable {
    /// The row's key in JSON.
    public let name: String
    public let transform: ImageTransform

    public static let all: [RobustnessCheck] = [
        RobustnessCheck(name: "shifted_left_2px", transform: ImageTransform(shiftColumns: -2)),
        RobustnessCheck(name: "shifted_right_2px", transform: ImageTransform(shiftColumns: 2)),
        RobustnessCheck(name: "shifted_up_2px", transform: ImageTransform(shiftRows: -2)),
        RobustnessCheck(name: "shifted_down_2px", transform: ImageTransform(shiftRows: 2)),
        RobustnessCheck(name: "rotated_clockwise_15deg", transform: ImageTransform(rotationDegrees: 15)),
        RobustnessCheck(name: "rotated_anticlockwise_15deg", transform: ImageTransform(rotationDegrees: -15)),
        RobustnessCheck(name: "thickened_1px", transform: ImageTransform(thickness: 1)),
        RobustnessCheck(name: "thinned_1px", transform: ImageTransform(thickness: -1)),
    ]
}

extension Model {
    /// The accuracy on `data` under each of ``RobustnessCheck/all``. The images must be
    /// ``inputShape``'s two dimensions.
    public func robustness(on data: LabelledImages) -> [RobustnessResult] {
        guard inputShape.count == 2 else { return [] }
        let (rows, columns) = (inputShape[0], inputShape[1])
        return RobustnessCheck.all.map { check in
            var changed = [Float](repeating: 0, count: data.pixels.count)
            data.pixels.withUnsafeBufferPointer { source in
                changed.withUnsafeMutableBufferPointer { output in
                    for image in 0..<data.count {
                        check.transform.apply(
                            source.baseAddress! + image * data.pixelsPerImage, rows: rows, columns: columns,
                            into: output.baseAddress! + image * data.pixelsPerImage)
                    }
                }
            }
            let outputs = network.predictBatch(changed, count: data.count)
            let width = network.outputSize
            var (correct, confident) = (0, 0)
            outputs.withUnsafeBufferPointer { buffer in
                for (image, label) in data.labels.enumerated() {
                    let decision = Classification.decide(
                        UnsafeBufferPointer(rebasing: buffer[image * width..<(image + 1) * width]))
                    if decision.classIndex == label {
                        correct += 1
                    } else if decision.probability >= RobustnessResult.confidentProbability {
                        confident += 1
                    }
                }
            }
            return RobustnessResult(check: check, correct: correct, confidentMistakes: confident, total: data.count)
        }
    }
}

extension RobustnessResult {
    var json: JSONValue {
        .object([
            JSONMember("transform", .string(check.name)),
            JSONMember("accuracy", .number(accuracy)),
            JSONMember("correct_predictions", .number(Double(correct))),
            JSONMember("confident_mistakes", .number(Double(confidentMistakes))),
        ])
    }
}
