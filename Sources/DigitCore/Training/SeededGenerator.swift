/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny, fast generator whose sequence depends only on its seed.
///
/// Training draws all its randomness (initial weights, shuffling, augmentation) from this one generator
/// through the helpers below, never through the standard library's `random(in:using:)` or `shuffle`,
/// whose algorithms may change between Swift releases: one seed gives the same model bit for bit.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A float uniform in [0, 1) with 24 random bits, the precision of a Float.
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// An integer uniform in `0..<bound`, by Lemire's multiply-shift with rejection (no modulo bias).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0)
        let limit = UInt64(bound)
        while true {
            let product = next().multipliedFullWidth(by: limit)
            if product.low >= (0 &- limit) % limit { return Int(product.high) }
        }
    }

    /// Fisher–Yates shuffle, spelled out so its sequence is ours.
    public mutating func shuffle<T>(_ values: inout [T]) {
        guard values.count > 1 else { return }
        for index in stride(from: values.count - 1, to: 0, by: -1) {
            values.swapAt(index, nextInt(below: index + 1))
        }
    }
}
