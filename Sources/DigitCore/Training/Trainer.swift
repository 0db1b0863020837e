/// How to train: the hyperparameters, with Keras's defaults where the original used them.
public struct TrainingOptions: Sendable, Equatable {
    public var epochs: Int
    /// Samples per gradient step (Keras's default, 32).
    public var batchSize: Int = 32
    /// Adam's step size (Keras's default, 0.001).
    public var learningRate: Float = 0.001
    /// Seeds initialisation, shuffling and augmentation: one seed, one model, bit for bit.
    public var seed: UInt64
    /// Each training image is moved by a random whole number of pixels, up to this many in each
    /// direction, every time it is seen (0: never). Moving digits a pixel or two teaches a dense network the
    /// translation tolerance that it does not have by construction.
    public var augmentShift: Int = 0
    /// The images' height and width, needed to shift them.
    public var imageShape: (rows: Int, columns: Int) = (20, 20)

    public init(epochs: Int, seed: UInt64) {
        self.epochs = epochs
        self.seed = seed
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.epochs == rhs.epochs && lhs.batchSize == rhs.batchSize && lhs.learningRate == rhs.learningRate
            && lhs.seed == rhs.seed && lhs.augmentShift == rhs.augmentShift && lhs.imageShape == rhs.imageShape
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
        guard options.augmentShift >= 0 else { throw .invalidOption("augment shift must not be negative") }
        let output = network.layers[network.layers.count - 1]
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
        if options.augmentShift > 0 && options.imageShape.rows * options.imageShape.columns != network.inputSize {
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
                if options.augmentShift > 0 {
                    shiftImage(source, into: &batchPixels, at: slot * width)
                } else {
                    batchPixels.replaceSubrange(slot * width..<(slot + 1) * width, with: source)
                }
            }
            let result = Self.gradients(
                of: network, loss: loss, pixels: batchPixels, labels: Array(batchLabels[0..<batch.count]))
            totalLoss += result.loss * Double(batch.count)
            correct += result.correct
            optimizer.beginStep()
            for index in network.layers.indices {
                optimizer.update(&network.layers[index].weights, gradient: result.weights[index], slot: 2 * index)
                optimizer.update(&network.layers[index].bias, gradient: result.bias[index], slot: 2 * index + 1)
            }
        }
        epochsDone += 1
        return EpochSummary(
            epoch: epochsDone, loss: totalLoss / Double(data.count), accuracy: Double(correct) / Double(data.count))
    }

    /// Copies an image moved by a random (dx, dy), filling what is uncovered with background (0).
    private mutating func shiftImage(_ source: ArraySlice<Float>, into destination: inout [Float], at offset: Int) {
        let (rows, columns) = options.imageShape
        let span = 2 * options.augmentShift + 1
        let dx = generator.nextInt(below: span) - options.augmentShift
        let dy = generator.nextInt(below: span) - options.augmentShift
        let base = source.startIndex
        for row in 0..<rows {
            for column in 0..<columns {
                let sourceRow = row - dy
                let sourceColumn = column - dx
                let inside = (0..<rows).contains(sourceRow) && (0..<columns).contains(sourceColumn)
                destination[offset + row * columns + column] =
                    inside ? source[base + sourceRow * columns + sourceColumn] : 0
            }
        }
    }

    /// The gradients of the mean loss over a batch with respect to every weight and bias, by backpropagation
    /// (Rumelhart, Hinton and Williams, 1986), plus the batch's mean loss and correct count.
    ///
    /// `pixels` may be longer than the batch; only the first `labels.count` images are used.
    static func gradients(
        of network: Network, loss: Loss, pixels: [Float], labels: [Int]
    )
        -> (loss: Double, correct: Int, weights: [[Float]], bias: [[Float]])
    {
        let count = labels.count
        let layers = network.layers
        // activations[0] is the input; activations[l + 1] the output of layer l.
        var activations: [[Float]] = [Array(pixels[0..<count * network.inputSize])]
        for layer in layers {
            var output = [Float](repeating: 0, count: count * layer.units)
            activations[activations.count - 1].withUnsafeBufferPointer { input in
                output.withUnsafeMutableBufferPointer { output in
                    layer.forward(input.baseAddress!, count: count, into: output.baseAddress!)
                }
            }
            activations.append(output)
        }

        let outputUnits = network.outputSize
        var totalLoss = 0.0
        var correct = 0
        var delta = [Float](repeating: 0, count: count * outputUnits)
        activations[layers.count].withUnsafeBufferPointer { output in
            delta.withUnsafeMutableBufferPointer { delta in
                for sample in 0..<count {
                    let probabilities = output.baseAddress! + sample * outputUnits
                    totalLoss += Double(loss.value(output: probabilities, label: labels[sample]))
                    loss.outputGradient(
                        output: probabilities, label: labels[sample], units: outputUnits, scale: 1 / Float(count),
                        into: delta.baseAddress! + sample * outputUnits)
                    if Classification.decide(UnsafeBufferPointer(start: probabilities, count: outputUnits)).classIndex
                        == labels[sample]
                    {
                        correct += 1
                    }
                }
            }
        }

        var weightGradients = [[Float]](repeating: [], count: layers.count)
        var biasGradients = [[Float]](repeating: [], count: layers.count)
        for index in layers.indices.reversed() {
            let layer = layers[index]
            var weightGradient = [Float](repeating: 0, count: layer.weights.count)
            var biasGradient = [Float](repeating: 0, count: layer.units)
            var previousDelta = [Float](repeating: 0, count: index > 0 ? count * layer.inputSize : 0)
            activations[index].withUnsafeBufferPointer { input in
                delta.withUnsafeBufferPointer { delta in
                    layer.weights.withUnsafeBufferPointer { weights in
                        weightGradient.withUnsafeMutableBufferPointer { weightGradient in
                            previousDelta.withUnsafeMutableBufferPointer { previousDelta in
                                for sample in 0..<count {
                                    let x = input.baseAddress! + sample * layer.inputSize
                                    for unit in 0..<layer.units {
                                        let d = delta[sample * layer.units + unit]
                                        biasGradient[unit] += d
                                        VectorMath.addScaled(
                                            x, times: d, to: weightGradient.baseAddress! + unit * layer.inputSize,
                                            count: layer.inputSize)
                                        if index > 0 {
                                            VectorMath.addScaled(
                                                weights.baseAddress! + unit * layer.inputSize, times: d,
                                                to: previousDelta.baseAddress! + sample * layer.inputSize,
                                                count: layer.inputSize)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if index > 0 {
                let activation = layers[index - 1].activation
                for position in previousDelta.indices {
                    previousDelta[position] *= activation.derivative(output: activations[index][position])
                }
            }
            weightGradients[index] = weightGradient
            biasGradients[index] = biasGradient
            delta = previousDelta
        }
        return (totalLoss / Double(count), correct, weightGradients, biasGradients)
    }
}
