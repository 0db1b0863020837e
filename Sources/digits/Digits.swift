import ArgumentParser

/// The `digits` command line: train, evaluate and inspect digit models.
@main
struct Digits: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digits",
        abstract: "Handwritten digit recognition: train, evaluate and inspect the models.",
        subcommands: [
            Serve.self, Healthcheck.self, Predict.self, Train.self, Evaluate.self, Info.self, Import.self,
            Quantize.self,
        ]
    )
}
