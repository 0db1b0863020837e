import Foundation
import Testing

@testable import DigitCore

/// The fixtures of `.ci/pictures.py write Tests/Fixtures/pictures`: one test digit in every form, each
/// with the reference 20x20 made by Pillow and SciPy, and the hostile files.
enum PictureFixtures {
    static func path(_ name: String) -> String { projectPath("Tests/Fixtures/pictures/\(name)") }
    static func bytes(_ name: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path(name))!) }
    static func json(_ name: String) -> [String: Any] {
        try! JSONSerialization.jsonObject(with: Data(bytes(name))) as! [String: Any]
    }
    static let references = json("references.json") as! [String: [Double]]
    struct Refusal: Sendable {
        let mediaType: String
        let status: Int
        let words: String
    }
    static let hostile: [String: Refusal] = (json("hostile.json") as! [String: [String: Any]]).mapValues {
        Refusal(mediaType: $0["media_type"] as! String, status: $0["status"] as! Int, words: $0["words"] as! String)
    }

    /// A grey image from rows of levels.
    static func grey(_ rows: [[UInt8]]) -> GreyImage {
        GreyImage(width: rows[0].count, height: rows.count, levels: rows.flatMap { $0 })
    }
}

@Suite("Pictures: decoding and the one preparation pipeline")
struct PictureTests {
    @Test(
        "every form of a test digit gives the 20x20 that Pillow and SciPy give by data/README.md's method",
        arguments: PictureFixtures.references.keys.sorted())
    func matchesReference(name: String) throws {
        let image = try ImageDecoder.decode(PictureFixtures.bytes(name))
        let input = try DigitImagePreparation.modelInput(from: image)
        let reference = PictureFixtures.references[name]!
        #expect(input.count == 400)
        let largest = zip(input, reference).map { abs(Double($0) - $1) }.max()!
        #expect(largest <= 1e-4, "\(name): differs from the reference by up to \(largest)")
    }

    @Test(
        "the hostile files are refused with the right kind and words", arguments: PictureFixtures.hostile.keys.sorted())
    func hostile(name: String) {
        let expectation = PictureFixtures.hostile[name]!
        let format = ImageFormat(mediaType: expectation.mediaType)
        let words = expectation.words
        // Bytes of another format than declared, or a type that is no picture, are the service's refusal
        // (PictureInput), before any decoder: 422 for a mismatch, 415 for a type not taken.
        guard let format, ImageFormat(sniffing: PictureFixtures.bytes(name)) == format else {
            #expect(expectation.status == (format == nil ? 415 : 422), "\(name)")
            return
        }
        do {
            let image = try ImageDecoder.decode(PictureFixtures.bytes(name), as: format)
            _ = try DigitImagePreparation.modelInput(from: image)
            Issue.record("\(name) was accepted")
        } catch {
            let status = expectation.status
            #expect(status == (error.kind == .tooLarge ? 413 : error.kind == .unsupported ? 415 : 422), "\(error)")
            #expect("\(error)".contains(words), "\(error)")
        }
    }

    @Test("a bomb is refused from its header: decoded bytes over the limit, and too many progressive scans")
    func limits() throws {
        let picture = PictureFixtures.bytes("digit35-black-on-white280.png")
        #expect(throws: ImageError.decodedTooLarge(format: .png, width: 280, height: 280, bytes: 78_400, limit: 78_399))
        {
            try ImageDecoder.decode(picture, limits: ImageLimits(maxDecodedBytes: 78_399))
        }
        #expect(throws: ImageError.tooLarge(format: .png, width: 280, height: 280, maxSide: 279)) {
            try ImageDecoder.decode(picture, limits: ImageLimits(maxSide: 279))
        }
        #expect(throws: ImageError.tooComplex(format: .jpeg, reason: "more than 2 progressive scans")) {
            try ImageDecoder.decode(
                PictureFixtures.bytes("digit35-progressive.jpg"), limits: ImageLimits(maxJPEGScans: 2))
        }
        _ = try ImageDecoder.decode(picture, limits: ImageLimits(maxSide: 280, maxDecodedBytes: 78_400))
    }

    @Test("empty and unknown bytes say what they are")
    func unknown() {
        #expect(throws: ImageError.unknownFormat(firstBytes: [])) { try ImageDecoder.decode([]) }
        #expect(throws: ImageError.damaged(format: .png, reason: "the file is empty")) {
            try ImageDecoder.decode([], as: .png)
        }
        #expect("\(ImageError.unknownFormat(firstBytes: Array("GIF89a".utf8)))".contains("47 49 46 38 39 61"))
    }

    @Test("every 7th cut of a PNG and a JPEG is refused as damaged, never crashes")
    func truncations() {
        for name in ["digit35-mnist28.png", "digit35-progressive.jpg"] {
            let bytes = PictureFixtures.bytes(name)
            for length in stride(from: 0, to: bytes.count - 1, by: 7) {
                #expect(throws: ImageError.self) { try ImageDecoder.decode(Array(bytes.prefix(length))) }
            }
        }
    }

    @Test("a progressive JPEG's coefficient buffers count against the decoded bytes; a baseline one's do not")
    func progressiveMemory() throws {
        // 140 x 140, progressive: 19,600 grey bytes plus its coefficients.
        let progressive = PictureFixtures.bytes("digit35-progressive.jpg")
        #expect {
            try ImageDecoder.decode(progressive, limits: ImageLimits(maxDecodedBytes: 140 * 140 * 2))
        } throws: { error in
            guard case .decodedTooLarge(.jpeg, 140, 140, let bytes, _) = error as? ImageError else { return false }
            return bytes > 140 * 140 * 2
        }
        // 280 x 280, baseline: only its grey pixels.
        _ = try ImageDecoder.decode(
            PictureFixtures.bytes("digit35-quality75.jpg"), limits: ImageLimits(maxDecodedBytes: 280 * 280))
    }

    @Test("the ink groups agree with a plain flood fill on random pictures, specks and all")
    func inkGroupsAgainstFloodFill() throws {
        var generator = SeededGenerator(seed: 7)
        for trial in 0..<300 {
            let width = Int.random(in: 3...24, using: &generator)
            let height = Int.random(in: 3...24, using: &generator)
            let density = Double.random(in: 0.05...0.6, using: &generator)
            var levels = [UInt8](repeating: 255, count: width * height)
            for index in levels.indices where Double.random(in: 0..<1, using: &generator) < density {
                levels[index] = 0
            }
            // Paper on the border, so that the polarity is dark ink.
            for x in 0..<width {
                levels[x] = 255
                levels[(height - 1) * width + x] = 255
            }
            for y in 0..<height {
                levels[y * width] = 255
                levels[y * width + width - 1] = 255
            }
            guard levels.contains(0) else { continue }
            let image = GreyImage(width: width, height: height, levels: levels)
            let ink = try DigitImagePreparation.inkScale(of: image)
            let box = try DigitImagePreparation.inkBox(of: image, ink: ink)
            let expected = Self.floodFillBox(levels, width: width, height: height)
            let found: [Int] = [box.left, box.top, box.right, box.bottom]
            #expect(found == [expected.0, expected.1, expected.2, expected.3], "trial \(trial)")
        }
    }

    /// The bounding box of the 8-connected groups of black pixels at least 2 % the size of the largest.
    static func floodFillBox(_ levels: [UInt8], width: Int, height: Int) -> (Int, Int, Int, Int) {
        var group = [Int](repeating: -1, count: levels.count)
        var sizes: [Int] = []
        for start in levels.indices where levels[start] == 0 && group[start] < 0 {
            var stack = [start]
            group[start] = sizes.count
            var size = 0
            while let index = stack.popLast() {
                size += 1
                let (x, y) = (index % width, index / width)
                for dy in -1...1 {
                    for dx in -1...1 {
                        let (nx, ny) = (x + dx, y + dy)
                        guard nx >= 0, ny >= 0, nx < width, ny < height else { continue }
                        let neighbour = ny * width + nx
                        if levels[neighbour] == 0 && group[neighbour] < 0 {
                            group[neighbour] = sizes.count
                            stack.append(neighbour)
                        }
                    }
                }
            }
            sizes.append(size)
        }
        let minimum = Double(sizes.max()!) * DigitImagePreparation.speckFraction
        var box = (width, height, -1, -1)
        for index in levels.indices where group[index] >= 0 && Double(sizes[group[index]]) >= minimum {
            let (x, y) = (index % width, index / width)
            box = (min(box.0, x), min(box.1, y), max(box.2, x), max(box.3, y))
        }
        return box
    }

    @Test("thin stripes, half a million runs of ink, are grouped in one pass over the rows")
    func stripes() throws {
        // 4096 x 255 of alternating columns, paper around them: 2,047 runs a row.
        let (width, height) = (4096, 255)
        var levels = [UInt8](repeating: 255, count: width * height)
        for y in 1..<(height - 1) { for x in stride(from: 1, to: width - 1, by: 2) { levels[y * width + x] = 0 } }
        let input = try DigitImagePreparation.modelInput(from: GreyImage(width: width, height: height, levels: levels))
        #expect(input.count == 400)
    }

    @Test("binary PGM: comments, 16-bit samples, and what is refused")
    func pgm() throws {
        let header = Array("P5 # a comment\n3 1\n# another\n255\n".utf8)
        #expect(try ImageDecoder.decode(header + [0, 128, 255]).levels == [0, 128, 255])
        let sixteen = Array("P5 2 1 65535\n".utf8) + [0xFF, 0xFF, 0x80, 0x00]
        #expect(try ImageDecoder.decode(sixteen).levels == [255, 128])
        let refusals: [([UInt8], String)] = [
            (Array("P5 3 1 255\n".utf8) + [1, 2], "premature end of data: 2 bytes of samples, 3 expected"),
            (Array("P5 1 1 255\n".utf8) + [1, 2], "1 bytes follow"),
            (Array("P5 0 1 255\n".utf8), "it has none"),
            (Array("P5 1 1 0\n".utf8) + [0], "from 1 to 65535"),
            (Array("P5 1 1".utf8), "premature end of the header"),
            (Array("P5 x 1 255\n".utf8), "the width is not a number"),
            (Array("P5 99999999999 1 255\n".utf8), "too large a number"),
        ]
        for (bytes, words) in refusals {
            do {
                _ = try ImageDecoder.decode(bytes)
                Issue.record("accepted \(bytes)")
            } catch {
                #expect(error.kind == .unreadable && "\(error)".contains(words), "\(error)")
            }
        }
        #expect(throws: ImageError.tooLarge(format: .pgm, width: 5000, height: 1, maxSide: 4096)) {
            try ImageDecoder.decode(Array("P5 5000 1 255\n".utf8))
        }
        #expect(
            throws: ImageError.unsupported(
                format: .pgm, reason: "plain (ASCII, P2) PGM is not taken; save it as binary PGM (P5)")
        ) {
            try ImageDecoder.decode(Array("P2 1 1 255\n0\n".utf8))
        }
        #expect(
            throws: ImageError.unsupported(
                format: .pgm, reason: "netpbm P6 is not taken; send binary PGM (P5), PNG or JPEG")
        ) {
            try ImageDecoder.decode(Array("P6 1 1 255\n000".utf8))
        }
    }

    @Test("Exif orientations 1 to 8 show the picture as the camera was held")
    func orientations() {
        // 3 wide, 2 high: a b c / d e f.
        let image = PictureFixtures.grey([[1, 2, 3], [4, 5, 6]])
        let expected: [Int: [[UInt8]]] = [
            1: [[1, 2, 3], [4, 5, 6]], 2: [[3, 2, 1], [6, 5, 4]], 3: [[6, 5, 4], [3, 2, 1]],
            4: [[4, 5, 6], [1, 2, 3]], 5: [[1, 4], [2, 5], [3, 6]], 6: [[4, 1], [5, 2], [6, 3]],
            7: [[6, 3], [5, 2], [4, 1]], 8: [[3, 6], [2, 5], [1, 4]], 9: [[1, 2, 3], [4, 5, 6]],
        ]
        for (orientation, rows) in expected {
            #expect(image.oriented(orientation) == PictureFixtures.grey(rows), "orientation \(orientation)")
        }
    }

    @Test("the Exif orientation is read in both byte orders; damaged Exif reads as 1")
    func exif() {
        func tiff(_ littleEndian: Bool, orientation: UInt16, type: UInt16 = 3) -> [UInt8] {
            func u16(_ v: UInt16) -> [UInt8] {
                littleEndian ? [UInt8(v & 0xFF), UInt8(v >> 8)] : [UInt8(v >> 8), UInt8(v & 0xFF)]
            }
            func u32(_ v: UInt32) -> [UInt8] {
                littleEndian
                    ? u16(UInt16(v & 0xFFFF)) + u16(UInt16(v >> 16)) : u16(UInt16(v >> 16)) + u16(UInt16(v & 0xFFFF))
            }
            return (littleEndian ? Array("II".utf8) : Array("MM".utf8)) + u16(42) + u32(8) + u16(1)
                + u16(0x0112) + u16(type) + u32(1) + u16(orientation) + u16(0) + u32(0)
        }
        func read(_ bytes: [UInt8]) -> Int { bytes.withUnsafeBufferPointer { ExifOrientation.read($0) } }
        #expect(read(tiff(true, orientation: 6)) == 6)
        #expect(read(tiff(false, orientation: 8)) == 8)
        #expect(read(tiff(true, orientation: 9)) == 1)
        #expect(read(tiff(true, orientation: 6, type: 4)) == 1)
        // Cut anywhere before the end of the orientation's value (byte 20).
        let whole = tiff(false, orientation: 3)
        for length in 0..<20 { #expect(read(Array(whole.prefix(length))) == 1, "cut at \(length)") }
        #expect(read(Array(whole.prefix(20))) == 3)
        #expect(read(Array("MM".utf8) + [0, 42, 0xFF, 0xFF, 0xFF, 0xF0]) == 1)
    }

    /// A 40x40 picture: paper `paper`, a bar of `ink` at rows 8...31, columns 16...23.
    func bar(paper: UInt8, ink: UInt8) -> GreyImage {
        var rows = [[UInt8]](repeating: [UInt8](repeating: paper, count: 40), count: 40)
        for y in 8...31 { for x in 16...23 { rows[y][x] = ink } }
        return PictureFixtures.grey(rows)
    }

    @Test("polarity and paper: dark on light, light on dark and dark on grey give the same 20x20")
    func polarity() throws {
        let expected = try DigitImagePreparation.modelInput(from: bar(paper: 255, ink: 0))
        #expect(try DigitImagePreparation.modelInput(from: bar(paper: 0, ink: 255)) == expected)
        #expect(try DigitImagePreparation.modelInput(from: bar(paper: 190, ink: 40)) == expected)
        // The bar fills the height: 20 rows, 7 columns (8 x 20 / 24 rounded), centred.
        let inked = expected.indices.filter { expected[$0] > 0.5 }
        #expect(Set(inked.map { $0 / 20 }) == Set(0..<20))
        #expect(Set(inked.map { $0 % 20 }) == Set(6..<13))
    }

    @Test("a speck far from the digit does not move the crop; a group over 2 % of the largest does")
    func specks() throws {
        let expected = try DigitImagePreparation.modelInput(from: bar(paper: 255, ink: 0))
        var specked = bar(paper: 255, ink: 0)
        specked.levels[1 * 40 + 1] = 0
        specked.levels[38 * 40 + 38] = 0
        #expect(try DigitImagePreparation.modelInput(from: specked) == expected)
        // 4 x 2 pixels: 4 % of the bar's 192.
        for y in 1...2 { for x in 1...4 { specked.levels[y * 40 + x] = 0 } }
        #expect(try DigitImagePreparation.modelInput(from: specked) != expected)
    }

    @Test("no ink: one shade, too little contrast, ink only as faint anti-aliasing")
    func noInk() {
        for image in [bar(paper: 200, ink: 200), bar(paper: 200, ink: 180), PictureFixtures.grey([[7]])] {
            #expect {
                try DigitImagePreparation.modelInput(from: image)
            } throws: { error in
                guard case .noInk = error as? ImageError else { return false }
                return "\(error)".hasPrefix("no ink found")
            }
        }
    }

    @Test("transparency: dark ink over clear paper and light ink over clear paper are both ink")
    func transparency() throws {
        // Grey and alpha, 2 x 1: clear, then opaque.
        for level: UInt8 in [0, 255] {
            let samples: [UInt8] = [level, 0, level, 255]
            let image = samples.withUnsafeBufferPointer { GreyImage(width: 2, height: 1, channels: 2, samples: $0) }
            #expect(image.levels == [255 - level, level])
        }
        // RGB: Pillow's luma.
        let rgb: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255]
        let image = rgb.withUnsafeBufferPointer { GreyImage(width: 3, height: 1, channels: 3, samples: $0) }
        #expect(image.levels == [76, 150, 29])
    }

    @Test("Pillow's bilinear weights: a 4-to-2 reduction widens the triangle to 3 taps of 3/7, 3/7, 1/7")
    func triangleFilter() {
        let filter = TriangleFilter(inputSize: 4, outputSize: 2)
        #expect(filter.taps.map(\.start) == [0, 1])
        let expected: [[Double]] = [[3, 3, 1], [1, 3, 3]].map { $0.map { $0 / 7 } }
        for (tap, weights) in zip(filter.taps, expected) {
            #expect(tap.weights.count == 3)
            #expect(zip(tap.weights, weights).allSatisfy { abs($0 - $1) < 1e-12 }, "\(tap.weights)")
        }
    }

    @Test("media types and signatures")
    func formats() {
        #expect(ImageFormat(mediaType: "image/PNG") == .png)
        #expect(ImageFormat(mediaType: " image/jpeg ; q=1") == .jpeg)
        #expect(ImageFormat(mediaType: "image/jpg") == .jpeg)
        #expect(ImageFormat(mediaType: "image/x-portable-graymap") == .pgm)
        #expect(ImageFormat(mediaType: "image/gif") == nil)
        // Spaces inside the type make it none taken, as they do for the server's choice of thread.
        #expect(ImageFormat(mediaType: "image /png") == nil)
        #expect(ImageFormat(mediaType: "image/png\t") == .png)
        #expect(ImageFormat(mediaType: " \timage/png") == .png)
        for notPictures in ["application/json", "", " \t ", "text/plain; image/png"] {
            #expect(ImageFormat(mediaType: notPictures) == nil, "\(notPictures)")
        }
        #expect(ImageFormat(mediaType: "IMAGE/X-Portable-Anymap") == .pgm)
        #expect(ImageFormat(mediaType: "image/png" + String(repeating: " ", count: 80) + "x") == nil)
        for other in [
            "application/json", "", " ", ";", "image/", "image", "imagé/png", "image/pngx", "text/plain; image/png",
        ] {
            #expect(ImageFormat(mediaType: other) == nil, "\(other)")
        }
        #expect(ImageFormat(sniffing: PictureFixtures.bytes("digit35-quality75.jpg")) == .jpeg)
        #expect(ImageFormat(sniffing: PictureFixtures.bytes("digit35-mnist28.pgm")) == .pgm)
        #expect(ImageFormat(sniffing: [0x89, 0x50]) == nil)
        #expect(ImageFormat.mediaTypeList == "image/png, image/jpeg or image/x-portable-graymap")
    }
}
