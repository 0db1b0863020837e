/// The three kernels the dense layers are made of (a dot product, four dot products sharing one input, and
/// a scaled add), over raw pointers so that no bounds or copy-on-write checks sit in the inner loop.
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

    /// Four dot products of `x` with four rows `a`, `a + stride`, `a + 2·stride`, `a + 3·stride`, sharing
    /// each load of `x`. Every product is accumulated exactly as ``dot(_:_:count:)`` accumulates it (same
    /// lanes, same order), so the results are bit for bit the same, only fewer loads are spent on them.
    @inlinable @inline(__always)
    static func dot4(
        rows a: UnsafePointer<Float>, stride: Int, _ x: UnsafePointer<Float>, count: Int
    ) -> (Float, Float, Float, Float) {
        var lanes0 = SIMD8<Float>()
        var lanes1 = SIMD8<Float>()
        var lanes2 = SIMD8<Float>()
        var lanes3 = SIMD8<Float>()
        let rawX = UnsafeRawPointer(x)
        let raw0 = UnsafeRawPointer(a)
        let raw1 = UnsafeRawPointer(a + stride)
        let raw2 = UnsafeRawPointer(a + 2 * stride)
        let raw3 = UnsafeRawPointer(a + 3 * stride)
        var index = 0
        while index + 8 <= count {
            let offset = index * 4
            let xs = rawX.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            lanes0 += raw0.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self) * xs
            lanes1 += raw1.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self) * xs
            lanes2 += raw2.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self) * xs
            lanes3 += raw3.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self) * xs
            index += 8
        }
        var sums = (lanes0.sum(), lanes1.sum(), lanes2.sum(), lanes3.sum())
        while index < count {
            let value = x[index]
            sums.0 += a[index] * value
            sums.1 += a[stride + index] * value
            sums.2 += a[2 * stride + index] * value
            sums.3 += a[3 * stride + index] * value
            index += 1
        }
        return sums
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
