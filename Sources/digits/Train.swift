import ArgumentParser
import DigitCore
import Glibc
import JSON

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `digits train`: trains a model on the training split and writes a model file.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model and write it as a model file.",
        discussion: """
            The binary task is the original's: digit 0 versus digit 1, a 400-25-15-1 sigmoid network. The \
            ten-class task recognises 0-9 with a small convolutional network (ReLU, a softmax output). Each \
            training image is moved, turned, scaled and its strokes thickened or thinned at random every time \
            it is seen. Training is seeded: the same options give a byte-identical file. Set \
            SOURCE_DATE_EPOCH to record a creation time.
            """
    )

    enum Task: String, ExpressibleByArgument, CaseIterable {
        case binary
        case tenClass = "ten-class"

        var classes: [Int] { self == .binary ? [0, 1] : Array(0..<10) }
        var defaultLayers: String { self == .binary ? "dense25,dense15" : "conv32,pool,conv64,pool,dense48,dropout0.3" }
        var defaultActivation: Activation { self == .binary ? .sigmoid : .relu }
        var defaultEpochs: Int { self == .binary ? 150 : 80 }
        /// Measured on the test split's robustness table (see docs/models.md): the small binary network needs
        /// larger moves to learn that a 1 two pixels off-centre is still a 1.
        var defaultAugmentation: Augmentation {
            Augmentation(shift: self == .binary ? 3 : 2, rotationDegrees: 15, scale: 0.1, thickness: 0.5)
        }
        var loss: Loss { self == .binary ? .binaryCrossEntropy : .categoricalCrossEntropy }
    }

    @Option(help: "binary (digit 0 versus 1) or ten-class (0-9).")
    var task: Task = .binary

    @Option(help: "Passes over the training data. (default: 150 binary, 80 ten-class)")
    var epochs: Int?

    @Option(help: "Images per gradient step.")
    var batchSize: Int = 32

    @Option(help: "Adam's learning rate.")
    var learningRate: Float = 0.001

    @Option(help: "constant, or cosine: the learning rate decays to 0 over the epochs. (default: cosine)")
    var schedule: LearningRateSchedule = .cosine

    @Option(
        help: ArgumentHelp(
            "Hidden layers, comma-separated: \(LayerItem.syntax). The output layer is added for the task.",
            discussion: "(default: dense25,dense15 binary; conv32,pool,conv64,pool,dense48,dropout0.3 ten-class)"))
    var layers: CommaSeparated<LayerItem>?

    @Option(help: "Dense hidden layer sizes, comma-separated: the same as --layers dense<size>,... .")
    var hidden: CommaSeparated<Int>?

    @Option(
        name: .customLong("activation"), help: "Hidden layers' activation. (default: sigmoid binary, relu ten-class)")
    var hiddenActivationOption: HiddenActivation?

    /// `--activation`, as the network takes it.
    var activation: Activation? { hiddenActivationOption?.activation }

    @Option(
        help:
            "Move each training image by up to this many pixels in each direction at random. (default: 3 binary, 2 ten-class)"
    )
    var augmentShift: Float?

    @Option(help: "Turn each training image by up to this many degrees either way at random. (default: 15)")
    var augmentRotation: Float?

    @Option(help: "Scale each training image by up to this fraction larger or smaller at random. (default: 0.1)")
    var augmentScale: Float?

    @Option(help: "Thicken or thin each training image's strokes by up to this much (0 to 1) at random. (default: 0.5)")
    var augmentThickness: Float?

    @Option(
        help: "Parts each mini-batch is split into, computed side by side (another count changes the result's bits).")
    var gradientParts: Int = 2

    @Option(help: "Seed for initial weights, shuffling and augmentation.")
    var seed: UInt64 = 42

    @Option(help: "Training images (.npy).")
    var trainImages: String = DefaultPaths.trainImages

    @Option(help: "Training labels (.npy).")
    var trainLabels: String = DefaultPaths.trainLabels

    @OptionGroup(title: "Test data (for the metrics recorded in the model file)")
    var testData: TestDataOptions

    @Option(help: "The model's name. (default: the task's name)")
    var name: String?

    @Option(help: "Where to write the model file.")
    var output: String

    func validate() throws {
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1; got \(epochs)") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1; got \(batchSize)") }
        if !(learningRate > 0 && learningRate.isFinite) {
            throw ValidationError("--learning-rate must be a positive number; got \(learningRate)")
        }
        if let hidden, hidden.values.contains(where: { $0 < 1 }) {
            throw ValidationError("--hidden sizes must be positive whole numbers; got \(hidden.values)")
        }
        if hidden != nil && layers != nil {
            throw ValidationError(
                "give --layers or --hidden, not both (--hidden 256,128 is --layers dense256,dense128)")
        }
        if let problem = augmentation.problem { throw ValidationError("--augment-*: \(problem)") }
        if !(1...64).contains(gradientParts) {
            throw ValidationError("--gradient-parts must be from 1 to 64; got \(gradientParts)")
        }
        if let problem = Network.checkedPlan(plan, input: Self.input) { throw ValidationError("--layers: \(problem)") }
        try checkModelName(name)
    }

    /// The images as the first layer sees them: one channel of 20x20.
    static let input = LayerInput.maps(FeatureMapShape(channels: 1, height: 20, width: 20))

    var augmentation: Augmentation {
        let defaults = task.defaultAugmentation
        return Augmentation(
            shift: augmentShift ?? defaults.shift, rotationDegrees: augmentRotation ?? defaults.rotationDegrees,
            scale: augmentScale ?? defaults.scale, thickness: augmentThickness ?? defaults.thickness)
    }

    /// The hidden layers from `--layers` or `--hidden` (or the task's), then the task's output layer.
    var plan: [LayerPlan] {
        let hiddenActivation = activation ?? task.defaultActivation
        let items =
            hidden.map { $0.values.map { LayerPlan.dense(units: $0, activation: hiddenActivation) } }
            ?? (layers ?? CommaSeparated(argument: task.defaultLayers)!).values.map {
                $0.plan(activation: hiddenActivation)
            }
        return items + [.dense(units: task == .binary ? 1 : task.classes.count, activation: task.loss.outputActivation)]
    }

    func run() throws {
        try Self.checkWritable(output)
        let imagesBytes = try withPathHint(trainImages, flag: "--train-images") { try FileIO.read(trainImages) }
        let labelsBytes = try withPathHint(trainLabels, flag: "--train-labels") { try FileIO.read(trainLabels) }
        // Read before training, so a missing or wrong test split fails now, not after minutes of it.
        let testSet = try testData.load(classes: task.classes, pixelsPerImage: Self.input.count)
        let training = try decodeTrainingSet(imagesBytes, labelsBytes).keeping(classes: task.classes)
        guard training.count > 0 else { throw CommandFailure("\(trainLabels): no images of classes \(task.classes)") }
        guard training.pixelsPerImage == Self.input.count else {
            throw CommandFailure(
                "\(trainImages): the images have \(training.pixelsPerImage) pixels each; training takes 20x20 images (400 pixels, row-major)"
            )
        }

        var options = TrainingOptions(epochs: epochs ?? task.defaultEpochs, seed: seed)
        options.batchSize = batchSize
        options.learningRate = learningRate
        options.augmentation = augmentation
        options.gradientParts = gradientParts
        options.schedule = schedule

        let network = Network(input: Self.input, architecture: plan, seed: seed)
        var trainer = try Trainer(network: network, loss: task.loss, options: options)
        let progress = ProgressLine()
        for _ in 0..<options.epochs {
            let summary = trainer.trainEpoch(on: training)
            progress.show(
                "epoch \(summary.epoch)/\(options.epochs)  loss \(decimalText(summary.loss))  accuracy \(decimalText(summary.accuracy))"
            )
        }
        progress.finish()

        var model = Model(
            name: name ?? task.rawValue, classes: task.classes, inputShape: [20, 20], network: trainer.network)
        let report = model.evaluate(on: testSet)
        model.provenance = provenance(
            options: options, imagesBytes: imagesBytes, labelsBytes: labelsBytes, samples: training.count,
            report: report)
        try model.save(to: output)
        let (_, sha256) = try Model.load(contentsOf: output)
        print(
            "wrote \(output) (sha256 \(sha256)): \(model.network.parameterCount) parameters, test accuracy \(decimalText(report.accuracy)) on \(report.totalSamples) images"
        )
    }

    private func decodeTrainingSet(_ imagesBytes: [UInt8], _ labelsBytes: [UInt8]) throws -> LabelledImages {
        let images: NumPyArray
        let labels: NumPyArray
        do { images = try NumPyArray(npyBytes: imagesBytes) } catch {
            throw FileError(path: trainImages, reason: error)
        }
        do { labels = try NumPyArray(npyBytes: labelsBytes) } catch {
            throw FileError(path: trainLabels, reason: error)
        }
        do {
            return try LabelledImages(images: images, labels: labels, classCount: digitClassCount)
        } catch {
            throw FileError(path: "\(trainImages) with \(trainLabels)", reason: error)
        }
    }

    private func provenance(
        options: TrainingOptions, imagesBytes: [UInt8], labelsBytes: [UInt8], samples: Int, report: EvaluationReport
    ) -> [JSONMember] {
        var members: [JSONMember] = [
            JSONMember("trained_by", .string("digits train")),
            JSONMember("task", .string(task.rawValue)),
            JSONMember(
                "training_data",
                .object([
                    JSONMember("images", .string(lastPathComponent(trainImages))),
                    JSONMember("images_sha256", .string(SHA256.hexDigest(imagesBytes))),
                    JSONMember("labels", .string(lastPathComponent(trainLabels))),
                    JSONMember("labels_sha256", .string(SHA256.hexDigest(labelsBytes))),
                    JSONMember("samples", .number(Double(samples))),
                ])),
            JSONMember("seed", .number(Double(options.seed))),
            JSONMember("epochs", .number(Double(options.epochs))),
            JSONMember("batch_size", .number(Double(options.batchSize))),
            JSONMember("optimizer", .string("adam")),
            // The Float's shortest decimal ("0.001"), not its binary value widened (0.0010000000474974513).
            JSONMember("learning_rate", .number(Double(options.learningRate.description) ?? 0)),
            JSONMember("learning_rate_schedule", .string(options.schedule.rawValue)),
            JSONMember("loss", .string(task.loss.rawValue)),
            JSONMember(
                "augmentation",
                .object([
                    JSONMember("shift_pixels", .float(options.augmentation.shift)),
                    JSONMember("rotation_degrees", .float(options.augmentation.rotationDegrees)),
                    JSONMember("scale", .float(options.augmentation.scale)),
                    JSONMember("thickness", .float(options.augmentation.thickness)),
                ])),
            JSONMember("gradient_parts", .number(Double(options.gradientParts))),
            JSONMember("test_metrics", report.json),
        ]
        if let created = creationTime() { members.append(JSONMember("created", .string(created))) }
        return members
    }

    /// The creation time from `SOURCE_DATE_EPOCH` (the reproducible-builds convention), or none: a clock
    /// reading would make two trainings with one seed differ, and byte-identical output is the promise.
    private func creationTime() -> String? {
        guard let text = getenv("SOURCE_DATE_EPOCH").map({ String(cString: $0) }), let seconds = Int(text) else {
            return nil
        }
        return Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(.iso8601)
    }
}

/// One progress line per epoch: redrawn in place on a terminal, plain lines when piped to a file or CI log.
struct ProgressLine {
    let isTerminal = isatty(STDOUT_FILENO) == 1

    func show(_ line: String) {
        if isTerminal {
            print("\r\u{1B}[2K" + line, terminator: "")
        } else {
            print(line)
        }
        fflush(nil)
    }

    func finish() {
        if isTerminal { print("") }
    }
}

func lastPathComponent(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
}

extension Train {
    /// Fails at once when the model file could not be written, rather than after minutes of training: its
    /// folder must exist and take new files, and the path must not name a folder.
    static func checkWritable(_ output: String) throws {
        var info = stat()
        if output.hasSuffix("/") || (stat(output, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR) {
            throw CommandFailure(
                "cannot write the model file \(output): it is a folder; give --output a file name such as \(output.hasSuffix("/") ? output : output + "/")model.json (nothing was trained)"
            )
        }
        let folder = output.contains("/") ? String(output[..<output.lastIndex(of: "/")!]) : "."
        let checked = folder.isEmpty ? "/" : folder
        guard access(checked, W_OK) == 0 else {
            let reason = String(cString: strerror(errno))
            throw CommandFailure(
                "cannot write the model file \(output): its folder \(checked): \(reason); choose another --output (nothing was trained)"
            )
        }
    }
}

/// A hidden layer's activation: every ``Activation`` but softmax, which is for output layers only, so
/// that `--activation`'s list of values offers only those it takes.
struct HiddenActivation: ExpressibleByArgument {
    let activation: Activation

    init?(argument: String) {
        guard let activation = Activation(rawValue: argument), activation != .softmax else { return nil }
        self.activation = activation
    }

    static var allValueStrings: [String] { Activation.allCases.filter { $0 != .softmax }.map(\.rawValue) }
}
