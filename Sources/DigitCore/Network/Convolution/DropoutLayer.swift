/// Dropout, in training only (Srivastava et al., 2014), "inverted" as Keras applies it: each value is
/// kept with probability 1 − r and scaled by 1 / (1 − r), or set to 0,
///
///     y = x · m,   m_i = 1 / (1 − r) with probability 1 − r, else 0,
///
/// so that the expected output equals the input and inference is the identity (no rescaling there).
/// The gradient goes through the same mask: dL/dx = dL/dy · m.
public struct DropoutLayer: Equatable, Sendable {
    /// r, the share of values dropped: from 0 (none) up to, not including, 1.
    public let rate: Float
    /// Values per sample it applies to.
    public let count: Int
    /// The feature maps those values are, if they are maps (a dropout after a dense layer has none).
    public let maps: FeatureMapShape?

    public init(rate: Float, count: Int, maps: FeatureMapShape? = nil) {
        precondition(rate >= 0 && rate < 1, "a dropout rate is from 0 up to, not including, 1")
        precondition(count > 0 && (maps == nil || maps!.count == count), "a dropout applies to at least one value")
        self.rate = rate
        self.count = count
        self.maps = maps
    }

    /// A dropout over what a layer reads: its maps, or its flat values.
    public init(rate: Float, over input: LayerInput) {
        switch input {
        case .maps(let maps): self.init(rate: rate, count: maps.count, maps: maps)
        case .flat(let count): self.init(rate: rate, count: count)
        }
    }

    /// A mask for `count` values, drawn from `generator` (seeded: training stays reproducible).
    public func mask(count: Int, generator: inout SeededGenerator) -> [Float] {
        let kept = 1 / (1 - rate)
        return (0..<count).map { _ in generator.nextUnitFloat() < rate ? 0 : kept }
    }

    /// y = x · m in training; the identity in inference (`mask` nil).
    public func forward(_ inputs: [Float], mask: [Float]?) -> [Float] {
        guard let mask else { return inputs }
        precondition(mask.count == inputs.count, "one mask value per input")
        return zip(inputs, mask).map { $0 * $1 }
    }

    /// dL/dx = dL/dy · m.
    public func backward(outputGradient: [Float], mask: [Float]) -> [Float] {
        precondition(mask.count == outputGradient.count, "one mask value per gradient")
        return zip(outputGradient, mask).map { $0 * $1 }
    }
}
