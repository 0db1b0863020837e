import JSON

/// The figures of a model on a labelled set: the original Python system's `evaluate_on_test_data`
/// keys, the confusion matrix, and for more than two classes the per-class and macro-averaged figures.
public struct EvaluationReport: Equatable, Sendable {
    /// The class labels, in index order (row and column order of the confusion matrix).
    public let classes: [Int]
    public let confusion: ConfusionMatrix
    /// The accuracy on the same images under fixed changes (``RobustnessCheck``), when it was measured.
    public var robustness: [RobustnessResult]

    public init(classes: [Int], confusion: ConfusionMatrix, robustness: [RobustnessResult] = []) {
        precondition(classes.count == confusion.classCount)
        self.classes = classes
        self.confusion = confusion
        self.robustness = robustness
    }

    /// Whether this is the seed's binary task, whose precision, recall and F1 are those of the positive class.
    public var isBinary: Bool { classes.count == 2 }

    public var accuracy: Double { confusion.accuracy }
    /// Binary: of the positive class (index 1), as the original. More classes: the macro average.
    public var precision: Double { isBinary ? confusion.precision(of: 1) : confusion.macroPrecision }
    public var recall: Double { isBinary ? confusion.recall(of: 1) : confusion.macroRecall }
    public var f1Score: Double { isBinary ? confusion.f1(of: 1) : confusion.macroF1 }
    public var totalSamples: Int { confusion.total }
    public var correctPredictions: Int { confusion.correct }

    /// The report as JSON: the same document `digits evaluate --json` prints and `GET /evaluate` answers.
    public var json: JSONValue {
        var members: [JSONMember] = [
            JSONMember("accuracy", .number(accuracy)),
            JSONMember("precision", .number(precision)),
            JSONMember("recall", .number(recall)),
            JSONMember("f1_score", .number(f1Score)),
            JSONMember("total_samples", .number(Double(totalSamples))),
            JSONMember("correct_predictions", .number(Double(correctPredictions))),
            JSONMember("average", .string(isBinary ? "binary" : "macro")),
            JSONMember("classes", .array(classes.map { .number(Double($0)) })),
            JSONMember("confusion_matrix", .array(confusion.counts.map { .array($0.map { .number(Double($0)) }) })),
        ]
        if !isBinary {
            members.append(
                JSONMember(
                    "per_class",
                    .array(
                        classes.indices.map { index in
                            .object([
                                JSONMember("class", .number(Double(classes[index]))),
                                JSONMember("precision", .number(confusion.precision(of: index))),
                                JSONMember("recall", .number(confusion.recall(of: index))),
                                JSONMember("f1_score", .number(confusion.f1(of: index))),
                                JSONMember("support", .number(Double(confusion.support(of: index)))),
                            ])
                        })))
            members.append(
                JSONMember(
                    "macro_average",
                    .object([
                        JSONMember("precision", .number(confusion.macroPrecision)),
                        JSONMember("recall", .number(confusion.macroRecall)),
                        JSONMember("f1_score", .number(confusion.macroF1)),
                    ])))
        }
        if !robustness.isEmpty {
            members.append(JSONMember("robustness", .array(robustness.map(\.json))))
        }
        return .object(members)
    }

    /// The report as text for a terminal, in the original's order, with the confusion matrix below.
    public var text: String {
        var lines = [
            "Accuracy:            \(decimalText(accuracy))",
            "Precision:           \(decimalText(precision))\(isBinary ? " (class 1)" : " (macro average)")",
            "Recall:              \(decimalText(recall))\(isBinary ? " (class 1)" : " (macro average)")",
            "F1 score:            \(decimalText(f1Score))\(isBinary ? " (class 1)" : " (macro average)")",
            "Total samples:       \(totalSamples)",
            "Correct predictions: \(correctPredictions)",
            "",
            "Confusion matrix (rows: actual, columns: predicted):",
        ]
        let width = max(4, String(confusion.counts.flatMap { $0 }.max() ?? 0).count + 1)
        func pad(_ text: String) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
        lines.append("      " + classes.map { pad(String($0)) }.joined())
        for (index, row) in confusion.counts.enumerated() {
            lines.append(pad(String(classes[index])) + "  " + row.map { pad(String($0)) }.joined())
        }
        if !isBinary {
            lines.append("")
            func column(_ text: String, _ width: Int) -> String {
                String(repeating: " ", count: max(0, width - text.count)) + text
            }
            lines.append(
                column("class", 5) + column("precision", 11) + column("recall", 8) + column("f1-score", 10)
                    + column("support", 9))
            for index in classes.indices {
                lines.append(
                    column(String(classes[index]), 5) + column(decimalText(confusion.precision(of: index)), 11)
                        + column(decimalText(confusion.recall(of: index)), 8)
                        + column(decimalText(confusion.f1(of: index)), 10)
                        + column(String(confusion.support(of: index)), 9))
            }
        }
        if !robustness.isEmpty {
            lines.append("")
            lines.append(
                "Robustness (the same images changed; confident: wrong with probability \(RobustnessResult.confidentProbability) or more):"
            )
            let width = robustness.map(\.check.name.count).max() ?? 0
            for result in robustness {
                let name = result.check.name + String(repeating: " ", count: width - result.check.name.count)
                lines.append(
                    "  \(name)  \(decimalText(result.accuracy))  (\(result.correct)/\(result.total), \(result.confidentMistakes) confident mistakes)"
                )
            }
        }
        return lines.joined(separator: "\n")
    }
}
