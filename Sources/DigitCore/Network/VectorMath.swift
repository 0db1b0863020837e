/// The two kernels every dense layer is made of, over raw pointers so that no bounds or
/// copy-on-write checks sit in the inner loop.
///
/// Floating-point addition is not associative, so the compiler will not vectorise a plain
/// reduction loop; the dot product accumulates eight lanes explicitly instead. The lane order is
/// fixed, so results are the same on every run, which training's bit-for-bit determinism relies on.
@usableFromInline
enum VectorMath {
    /// Σᵢ a[i]·b[i] over `count` elements.
    @inlinable @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var lanes = SIMD8<Float>()
        var index = 0
        let rawA = UnsafeRawPointer(a)
        let rawB = UnsafeRawPointer(b)
        while index + 8 <= count {
            let x = rawA.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
            let y = rawB.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
            lanes += x * y
            index += 8
        }
        var sum = lanes.sum()
        while index < count {
            sum += a[index] * b[index]
            index += 1
        }
        return sum
    }

    /// y[i] += alpha·x[i] over `count` elements.
    @inlinable @inline(__always)
    static func addScaled(_ x: UnsafePointer<Float>, times alpha: Float, to y: UnsafeMutablePointer<Float>, count: Int)
    {
        var index = 0
        let rawX = UnsafeRawPointer(x)
        let rawY = UnsafeMutableRawPointer(y)
        let scale = SIMD8<Float>(repeating: alpha)
        while index + 8 <= count {
            let xs = rawX.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
            let ys = rawY.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
            rawY.storeBytes(of: ys + xs * scale, toByteOffset: index * 4, as: SIMD8<Float>.self)
            index += 8
        }
        while index < count {
            y[index] += alpha * x[index]
            index += 1
        }
    }
}
