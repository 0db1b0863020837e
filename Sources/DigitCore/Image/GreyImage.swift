/// A picture as levels of grey, 0 black to 255 white, row-major: what every format is turned into before
/// the digit is looked for.
public struct GreyImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    /// Settable only inside the module (and by tests), so that it always holds width x height levels.
    public internal(set) var levels: [UInt8]

    public init(width: Int, height: Int, levels: [UInt8]) {
        precondition(width > 0 && height > 0 && levels.count == width * height, "levels must hold width x height")
        self.width = width
        self.height = height
        self.levels = levels
    }

    public subscript(x: Int, y: Int) -> UInt8 { levels[y * width + x] }

    /// The level of an RGB colour: ITU-R 601 luma, computed exactly as Pillow's `convert("L")` does, so that
    /// a colour picture gives the same grey here as in a Python pipeline.
    @inline(__always)
    static func luma(_ red: UInt8, _ green: UInt8, _ blue: UInt8) -> UInt8 {
        let red = UInt32(red) * 19595
        let green = UInt32(green) * 38470
        let blue = UInt32(blue) * 7471
        return UInt8((red + green + blue + 0x8000) >> 16)
    }

    /// Grey levels from 8-bit samples of 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA) channels.
    ///
    /// Transparency is composited onto a background of the opposite shade to the opaque part's: a canvas
    /// export has transparent paper and opaque ink, and its ink may be dark (shown on white) or light (shown
    /// on black). The opaque part is the pixels at least half opaque; their mean level chooses.
    init(width: Int, height: Int, channels: Int, samples: UnsafeBufferPointer<UInt8>) {
        precondition((1...4).contains(channels) && samples.count == width * height * channels)
        let count = width * height
        let colour = channels >= 3
        let alpha = channels == 2 || channels == 4
        var levels: [UInt8]
        if channels == 1 {
            levels = Array(samples)
        } else {
            levels = [UInt8](repeating: 0, count: count)
            levels.withUnsafeMutableBufferPointer { levels in
                for index in 0..<count {
                    let base = index * channels
                    levels[index] =
                        colour ? Self.luma(samples[base], samples[base + 1], samples[base + 2]) : samples[base]
                }
            }
        }
        if alpha {
            var opaqueSum = 0
            var opaqueCount = 0
            var translucent = false
            for index in 0..<count {
                let opacity = samples[index * channels + channels - 1]
                if opacity >= 128 {
                    opaqueSum += Int(levels[index])
                    opaqueCount += 1
                }
                if opacity < 255 { translucent = true }
            }
            if translucent {
                let background = opaqueCount == 0 || opaqueSum / opaqueCount < 128 ? 255 : 0
                for index in 0..<count {
                    let opacity = Int(samples[index * channels + channels - 1])
                    levels[index] = UInt8((Int(levels[index]) * opacity + background * (255 - opacity) + 127) / 255)
                }
            }
        }
        self.init(width: width, height: height, levels: levels)
    }

    /// The picture as it is meant to be seen, from an Exif orientation (1 to 8; others change nothing):
    /// 3 turned half round, 6 a quarter clockwise, 8 a quarter counter-clockwise, 2, 4, 5 and 7 mirrored.
    public func oriented(_ orientation: Int) -> GreyImage {
        guard (2...8).contains(orientation) else { return self }
        let swapsSides = orientation >= 5
        let outWidth = swapsSides ? height : width
        let outHeight = swapsSides ? width : height
        var out = [UInt8](repeating: 0, count: levels.count)
        for y in 0..<outHeight {
            for x in 0..<outWidth {
                // The source pixel shown at (x, y).
                let (sourceX, sourceY) =
                    switch orientation {
                    case 2: (width - 1 - x, y)
                    case 3: (width - 1 - x, height - 1 - y)
                    case 4: (x, height - 1 - y)
                    case 5: (y, x)
                    case 6: (y, height - 1 - x)
                    case 7: (width - 1 - y, height - 1 - x)
                    default: (width - 1 - y, x)
                    }
                out[y * outWidth + x] = levels[sourceY * width + sourceX]
            }
        }
        return GreyImage(width: outWidth, height: outHeight, levels: out)
    }
}
