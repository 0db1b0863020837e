import Dispatch
import Glibc

/// How to train: the hyperparameters, with Keras's defaults where the original used them.
public struct TrainingOptions: Sendable, Equatable {
    public var epochs: Int
    /// Samples per gradient step (Keras's default, 32).
    public var batchSize: Int = 32
    /// Adam's step size (Keras's default, 0.001).
    public var learningRate: Float = 0.001
    /// Whether the step size shrinks over the epochs (``LearningRateSchedule``).
    public var schedule: LearningRateSchedule = .constant
    /// Seeds initialisation, shuffling and augmentation: one seed, one model, bit for bit.
    public var seed: UInt64
    /// Each training image is changed at random every time it is seen (moved, turned, scaled, its strokes
    /// thickened or thinned): it teaches a network the tolerance to untidy digits that it does not have by
    /// construction.
    public var augmentation = Augmentation()
    /// Each mini-batch is split into this many parts, whose gradients are computed side by side (Dispatch
    /// runs them on the cores there are) and then summed in a fixed order: the result depends on the part
    /// count, never on the machine's cores or on scheduling.
    public var gradientParts: Int = 2
    /// The images' height and width, needed to transform them.
    public var imageShape: (rows: Int, columns: Int) = (20, 20)

    public init(epochs: Int, seed: UInt64) {
        self.epochs = epochs
        self.seed = seed
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.epochs == rhs.epochs && lhs.batchSize == rhs.batchSize && lhs.learningRate == rhs.learningRate
            && lhs.seed == rhs.seed && lhs.augmentation == rhs.augmentation && lhs.gradientParts == rhs.gradientParts
            && lhs.schedule == rhs.schedule
            && lhs.imageShape == rhs.imageShape
    }
}

/// How the step size changes from epoch to epoch.
public enum LearningRateSchedule: String, Sendable, CaseIterable {
    /// The same step size throughout (Keras's default).
    case constant
    /// Cosine decay (Loshchilov and Hutter, 2017, without restarts): epoch e of E (from 0) uses
    /// α·(1 + cos(π·e / E)) / 2, large steps first and small ones to settle at the end.
    case cosine

    /// The step size for epoch `epoch` (from 0) of `epochs`.
    public func rate(_ base: Float, epoch: Int, of epochs: Int) -> Float {
        switch self {
        case .constant: base
        case .cosine: base * Float((1 + cos(Double.pi * Double(epoch) / Double(epochs))) / 2)
        }
    }
}

/// Why training cannot start.
public enum TrainingError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidOption(String)
    case unsuitableNetwork(String)

    public var description: String {
        switch self {
        case .invalidOption(let message), .unsuitableNetwork(let message): message
        }
    }
}

/// What one epoch did, for the progress line.
public struct EpochSummary: Sendable, Equatable {
    public let epoch: Int
    /// The mean loss over the epoch's samples, each measured before the step that used it.
    public let loss: Double
    /// The fraction of the epoch's samples classified correctly at the time they were seen.
    public let accuracy: Double
}

/// Mini-batch training with Adam and the cross-entropy loss that matches the output layer.
public struct Trainer: Sendable {
    public private(set) var network: Network
    public let loss: Loss
    public let options: TrainingOptions
    private var optimizer: Adam
    private var generator: SeededGenerator
    private var epochsDone = 0

    /// Prepares to train `network`, whose output layer must suit `loss`; the generator that
    /// shuffles and augments is seeded from `options.seed` (offset from the one that initialised the weights).
    public init(network: Network, loss: Loss, options: TrainingOptions) throws(TrainingError) {
        guard options.epochs >= 1 else { throw .invalidOption("epochs must be at least 1; got \(options.epochs)") }
        guard options.batchSize >= 1 else {
            throw .invalidOption("batch size must be at least 1; got \(options.batchSize)")
        }
        guard options.learningRate > 0, options.learningRate.isFinite else {
            throw .invalidOption("learning rate must be a positive number; got \(options.learningRate)")
        }
        guard (1...64).contains(options.gradientParts) else {
            throw .invalidOption("gradient parts must be from 1 to 64; got \(options.gradientParts)")
        }
        if let problem = options.augmentation.problem { throw .invalidOption("augmentation: \(problem)") }
        guard case .dense(let output) = network.layers[network.layers.count - 1] else {
            throw .unsuitableNetwork("the output layer must be dense")
        }
        guard output.activation == loss.outputActivation else {
            throw .unsuitableNetwork(
                "\(loss.rawValue) needs a \(loss.outputActivation.rawValue) output layer; got \(output.activation.rawValue)"
            )
        }
        if loss == .binaryCrossEntropy && output.units != 1 {
            throw .unsuitableNetwork("binary cross-entropy needs a single output unit; got \(output.units)")
        }
        if network.layers.dropLast().contains(where: { $0.activation == .softmax }) {
            throw .unsuitableNetwork("softmax is supported as the output activation only")
        }
        if !options.augmentation.isNone && options.imageShape.rows * options.imageShape.columns != network.inputSize {
            throw .invalidOption("augmentation needs \(options.imageShape.rows)x\(options.imageShape.columns) images")
        }
        self.network = network
        self.loss = loss
        self.options = options
        optimizer = Adam(learningRate: options.learningRate)
        generator = SeededGenerator(seed: options.seed &+ 1)
    }

    /// One pass over `data` in a freshly shuffled order, one Adam step per mini-batch.
    public mutating func trainEpoch(on data: LabelledImages) -> EpochSummary {
        precondition(data.pixelsPerImage == network.inputSize, "images must match the network's input size")
        optimizer.learningRate = options.schedule.rate(options.learningRate, epoch: epochsDone, of: options.epochs)
        var order = Array(0..<data.count)
        generator.shuffle(&order)
        var totalLoss = 0.0
        var correct = 0
        let width = data.pixelsPerImage
        var batchPixels = [Float](repeating: 0, count: options.batchSize * width)
        var batchLabels = [Int](repeating: 0, count: options.batchSize)
        for start in stride(from: 0, to: data.count, by: options.batchSize) {
            let batch = order[start..<min(start + options.batchSize, data.count)]
            for (slot, index) in batch.enumerated() {
                batchLabels[slot] = data.labels[index]
                let source = data.pixels[index * width..<(index + 1) * width]
                if options.augmentation.isNone {
                    batchPixels.replaceSubrange(slot * width..<(slot + 1) * width, with: source)
                } else {
                    let transform = options.augmentation.draw(&generator)
                    source.withUnsafeBufferPointer { source in
                        batchPixels.withUnsafeMutableBufferPointer { pixels in
                            transform.apply(
                                source.baseAddress!, rows: options.imageShape.rows,
                                columns: options.imageShape.columns, into: pixels.baseAddress! + slot * width)
                        }
                    }
                }
            }
            let masks = dropoutMasks(count: batch.count)
            let result = Self.gradients(
                of: network, loss: loss, pixels: batchPixels, labels: Array(batchLabels[0..<batch.count]),
                masks: masks, parts: options.gradientParts)
            totalLoss += result.loss * Double(batch.count)
            correct += result.correct
            optimizer.beginStep()
            for index in network.layers.indices {
                guard var parameters = network.layers[index].parameters else { continue }
                optimizer.update(&parameters.weights, gradient: result.weights[index], slot: 2 * index)
                optimizer.update(&parameters.bias, gradient: result.bias[index], slot: 2 * index + 1)
                network.layers[index].parameters = parameters
            }
        }
        epochsDone += 1
        return EpochSummary(
            epoch: epochsDone, loss: totalLoss / Double(data.count), accuracy: Double(correct) / Double(data.count))
    }

    /// One mask per dropout layer for a batch of `count` samples (nil for other layers), drawn in layer order.
    private mutating func dropoutMasks(count: Int) -> [[Float]?] {
        network.layers.map { layer in
            guard case .dropout(let dropout) = layer else { return nil }
            return dropout.mask(count: count * dropout.count, generator: &generator)
        }
    }

    /// The gradients of the mean loss over a batch with respect to every weight and bias (empty for layers
    /// without parameters), plus the batch's mean loss and correct count, with the batch split into
    /// `parts` parts computed side by side and summed in order.
    ///
    /// `pixels` may be longer than the batch; only the first `labels.count` images are used. `masks` holds
    /// each dropout layer's mask for the whole batch (none: dropout is the identity).
    static func gradients(
        of network: Network, loss: Loss, pixels: [Float], labels: [Int], masks: [[Float]?] = [],
        parts requested: Int = 1
    ) -> (loss: Double, correct: Int, weights: [[Float]], bias: [[Float]]) {
        let count = labels.count
        let parts = max(1, min(requested, count))
        let bounds = (0...parts).map { $0 * count / parts }
        let results = ParallelResults<PartGradients>(count: parts)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let range = bounds[part]..<bounds[part + 1]
            let width = network.inputSize
            let partMasks: [[Float]?] = network.layers.indices.map { index in
                guard index < masks.count, let mask = masks[index], case .dropout(let layer) = network.layers[index]
                else { return nil }
                return Array(mask[range.lowerBound * layer.count..<range.upperBound * layer.count])
            }
            results[part] = partGradients(
                of: network, loss: loss, pixels: Array(pixels[range.lowerBound * width..<range.upperBound * width]),
                labels: Array(labels[range]), masks: partMasks, batchSize: count)
        }
        var total = results[0]
        for part in 1..<parts {
            let next = results[part]
            total.loss += next.loss
            total.correct += next.correct
            for index in total.weights.indices {
                for position in total.weights[index].indices {
                    total.weights[index][position] += next.weights[index][position]
                }
                for position in total.bias[index].indices { total.bias[index][position] += next.bias[index][position] }
            }
        }
        return (total.loss / Double(count), total.correct, total.weights, total.bias)
    }

    /// One part's summed loss, correct count and gradients (of the whole batch's mean loss).
    struct PartGradients: Sendable {
        var loss: Double
        var correct: Int
        var weights: [[Float]]
        var bias: [[Float]]
    }

    /// Backpropagation (Rumelhart, Hinton and Williams, 1986) over the samples of one part: the forward pass
    /// keeps every layer's output, the loss gives dL/dz at the output layer (divided by the whole batch's
    /// size), and each layer turns the gradient at its output into the gradient at its input.
    static func partGradients(
        of network: Network, loss: Loss, pixels: [Float], labels: [Int], masks: [[Float]?], batchSize: Int
    ) -> PartGradients {
        let count = labels.count
        let layers = network.layers
        // activations[0] is the input; activations[l + 1] the output of layer l.
        var activations: [[Float]] = [pixels]
        for (index, layer) in layers.enumerated() {
            var output = [Float](repeating: 0, count: count * layer.outputCount)
            if case .dropout(let dropout) = layer {
                output = dropout.forward(activations[index], mask: masks[index])
            } else {
                activations[index].withUnsafeBufferPointer { input in
                    output.withUnsafeMutableBufferPointer { output in
                        layer.forward(input.baseAddress!, count: count, into: output.baseAddress!)
                    }
                }
            }
            activations.append(output)
        }

        let outputUnits = network.outputSize
        var totalLoss = 0.0
        var correct = 0
        var gradient = [Float](repeating: 0, count: count * outputUnits)
        activations[layers.count].withUnsafeBufferPointer { output in
            gradient.withUnsafeMutableBufferPointer { gradient in
                for sample in 0..<count {
                    let probabilities = output.baseAddress! + sample * outputUnits
                    totalLoss += Double(loss.value(output: probabilities, label: labels[sample]))
                    loss.outputGradient(
                        output: probabilities, label: labels[sample], units: outputUnits,
                        scale: 1 / Float(batchSize), into: gradient.baseAddress! + sample * outputUnits)
                    if Classification.decide(UnsafeBufferPointer(start: probabilities, count: outputUnits)).classIndex
                        == labels[sample]
                    {
                        correct += 1
                    }
                }
            }
        }

        // `gradient` is dL/dz at the output layer, then dL/dy at each earlier layer's output.
        var weightGradients = [[Float]](repeating: [], count: layers.count)
        var biasGradients = [[Float]](repeating: [], count: layers.count)
        for index in layers.indices.reversed() {
            let needsInput = index > 0
            switch layers[index] {
            case .dense(let dense):
                let delta =
                    index == layers.count - 1
                    ? gradient
                    : zip(gradient, activations[index + 1]).map { $0 * dense.activation.derivative(output: $1) }
                let result = dense.backward(
                    inputs: activations[index], delta: delta, count: count, inputGradient: needsInput)
                (gradient, weightGradients[index], biasGradients[index]) = result
            case .convolution(let conv):
                let result = conv.backward(
                    inputs: activations[index], outputs: activations[index + 1], outputGradient: gradient,
                    count: count, inputGradient: needsInput)
                (gradient, weightGradients[index], biasGradients[index]) = result
            case .maxPool(let pool):
                gradient = pool.backward(inputs: activations[index], outputGradient: gradient, count: count)
            case .dropout(let dropout):
                if let mask = masks[index] { gradient = dropout.backward(outputGradient: gradient, mask: mask) }
            }
        }
        return PartGradients(loss: totalLoss, correct: correct, weights: weightGradients, bias: biasGradients)
    }
}

/// Slots that concurrent iterations each write once (slot i by iteration i only) and the caller reads after
/// they have all finished: `concurrentPerform` returns only then, which orders the writes before the reads.
final class ParallelResults<Value: Sendable>: @unchecked Sendable {
    private var values: [Value?]

    init(count: Int) {
        values = [Value?](repeating: nil, count: count)
    }

    subscript(index: Int) -> Value {
        get { values[index]! }
        set { values[index] = newValue }
    }
}
