/// How a classifier's output vector becomes a decision, in one place for training, evaluation and serving.
public enum Classification {
    /// The predicted class index and its probability.
    ///
    /// One sigmoid output is P(class 1): class 1 when it is at least 0.5, exactly as the original, with
    /// probability P(1) or 1 − P(1). Several outputs: the largest (the first on a tie).
    public static func decide(_ output: UnsafeBufferPointer<Float>) -> (classIndex: Int, probability: Float) {
        if output.count == 1 {
            return output[0] >= 0.5 ? (1, output[0]) : (0, 1 - output[0])
        }
        var best = 0
        for index in 1..<output.count where output[index] > output[best] { best = index }
        return (best, output[best])
    }
}
