/// Counts of (actual class, predicted class) pairs, from which every classification metric follows.
///
/// Rows are actual classes and columns predicted ones, as in scikit-learn's `confusion_matrix`. Classes
/// are indices `0..<classCount`. Where a metric would divide by zero (no predictions of a class, no samples
/// of it), it is defined as 0, scikit-learn's `zero_division=0`.
public struct ConfusionMatrix: Equatable, Sendable {
    public let classCount: Int
    /// `counts[actual][predicted]`.
    public private(set) var counts: [[Int]]

    public init(classCount: Int) {
        precondition(classCount >= 2, "a classifier has at least two classes")
        self.classCount = classCount
        counts = Array(repeating: Array(repeating: 0, count: classCount), count: classCount)
    }

    /// Builds a matrix from given counts (rows actual, columns predicted).
    public init(counts: [[Int]]) {
        self.init(classCount: counts.count)
        precondition(counts.allSatisfy { $0.count == classCount }, "a confusion matrix is square")
        self.counts = counts
    }

    public mutating func record(predicted: Int, actual: Int) {
        counts[actual][predicted] += 1
    }

    public var total: Int { counts.reduce(0) { $0 + $1.reduce(0, +) } }
    public var correct: Int { (0..<classCount).reduce(0) { $0 + counts[$1][$1] } }
    public var accuracy: Double { ratio(correct, total) }

    /// Samples whose actual class is `label`.
    public func support(of label: Int) -> Int { counts[label].reduce(0, +) }

    /// Of the samples predicted as `label`, the fraction that are.
    public func precision(of label: Int) -> Double {
        ratio(counts[label][label], (0..<classCount).reduce(0) { $0 + counts[$1][label] })
    }

    /// Of the samples that are `label`, the fraction predicted as such.
    public func recall(of label: Int) -> Double {
        ratio(counts[label][label], support(of: label))
    }

    /// The harmonic mean of precision and recall.
    public func f1(of label: Int) -> Double {
        let p = precision(of: label)
        let r = recall(of: label)
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }

    /// Unweighted means over classes, scikit-learn's `average='macro'`.
    public var macroPrecision: Double { mean { precision(of: $0) } }
    public var macroRecall: Double { mean { recall(of: $0) } }
    public var macroF1: Double { mean { f1(of: $0) } }

    private func mean(_ metric: (Int) -> Double) -> Double {
        (0..<classCount).reduce(0) { $0 + metric($1) } / Double(classCount)
    }

    private func ratio(_ numerator: Int, _ denominator: Int) -> Double {
        denominator == 0 ? 0 : Double(numerator) / Double(denominator)
    }
}
