import DigitCore
import Foundation
import Testing

@testable import DigitService

/// The request-body readers against Foundation's `JSONSerialization` on random and adversarial documents
/// of the three request shapes: the same documents accepted and refused, the same numbers.
///
/// One deliberate difference: `JSONSerialization` on Linux accepts a trailing comma (`[1,]`, `{"a":1,}`),
/// which RFC 8259 does not allow and which digits refuses; documents with one are checked to be refused.
@Suite("Request bodies: fast reader, full path and JSONSerialization agree")
struct DifferentialTests {
    static let service: DigitService = {
        var configuration = ServiceConfiguration()
        configuration.source = .file(ServiceHarness.path("data/models/binary/1/model.json"))
        configuration.testImagesPath = ServiceHarness.path("data/digits-test-X.npy")
        configuration.testLabelsPath = ServiceHarness.path("data/digits-test-y.npy")
        configuration.maxBatchImages = 4
        return try! DigitService(configuration: configuration)
    }()

    enum Shape: CaseIterable {
        case pixels
        case image
        case batch
    }

    /// A random document, and whether it holds a trailing comma (the one known difference).
    struct Generator {
        var random: SeededGenerator

        mutating func chance(_ percent: Int) -> Bool { random.nextInt(below: 100) < percent }

        mutating func pick<T>(_ values: [T]) -> T { values[random.nextInt(below: values.count)] }

        /// A pixel: usually a valid number in one of the forms clients write, rarely (about once in three
        /// documents) something that must be refused.
        mutating func number() -> String {
            let x = Double(random.nextUnitFloat())
            if random.nextInt(below: 1200) == 0 {
                return pick([
                    "1.0000001", "2", "255", "-1e-10", "1e400", "-1e400", "true", "false", "null", "\"0.5\"", "[]",
                    "{}",
                    "01", ".5", "1.", "1e", "+1", "NaN", "Infinity", "0x1", "--1", "1.5.2",
                ])
            }
            switch random.nextInt(below: 40) {
            case 0..<16: return "0"
            case 16..<24: return String(format: "%.7g", x)
            case 24..<27: return "\(x)"
            case 27: return "1"
            case 28:
                return pick(["1.0", "1.00000000000000001", "0.000", "-0", "-0.0", "0e5", "0.5E0", "5e-1", "1e-400"])
            case 29: return pick(["0.12345678901234567890", "0.999999999999999999", "1E0", "0.0000001"])
            case 30: return String(format: "%.3e", x)
            default: return String(format: "%.4f", x)
            }
        }

        mutating func separator() -> String {
            random.nextInt(below: 1000) < 990
                ? "," : random.nextInt(below: 20) > 0 ? pick([", ", " ,", ",\n", "\t,\t"]) : ",,"
        }

        mutating func flat(_ count: Int) -> String {
            "[" + (0..<count).map { _ in number() }.joined(separator: separator()) + "]"
        }

        mutating func nested(_ rows: Int, _ columns: Int) -> String {
            "[" + (0..<rows).map { _ in flat(columns) }.joined(separator: separator()) + "]"
        }

        /// 400 most of the time, sometimes one off.
        mutating func count(_ right: Int) -> Int {
            random.nextInt(below: 1000) < 997 ? right : pick([right - 1, right + 1, 0])
        }

        mutating func image() -> String {
            chance(50) ? flat(count(400)) : nested(count(20), count(20))
        }

        mutating func key(_ name: String) -> String {
            chance(97) ? "\"\(name)\"" : pick(["\"\\u0070ixels\"", "\"Pixels\"", "\"\(name)\" ", "\"extra\""])
        }

        mutating func document(_ shape: Shape) -> (text: String, trailingComma: Bool) {
            var members: [String]
            switch shape {
            case .pixels: members = ["\(key("pixels")):\(flat(count(400)))"]
            case .image: members = ["\(key("image")):\(nested(count(20), count(20)))"]
            case .batch:
                let images = (0..<(1 + random.nextInt(below: 5))).map { _ in image() }
                members = ["\(key("images")):[\(images.joined(separator: separator()))]"]
            }
            if chance(3) { members.append("\"extra\": 1") }
            if chance(3) { members.append(members[0]) }
            if chance(2) { members.append("\"image\":\(nested(20, 20))") }
            var text = "{" + members.joined(separator: ",") + "}"
            var trailingComma = false
            if chance(2) {
                text = text.replacingOccurrences(of: "]}", with: ",]}")
                trailingComma = true
            }
            if chance(2) { text = " \n\t" + text + " \r\n" }
            if chance(1) { text = "\u{FEFF}" + text }
            return (text, trailingComma)
        }

        /// Truncations and single-byte changes of a valid document.
        mutating func mutate(_ text: String) -> [UInt8] {
            var bytes = Array(text.utf8)
            guard !bytes.isEmpty else { return bytes }
            let position = random.nextInt(below: bytes.count)
            switch random.nextInt(below: 4) {
            case 0: bytes.removeSubrange(position...)
            case 1: bytes[position] = pick(Array("{}[]\",:.-+e0123 \\\u{0}".utf8) + [0xFF, 0x80])
            case 2: bytes.insert(pick(Array("{}[],:\"0.".utf8)), at: position)
            default: bytes.remove(at: position)
            }
            return bytes
        }
    }

    /// What `JSONSerialization` and the shape rules make of a body: the pixels (and image count), or nil.
    static func reference(_ body: [UInt8], shape: Shape) -> [Float]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        func pixel(_ value: Any) -> Float? {
            guard let number = value as? NSNumber, !(String(describing: type(of: value)).contains("Boolean")) else {
                return nil
            }
            let double = number.doubleValue
            return double.isFinite && double >= 0 && double <= 1 ? Float(double) : nil
        }
        func flat(_ value: Any) -> [Float]? {
            guard let array = value as? [Any], array.count == 400 else { return nil }
            let pixels = array.compactMap(pixel)
            return pixels.count == 400 ? pixels : nil
        }
        func nested(_ value: Any) -> [Float]? {
            guard let rows = value as? [Any], rows.count == 20 else { return nil }
            var pixels: [Float] = []
            for row in rows {
                guard let values = row as? [Any], values.count == 20 else { return nil }
                let row = values.compactMap(pixel)
                guard row.count == 20 else { return nil }
                pixels += row
            }
            return pixels
        }
        switch shape {
        case .pixels, .image:
            guard Set(object.keys).isSubset(of: ["pixels", "image"]), object.count == 1 else { return nil }
            if let value = object["pixels"] { return flat(value) }
            return nested(object["image"]!)
        case .batch:
            guard object.keys.sorted() == ["images"], let images = object["images"] as? [Any], !images.isEmpty,
                images.count <= 4
            else { return nil }
            var pixels: [Float] = []
            for image in images {
                let isNested = (image as? [Any])?.first is [Any]
                guard let decoded = isNested ? nested(image) : flat(image) else { return nil }
                pixels += decoded
            }
            return pixels
        }
    }

    /// A comma right before `]` or `}` (whitespace between), which mutations also produce. The documents
    /// hold no strings with commas, so a plain scan decides it.
    static func hasTrailingComma(_ body: [UInt8]) -> Bool {
        var lastSignificant: UInt8 = 0
        for byte in body {
            if byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}"), lastSignificant == UInt8(ascii: ",") {
                return true
            }
            if byte != 0x20 && byte != 0x0A && byte != 0x0D && byte != 0x09 { lastSignificant = byte }
        }
        return false
    }

    static func ours(_ body: [UInt8], shape: Shape) -> [Float]? {
        switch shape {
        case .pixels, .image: try? service.singleImage(body: body, for: service.served()!)
        case .batch: try? service.batch(body: body, for: service.served()!).pixels
        }
    }

    static func fullPath(_ body: [UInt8], shape: Shape) -> [Float]? {
        let decoder = service.served()!.reader
        switch shape {
        case .pixels, .image: return try? decoder.singleImage(from: decoder.json(body: body, maxImages: 1))
        case .batch: return try? decoder.batch(from: decoder.json(body: body, maxImages: 4), limit: 4).pixels
        }
    }

    @Test("random documents and their mutations", arguments: [1, 2, 3, 4])
    func random(seed: UInt64) {
        var generator = Generator(random: SeededGenerator(seed: seed))
        var accepted = 0
        var refused = 0
        for round in 0..<600 {
            let shape = Shape.allCases[round % 3]
            let (text, trailingComma) = generator.document(shape)
            let bodies = [Array(text.utf8), generator.mutate(text), generator.mutate(text)]
            for (index, body) in bodies.enumerated() {
                let expected = Self.reference(body, shape: shape)
                let actual = Self.ours(body, shape: shape)
                let fast: [Float]? =
                    shape == .batch
                    ? Self.service.served()!.fastReader.batch(body, limit: 4)?.pixels
                    : Self.service.served()!.fastReader.singleImage(body)
                if let fast {
                    #expect(
                        fast == Self.fullPath(body, shape: shape),
                        "the fast reader accepted what the full path does not: \(String(decoding: body, as: UTF8.self).prefix(200))"
                    )
                }
                if (index == 0 && trailingComma) || Self.hasTrailingComma(body) {
                    #expect(actual == nil, "a trailing comma must be refused")
                    continue
                }
                #expect(
                    actual == expected,
                    "\(shape) \(expected == nil ? "JSONSerialization refuses" : "JSONSerialization accepts"): \(String(decoding: body, as: UTF8.self).prefix(300))"
                )
                if actual == nil { refused += 1 } else { accepted += 1 }
            }
        }
        // Both outcomes are exercised in earnest.
        #expect(accepted > 300 && refused > 300, "accepted \(accepted), refused \(refused)")
    }

    /// `{"pixels":[v,v,...,last]}` with 399 `v` and then `last` (and `tail` after the closing brace).
    static func pixels(_ value: String, last: String? = nil, tail: String = "") -> String {
        let values: [String] = Array(repeating: value, count: 399) + [last ?? value]
        return "{\"pixels\":[" + values.joined(separator: ",") + "]}" + tail
    }

    static let adversarialDocuments: [String] = [
        pixels("0"), pixels("0.5"), pixels("1e-400"), pixels("0.99999999999999999999"), pixels("1.0000000000000002"),
        pixels("0.123456789012345"), pixels("0.1234567890123456"), pixels("0", last: "0 "), pixels("0", tail: " x"),
        pixels("0", last: "00"), pixels("0", last: "0."), pixels("0", last: "-0"), pixels("0", last: "0.5e1"),
        pixels("0", last: "0.25e-0"), pixels("0", last: "\"0\""), pixels("0", last: "0.12345678"),
        pixels("0.12345678"), pixels("0.1234567"), pixels("0.12345678", last: "1"), "\u{FEFF}" + pixels("0.5"),
        String(pixels("0").dropLast()), pixels("0").replacingOccurrences(of: "]}", with: "], \"pixels\": [1]}"),
        "{\"pixels\":null}", "{}", "[]", "null", "", "{\"pixels\":[]}", "{\"image\":[]}",
    ]

    @Test("runs of zeros of every length from 0 to 17, starting anywhere near a row's or the image's ends")
    func zeroRuns() {
        let reader = Self.service.served()!.fastReader
        for start in Array(0..<24) + Array(376..<400) {
            for length in 0...17 {
                var values = [String](repeating: "0.5", count: 400)
                for index in start..<min(400, start + length) { values[index] = "0" }
                let expected: [Float] = values.map { $0 == "0" ? 0 : 0.5 }
                let rows = (0..<20).map { "[" + values[($0 * 20)..<($0 * 20 + 20)].joined(separator: ",") + "]" }
                for text in [
                    "{\"pixels\":[" + values.joined(separator: ",") + "]}",
                    "{\"image\":[" + rows.joined(separator: ",") + "]}",
                ] {
                    let body = Array(text.utf8)
                    let fast = reader.singleImage(body)
                    #expect(fast == expected, "zeros from \(start), \(length) long: \(text.prefix(60))")
                    #expect(fast == Self.fullPath(body, shape: .pixels))
                }
            }
        }
        // A zero pixel and its comma, then no pixel: refused by both, as a trailing comma.
        let short = Array(("{\"pixels\":[" + String(repeating: "0,", count: 399) + "]}").utf8)
        #expect(reader.singleImage(short) == nil)
        #expect(Self.fullPath(short, shape: .pixels) == nil)
    }

    @Test("a trailing comma is refused, although JSONSerialization on Linux accepts it")
    func trailingComma() {
        let body = Array(Self.pixels("0", last: "0,").utf8)
        #expect(Self.reference(body, shape: .pixels) != nil)
        #expect(Self.ours(body, shape: .pixels) == nil)
    }

    @Test("adversarial documents", arguments: adversarialDocuments)
    func adversarial(text: String) {
        let body = Array(text.utf8)
        #expect(Self.ours(body, shape: .pixels) == Self.reference(body, shape: .pixels), "\(text.prefix(120))")
    }
}
