/// Measures the two ways of computing a convolution on the bundled CNN's layers: the unrolled input
/// ("im2col") with dot products, which `Conv2DLayer` uses, against the direct loop over the kernel's taps
/// with bounds tests, which it used first. Also the whole CNN's batched forward pass, Float32 weights
/// against int8 ones.
///
///     swift run -c release convolution-benchmark
import DigitCore

#if canImport(Glibc)
import Glibc
#endif

/// The direct kernel, kept here only to be measured against: for every output (k, i, j), the sum over
/// the kernel's taps that lie inside the input.
struct DirectConvolution {
    let layer: Conv2DLayer

    /// Calls `tap(w, x)` with the weight's index and the input's index of every product in output
    /// (k, i, j) of `sample`'s sum, skipping the zero padding.
    @inline(__always)
    func forEachTap(sample: Int, k: Int, i: Int, j: Int, _ tap: (Int, Int) -> Void) {
        let (input, size, pad) = (layer.input, layer.kernelSize, layer.pad)
        for c in 0..<input.channels {
            for u in 0..<size {
                let row = i + u - pad
                guard row >= 0 && row < input.height else { continue }
                let wRow = ((k * input.channels + c) * size + u) * size
                let xRow = sample * input.count + (c * input.height + row) * input.width
                for v in 0..<size {
                    let column = j + v - pad
                    guard column >= 0 && column < input.width else { continue }
                    tap(wRow + v, xRow + column)
                }
            }
        }
    }

    func forward(_ inputs: [Float], count: Int) -> [Float] {
        let output = layer.output
        var outputs = [Float](repeating: 0, count: count * output.count)
        inputs.withUnsafeBufferPointer { x in
            layer.weights.withUnsafeBufferPointer { w in
                outputs.withUnsafeMutableBufferPointer { y in
                    for sample in 0..<count {
                        for k in 0..<output.channels {
                            for i in 0..<output.height {
                                for j in 0..<output.width {
                                    var sum = layer.bias[k]
                                    forEachTap(sample: sample, k: k, i: i, j: j) { sum += w[$0] * x[$1] }
                                    y[sample * output.count + output.index(k, i, j)] = sum
                                }
                            }
                        }
                    }
                    layer.activation.apply(y)
                }
            }
        }
        return outputs
    }

    /// The same walk, scattering each output's δ = dL/dy · f′ to the weights and the inputs.
    func backward(inputs: [Float], outputs: [Float], outputGradient: [Float], count: Int) -> [Float] {
        let output = layer.output
        var inputGradient = [Float](repeating: 0, count: inputs.count)
        var weightGradient = [Float](repeating: 0, count: layer.weights.count)
        for sample in 0..<count {
            for k in 0..<output.channels {
                for i in 0..<output.height {
                    for j in 0..<output.width {
                        let position = sample * output.count + output.index(k, i, j)
                        let delta = outputGradient[position] * layer.activation.derivative(output: outputs[position])
                        guard delta != 0 else { continue }
                        forEachTap(sample: sample, k: k, i: i, j: j) { weight, input in
                            weightGradient[weight] += delta * inputs[input]
                            inputGradient[input] += delta * layer.weights[weight]
                        }
                    }
                }
            }
        }
        return weightGradient
    }
}

func seconds(_ work: () -> Void) -> Double {
    var best = Double.infinity
    for _ in 0..<5 {
        var start = timespec()
        var end = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        work()
        clock_gettime(CLOCK_MONOTONIC, &end)
        best = min(best, Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9)
    }
    return best
}

let path = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "data/models/ten-class/2/model.json"
let (model, _) = try Model.load(contentsOf: path)
let images = 256
var generator = SystemRandomNumberGenerator()
print("best of 5 runs over \(images) images; \(path)")
print("layer                       im2col fwd  direct fwd  ratio   im2col bwd  direct bwd  ratio  (µs per image)")
var maps = (0..<images * model.network.inputSize).map { _ in Float.random(in: 0...1, using: &generator) }
for layer in model.network.layers {
    guard case .convolution(let conv) = layer else {
        if case .maxPool(let pool) = layer { maps = pool.forward(maps, count: images) }
        continue
    }
    let outputs = conv.forward(maps, count: images)
    let direct = DirectConvolution(layer: conv)
    precondition(zip(direct.forward(maps, count: images), outputs).allSatisfy { abs($0 - $1) <= 1e-4 })
    let gradient = outputs.map { $0 * 0.01 }
    let unrolledForward = seconds { _ = conv.forward(maps, count: images) }
    let directForward = seconds { _ = direct.forward(maps, count: images) }
    let unrolledBackward = seconds {
        _ = conv.backward(inputs: maps, outputs: outputs, outputGradient: gradient, count: images)
    }
    let directBackward = seconds {
        _ = direct.backward(inputs: maps, outputs: outputs, outputGradient: gradient, count: images)
    }
    func perImage(_ time: Double) -> String {
        let text = String(Double(Int(time / Double(images) * 1e7)) / 10)
        return String(repeating: " ", count: max(0, 10 - text.count)) + text
    }
    func ratio(_ slow: Double, _ fast: Double) -> String { "  " + String(Double(Int(slow / fast * 10)) / 10) + "x" }
    let name = "\(conv.input) -> \(conv.output)"
    print(
        name + String(repeating: " ", count: max(0, 28 - name.count)) + perImage(unrolledForward) + "  "
            + perImage(directForward) + ratio(directForward, unrolledForward) + "  " + perImage(unrolledBackward)
            + "  " + perImage(directBackward) + ratio(directBackward, unrolledBackward))
    maps = outputs
}
let quantized = model.network.quantized()
let batch = (0..<1000 * model.network.inputSize).map { _ in Float.random(in: 0...1, using: &generator) }
let floatTime = seconds { _ = model.network.predictBatch(batch, count: 1000) }
let int8Time = seconds { _ = quantized.predictBatch(batch, count: 1000) }
print(
    "whole network, 1,000-image batch: Float32 weights \(Int(1000 / floatTime)) images/s, int8 weights \(Int(1000 / int8Time)) images/s"
)
