import Glibc

/// A change to one digit image: moved, turned and scaled about its centre, then its strokes made thicker or
/// thinner. Training draws random ones (``Augmentation``); the robustness table of an evaluation applies
/// fixed ones (``RobustnessCheck``).
///
/// The geometry maps each output pixel back into the source (inverse mapping, so every output pixel gets
/// exactly one value) and reads it by bilinear interpolation, paper (0) outside the image: with whole-pixel
/// shifts and no turn or scale that is an exact copy. With centre (cy, cx) and the output pixel (r, c):
///
///     (x, y) = (c − cx − dx, r − cy − dy) / s
///     source = (cx + x·cos θ + y·sin θ, cy − x·sin θ + y·cos θ)
///
/// so a positive θ turns the digit clockwise as it is seen (rows grow downwards). Strokes then change with
/// t in [−1, 1], where N(v) is the maximum (t > 0) or minimum (t < 0) of a pixel and its four neighbours:
///
///     v′ = v + |t| · (N(v) − v)
///
/// t = 1 is a full one-pixel dilation, t = −1 a full erosion, values between are blends.
public struct ImageTransform: Equatable, Sendable {
    /// dx, dy: pixels to the right and down.
    public var shiftColumns: Float = 0
    public var shiftRows: Float = 0
    /// θ in degrees, clockwise as seen.
    public var rotationDegrees: Float = 0
    /// s: 1 keeps the size.
    public var scale: Float = 1
    /// t: positive thickens, negative thins.
    public var thickness: Float = 0

    public init(
        shiftColumns: Float = 0, shiftRows: Float = 0, rotationDegrees: Float = 0, scale: Float = 1,
        thickness: Float = 0
    ) {
        self.shiftColumns = shiftColumns
        self.shiftRows = shiftRows
        self.rotationDegrees = rotationDegrees
        self.scale = scale
        self.thickness = thickness
    }

    var isGeometric: Bool { shiftColumns != 0 || shiftRows != 0 || rotationDegrees != 0 || scale != 1 }

    /// Writes the transformed `rows` x `columns` image into `output` (which must not overlap `source`).
    public func apply(
        _ source: UnsafePointer<Float>, rows: Int, columns: Int, into output: UnsafeMutablePointer<Float>
    ) {
        let count = rows * columns
        if isGeometric {
            warp(source, rows: rows, columns: columns, into: output)
        } else {
            output.update(from: source, count: count)
        }
        guard thickness != 0 else { return }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { copy in
            let before = copy.baseAddress!
            before.update(from: output, count: count)
            let amount = Swift.min(abs(thickness), 1)
            for r in 0..<rows {
                for c in 0..<columns {
                    let value = before[r * columns + c]
                    var extreme = value
                    for (dr, dc) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
                        let (nr, nc) = (r + dr, c + dc)
                        let neighbour = nr >= 0 && nr < rows && nc >= 0 && nc < columns ? before[nr * columns + nc] : 0
                        extreme = thickness > 0 ? Swift.max(extreme, neighbour) : Swift.min(extreme, neighbour)
                    }
                    output[r * columns + c] = value + amount * (extreme - value)
                }
            }
        }
    }

    /// The same on an array holding one image.
    public func applied(to image: [Float], rows: Int, columns: Int) -> [Float] {
        precondition(image.count == rows * columns, "the image must hold rows × columns values")
        var output = [Float](repeating: 0, count: image.count)
        image.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer {
                apply(source.baseAddress!, rows: rows, columns: columns, into: $0.baseAddress!)
            }
        }
        return output
    }

    private func warp(_ source: UnsafePointer<Float>, rows: Int, columns: Int, into output: UnsafeMutablePointer<Float>)
    {
        let angle = rotationDegrees * .pi / 180
        let (cosine, sine) = (cosf(angle), sinf(angle))
        let (cy, cx) = (Float(rows - 1) / 2, Float(columns - 1) / 2)
        func pixel(_ r: Int, _ c: Int) -> Float {
            r >= 0 && r < rows && c >= 0 && c < columns ? source[r * columns + c] : 0
        }
        for r in 0..<rows {
            for c in 0..<columns {
                let x = (Float(c) - cx - shiftColumns) / scale
                let y = (Float(r) - cy - shiftRows) / scale
                let sourceX = cx + x * cosine + y * sine
                let sourceY = cy - x * sine + y * cosine
                let (left, top) = (floorf(sourceX), floorf(sourceY))
                let (fx, fy) = (sourceX - left, sourceY - top)
                let (c0, r0) = (Int(left), Int(top))
                let upper = pixel(r0, c0) * (1 - fx) + pixel(r0, c0 + 1) * fx
                let lower = pixel(r0 + 1, c0) * (1 - fx) + pixel(r0 + 1, c0 + 1) * fx
                output[r * columns + c] = upper * (1 - fy) + lower * fy
            }
        }
    }
}

/// Random changes for training, each drawn uniformly from its range every time an image is seen.
public struct Augmentation: Equatable, Sendable {
    /// Up to this many pixels in each direction (fractions interpolate).
    public var shift: Float = 0
    /// Up to this many degrees either way.
    public var rotationDegrees: Float = 0
    /// Up to this fraction larger or smaller (0.1: from 0.9 to 1.1 times).
    public var scale: Float = 0
    /// Strokes up to this much thicker or thinner (``ImageTransform/thickness``), from 0 to 1.
    public var thickness: Float = 0

    public init(shift: Float = 0, rotationDegrees: Float = 0, scale: Float = 0, thickness: Float = 0) {
        self.shift = shift
        self.rotationDegrees = rotationDegrees
        self.scale = scale
        self.thickness = thickness
    }

    public var isNone: Bool { shift == 0 && rotationDegrees == 0 && scale == 0 && thickness == 0 }

    /// Why these ranges cannot be used, or nil.
    public var problem: String? {
        if !(0...10).contains(shift) { return "the shift must be from 0 to 10 pixels; got \(shift)" }
        if !(0...45).contains(rotationDegrees) {
            return "the rotation must be from 0 to 45 degrees; got \(rotationDegrees)"
        }
        if !(0...0.5).contains(scale) { return "the scale change must be from 0 to 0.5; got \(scale)" }
        if !(0...1).contains(thickness) { return "the thickness change must be from 0 to 1; got \(thickness)" }
        return nil
    }

    /// One draw. Every range takes a draw even when it is 0, so a seed's sequence does not depend on which
    /// ranges are in use.
    public func draw(_ generator: inout SeededGenerator) -> ImageTransform {
        func symmetric(_ limit: Float) -> Float { (generator.nextUnitFloat() * 2 - 1) * limit }
        return ImageTransform(
            shiftColumns: symmetric(shift), shiftRows: symmetric(shift), rotationDegrees: symmetric(rotationDegrees),
            scale: 1 + symmetric(scale), thickness: symmetric(thickness))
    }
}
