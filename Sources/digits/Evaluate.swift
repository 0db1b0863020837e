import ArgumentParser
import DigitCore
import JSON

/// `digits evaluate`: the original's evaluation report for a model on the test split.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report a model's accuracy, precision, recall and F1 and its confusion matrix.",
        discussion: """
            Evaluates on the test split in data/ unless --images and --labels name another set. Only the \
            images of the model's classes count: the binary model is evaluated on the test zeros and ones. \
            The robustness table gives the accuracy on the same images moved 2 px each way, turned 15 degrees \
            each way, and with strokes a pixel thicker and thinner.
            """
    )

    @Option(help: "The model file.")
    var model: String = DefaultPaths.binaryModel

    @OptionGroup(title: "Test data")
    var testData: TestDataOptions

    @Flag(help: "Print the report as JSON (the document GET /evaluate answers).")
    var json = false

    func run() throws {
        let (model, sha256) = try withPathHint(self.model, flag: "--model") { try Model.load(contentsOf: self.model) }
        let report = model.evaluate(on: try testData.load(for: model), robustness: true)
        if json {
            print(JSONWriter.pretty(report.json))
        } else {
            print(
                "Model: \(model.name) (\(self.model), sha256 \(sha256.prefix(12))), \(model.network.parameterCount) parameters"
            )
            print(report.text)
        }
    }
}
