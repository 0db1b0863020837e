/// The shape of one sample's feature maps: `channels` maps of `height` x `width`, stored channel after
/// channel, each row-major: value (c, i, j) at index `(c * height + i) * width + j` ("CHW"). A 20x20 digit
/// is 1 x 20 x 20. (Keras stores "HWC", channels last; an import reorders.)
public struct FeatureMapShape: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let channels: Int
    public let height: Int
    public let width: Int

    public init(channels: Int, height: Int, width: Int) {
        precondition(channels > 0 && height > 0 && width > 0, "a feature map has at least one value")
        self.channels = channels
        self.height = height
        self.width = width
    }

    /// Values per sample.
    public var count: Int { channels * height * width }

    /// The index of value (c, i, j).
    @inlinable
    public func index(_ channel: Int, _ row: Int, _ column: Int) -> Int {
        (channel * height + row) * width + column
    }

    public var description: String { "\(channels)x\(height)x\(width)" }
}

/// How a convolution treats the border, in Keras's words.
public enum Padding: String, Sendable, CaseIterable {
    /// Only positions where the whole kernel lies inside the input: the output is smaller by kernel − 1.
    case valid
    /// Zeros around the input, (kernel − 1) / 2 on each side: the output is as large as the input.
    case same
}

/// A layer from feature maps to feature maps (convolution, pooling), whose forward pass works on raw
/// buffers; the form over arrays is written once, here.
public protocol FeatureMapLayer {
    var input: FeatureMapShape { get }
    var output: FeatureMapShape { get }
    /// The outputs of `count` samples stored one after another in `x`, written into `y`.
    func forward(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>)
}

extension FeatureMapLayer {
    /// The outputs for `count` samples stored one after another (`count × input.count` values).
    public func forward(_ inputs: [Float], count: Int) -> [Float] {
        precondition(inputs.count == count * input.count, "inputs must hold count × input.count values")
        var outputs = [Float](repeating: 0, count: count * output.count)
        inputs.withUnsafeBufferPointer { x in
            outputs.withUnsafeMutableBufferPointer { y in forward(x.baseAddress!, count: count, into: y.baseAddress!) }
        }
        return outputs
    }
}
