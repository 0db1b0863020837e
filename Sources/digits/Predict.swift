import ArgumentParser
import DigitCore
import DigitService
import Glibc
import JSON

/// `digits predict`: the original's `predict` and `predict_batch` as a command, for pictures and files.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict the digit in pictures (PNG, JPEG, binary PGM), .npy arrays or JSON request bodies.",
        discussion: """
            Prints one line per image: the file, the predicted digit and the probability of that digit \
            (--json gives the answers as the API does, where the binary model's probability is P(digit is 1)). A picture is made \
            into the model's 20x20 input as the server does it (the ink found, cropped, scaled and centred). \
            A .npy holds one image (400 values or 20x20) or many (Nx400, Nx20x20), from 0 (paper) to 1 \
            (ink); a JSON file is a POST /predict or /predict/batch body. A file that cannot be read is \
            reported on standard error and the others are still answered; the exit status is then 1.
            """
    )

    @Argument(help: "Pictures (PNG, JPEG, binary PGM), .npy arrays or JSON request bodies.")
    var files: [String]

    @Option(help: "One model file instead of a repository.")
    var model: String?

    @Option(help: "The model repository, as for serve. (default: \(ServiceConfiguration.bundledRepositoryPath))")
    var modelRepository: String?

    @Option(help: "The repository's model to use, at its highest version. (default: binary)")
    var modelName: String?

    @Option(help: "A picture's width and height in pixels at most.")
    var maxImageSide: Int = ImageLimits().maxSide

    @Flag(help: "Print the predictions as JSON, each as POST /predict answers it, with its file.")
    var json = false

    func validate() throws {
        if model != nil && (modelRepository != nil || modelName != nil) {
            throw ValidationError("--model names one file; --model-repository and --model-name choose from a folder")
        }
        guard (1...65535).contains(maxImageSide) else {
            throw ValidationError("--max-image-side must be from 1 to 65535; got \(maxImageSide)")
        }
    }

    func run() throws {
        let path: String
        if let model {
            path = model
        } else {
            let repository = modelRepository ?? ServiceConfiguration.bundledRepositoryPath
            path = try withPathHint(repository, flag: "--model-repository") {
                try ModelSource.highestVersionFile(of: modelName ?? "binary", inRepository: repository).path
            }
        }
        let (model, _) = try withPathHint(path, flag: model == nil ? "--model-repository" : "--model") {
            try Model.load(contentsOf: path)
        }
        let side = DigitImagePreparation.side
        guard model.inputShape == [side, side] else {
            throw CommandFailure(
                "\(path): the model takes \(model.inputShape.map(String.init).joined(separator: "x")) images; digits predict reads \(side)x\(side)"
            )
        }
        let limits = ImageLimits(maxSide: maxImageSide)
        if !json && model.classes.count == 2 {
            // A 7 read by the binary model comes back as 0 or 1: say so once, beside the answers, and name
            // the model that reads every digit where the repository has it.
            let repository = modelRepository ?? ServiceConfiguration.bundledRepositoryPath
            let tenClass =
                self.model == nil && access(repository + "/ten-class", F_OK) == 0
                ? "; --model-name ten-class reads every digit" : ""
            Self.standardError(
                "digits predict: model '\(model.name)' tells only \(model.classes[0]) and \(model.classes[1]) apart\(tenClass)\n"
            )
        }
        var answers: [JSONValue] = []
        var failures = 0
        for file in files {
            do {
                let bytes = try FileIO.read(file)
                for (label, pixels) in try PredictionFile.images(in: bytes, limits: limits, maxImages: 100_000) {
                    let output = model.network.predict(pixels)
                    let name = file + label
                    let answer = output.withUnsafeBufferPointer { DigitService.prediction($0, by: model) }
                    if json, case .object(let members) = answer {
                        answers.append(.object([JSONMember("file", .string(name))] + members))
                    } else {
                        let (index, probability) = output.withUnsafeBufferPointer { Classification.decide($0) }
                        print("\(name): \(model.classes[index]) (probability \(decimalText(Double(probability))))")
                    }
                }
            } catch {
                failures += 1
                // A file error names its path already.
                Self.standardError("digits predict: " + (error is FileError ? "" : "\(file): ") + "\(error)\n")
                if json {
                    answers.append(
                        .object([JSONMember("file", .string(file)), JSONMember("error", .string("\(error)"))]))
                }
            }
        }
        if json { print(JSONWriter.pretty(.object([JSONMember("predictions", .array(answers))]))) }
        if failures > 0 { throw ExitCode(1) }
    }

    /// One message on standard error, where a failure for one file goes while the others are answered.
    private static func standardError(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
