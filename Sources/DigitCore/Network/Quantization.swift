/// Post-training int8 quantization of weights, symmetric and per output channel (each dense unit's row,
/// each convolution filter): with s = max |w| / 127 over the row,
///
///     q = round(w / s) clamped to [−127, 127],   w ≈ q · s
///
/// so each weight is off by at most s / 2 (the largest by at most a rounding of the product q · s). Biases and activations
/// stay Float32: the bias is a tiny share of the parameters, and activations quantized would need
/// calibration data for a gain this model's size does not call for. A model file stores q (one byte) and s.
public enum Int8Quantization {
    /// q and s for one row.
    static func quantize(_ row: ArraySlice<Float>) -> (values: [Int8], scale: Float) {
        let largest = row.reduce(0) { max($0, abs($1)) }
        let scale = largest / 127
        // A row of zeros, or of weights so small (below about 1e-36) that s would not be a normal number:
        // zeros, with a scale of 1 that every reader accepts.
        guard scale.isNormal else { return ([Int8](repeating: 0, count: row.count), 1) }
        return (row.map { value($0, scale: scale) }, scale)
    }

    /// q for one weight: round(w / s), clamped to the symmetric range.
    static func value(_ weight: Float, scale: Float) -> Int8 {
        Int8(max(-127, min(127, (weight / scale).rounded())))
    }

    /// The weights q · s of rows of `rowLength` values, one scale per row.
    static func dequantize(_ values: [Int8], scales: [Float], rowLength: Int) -> [Float] {
        values.enumerated().map { Float($1) * scales[$0 / rowLength] }
    }

    /// Quantizes `weights` (rows of `rowLength`) and returns the dequantized weights with their scales.
    static func round(_ weights: [Float], rowLength: Int) -> (weights: [Float], scales: [Float]) {
        var values: [Int8] = []
        var scales: [Float] = []
        for start in stride(from: 0, to: weights.count, by: rowLength) {
            let (rowValues, scale) = quantize(weights[start..<start + rowLength])
            values += rowValues
            scales.append(scale)
        }
        return (dequantize(values, scales: scales, rowLength: rowLength), scales)
    }

    /// The stored q of weights that are q · s (``DenseLayer/weightScales``).
    static func storedValues(_ weights: [Float], scales: [Float]) -> [Int8] {
        let rowLength = weights.count / scales.count
        return weights.enumerated().map { value($1, scale: scales[$0 / rowLength]) }
    }
}

extension Network {
    /// The same network with every dense and convolution layer's weights quantized to int8
    /// (``Int8Quantization``).
    public func quantized() -> Network {
        var copy = self
        copy.layers = layers.map { layer in
            switch layer {
            case .dense(var dense):
                let (weights, scales) = Int8Quantization.round(dense.weights, rowLength: dense.inputSize)
                dense.weights = weights
                dense.weightScales = scales
                return .dense(dense)
            case .convolution(var conv):
                let (weights, scales) = Int8Quantization.round(conv.weights, rowLength: conv.fieldLength)
                conv.weights = weights
                conv.weightScales = scales
                return .convolution(conv)
            case .maxPool, .dropout:
                return layer
            }
        }
        return copy
    }

    /// Whether any layer's weights are int8 times a scale.
    public var isQuantized: Bool {
        layers.contains { $0.weightScales != nil }
    }
}
