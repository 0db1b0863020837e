import Testing

@testable import DigitCore

@Suite("Metrics")
struct MetricsTests {
    @Test("binary figures from a hand-made matrix")
    func binary() {
        // actual 0: 50 right, 10 predicted 1; actual 1: 5 predicted 0, 35 right.
        let report = EvaluationReport(classes: [0, 1], confusion: ConfusionMatrix(counts: [[50, 10], [5, 35]]))
        #expect(report.totalSamples == 100 && report.correctPredictions == 85)
        #expect(report.accuracy == 0.85)
        #expect(isClose(report.precision, 35.0 / 45.0))
        #expect(isClose(report.recall, 35.0 / 40.0))
        #expect(isClose(report.f1Score, 2 * (35.0 / 45) * (35.0 / 40) / (35.0 / 45 + 35.0 / 40)))
    }

    @Test("three classes: per-class and macro figures")
    func multiclass() {
        let matrix = ConfusionMatrix(counts: [[5, 1, 0], [2, 3, 1], [0, 0, 4]])
        #expect(isClose(matrix.precision(of: 0), 5.0 / 7))
        #expect(isClose(matrix.recall(of: 1), 3.0 / 6))
        #expect(isClose(matrix.precision(of: 2), 4.0 / 5))
        #expect(isClose(matrix.macroPrecision, (5.0 / 7 + 3.0 / 4 + 4.0 / 5) / 3))
        #expect(isClose(matrix.macroRecall, (5.0 / 6 + 3.0 / 6 + 4.0 / 4) / 3))
        let report = EvaluationReport(classes: [0, 1, 2], confusion: matrix)
        #expect(report.precision == matrix.macroPrecision)
        guard case .array(let perClass)? = report.json["per_class"] else {
            Issue.record("per_class missing")
            return
        }
        #expect(perClass.count == 3)
        #expect(perClass[1]["support"] == .number(6))
    }

    @Test("0/0 is defined as 0: no predictions of a class, no samples of it, no samples at all")
    func zeroDivision() {
        let neverPredictsOne = ConfusionMatrix(counts: [[10, 0], [5, 0]])
        #expect(neverPredictsOne.precision(of: 1) == 0)
        #expect(neverPredictsOne.recall(of: 1) == 0)
        #expect(neverPredictsOne.f1(of: 1) == 0)
        let noPositives = ConfusionMatrix(counts: [[10, 0], [0, 0]])
        #expect(noPositives.recall(of: 1) == 0 && noPositives.accuracy == 1)
        let empty = ConfusionMatrix(classCount: 2)
        #expect(empty.accuracy == 0 && empty.precision(of: 0) == 0 && empty.macroF1 == 0)
    }

    @Test("record counts rows as actual, columns as predicted")
    func record() {
        var matrix = ConfusionMatrix(classCount: 2)
        matrix.record(predicted: 1, actual: 0)
        matrix.record(predicted: 1, actual: 1)
        matrix.record(predicted: 1, actual: 1)
        #expect(matrix.counts == [[0, 1], [0, 2]])
    }

    @Test("the JSON report carries the original's keys")
    func jsonKeys() {
        let report = EvaluationReport(classes: [0, 1], confusion: ConfusionMatrix(counts: [[3, 1], [0, 4]]))
        for key in [
            "accuracy", "precision", "recall", "f1_score", "total_samples", "correct_predictions", "confusion_matrix",
        ] {
            #expect(report.json[key] != nil, "\(key)")
        }
        #expect(report.json["total_samples"] == .number(8))
        #expect(report.json["per_class"] == nil)
    }
}
