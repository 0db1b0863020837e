/// The orientation tag (0x0112) of a JPEG's Exif data: how the camera was held, which the pixels do not
/// show. A phone photo of a digit held sideways is stored sideways with orientation 6.
enum ExifOrientation {
    /// The orientation in `tiff` (the Exif segment after `Exif\0\0`): 1 to 8, or 1 when the data holds none
    /// or is damaged (the picture is then read as stored, which is what every viewer does).
    static func read(_ tiff: UnsafeBufferPointer<UInt8>) -> Int {
        guard tiff.count >= 8 else { return 1 }
        let littleEndian: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): littleEndian = true
        case (0x4D, 0x4D): littleEndian = false
        default: return 1
        }
        func uint16(_ offset: Int) -> Int? {
            guard offset >= 0, offset + 2 <= tiff.count else { return nil }
            let (a, b) = (Int(tiff[offset]), Int(tiff[offset + 1]))
            return littleEndian ? a | b << 8 : a << 8 | b
        }
        func uint32(_ offset: Int) -> Int? {
            guard let low = uint16(littleEndian ? offset : offset + 2),
                let high = uint16(littleEndian ? offset + 2 : offset)
            else { return nil }
            return low | high << 16
        }
        guard uint16(2) == 42, let directory = uint32(4), let entries = uint16(directory) else { return 1 }
        for entry in 0..<entries {
            let offset = directory + 2 + entry * 12
            guard let tag = uint16(offset) else { return 1 }
            // A SHORT (type 3) of count 1, held in the entry itself.
            guard tag == 0x0112 else { continue }
            guard uint16(offset + 2) == 3, uint32(offset + 4) == 1, let value = uint16(offset + 8) else { return 1 }
            return (1...8).contains(value) ? value : 1
        }
        return 1
    }
}
