import DigitCore
import Foundation
import HTTPCore
import LoopbackClient
import Testing

@testable import DigitService

/// The fixtures of `.ci/pictures.py write Tests/Fixtures/pictures`: one test digit (a 7) in every form.
enum Pictures {
    static func bytes(_ name: String) -> Data {
        FileManager.default.contents(atPath: ServiceHarness.path("Tests/Fixtures/pictures/\(name)"))!
    }
    static let forms = [
        ("digit35-mnist28.png", "image/png"), ("digit35-black-on-white280.png", "image/png"),
        ("digit35-quality75.jpg", "image/jpeg"), ("digit35-exif-rotated.jpg", "image/jpeg"),
        ("digit35-mnist28.pgm", "image/x-portable-graymap"), ("digit35-sixteen-bit.png", "image/png"),
        ("digit35-interlaced.png", "image/png"), ("digit35-transparent-white-ink.png", "image/png"),
    ]

    /// A `multipart/form-data` body of `parts` (file name, media type, bytes), as `curl -F` frames it.
    static func multipart(_ parts: [(String, String?, Data)], boundary: String = "xYz-boundary") -> Data {
        var body = Data("preamble that is ignored\r\n".utf8)
        for (name, type, bytes) in parts {
            body += Data(
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"image\"; filename=\"\(name)\"\r\n".utf8)
            if let type { body += Data("Content-Type: \(type)\r\n".utf8) }
            body += Data("\r\n".utf8) + bytes + Data("\r\n".utf8)
        }
        return body + Data("--\(boundary)--\r\n".utf8)
    }
}

@Suite("Pictures at POST /predict and /predict/batch")
struct PictureEndpointTests {
    @Test("every form of a test 7 is read as the JSON path reads the 20x20 the server derived from it")
    func sameAsJSON() async throws {
        let harness = try ServiceHarness(model: "ten-class")
        defer { harness.stop() }
        for (name, type) in Pictures.forms {
            let reply = try await harness.request(
                "POST", "/predict?include_input=true", body: Pictures.bytes(name), contentType: type)
            #expect(reply.status == 200, "\(name): \(reply.errorMessage)")
            let input = try #require(reply.json["input"] as? [Double], "\(name)")
            #expect(input.count == 400 && input.allSatisfy { (0...1).contains($0) })
            let byJSON = try await harness.post("/predict", json: ["pixels": input])
            #expect(reply.json["predicted_class"] as? Int == 7, "\(name)")
            #expect(byJSON.json["predicted_class"] as? Int == reply.json["predicted_class"] as? Int)
            #expect(reply.header("Model-Name") == "ten-class")
        }
        // Without the parameter, the answer is the JSON path's: no input.
        let plain = try await harness.request(
            "POST", "/predict", body: Pictures.bytes("digit35-mnist28.png"), contentType: "image/png")
        #expect(plain.status == 200 && plain.json["input"] == nil)
        let wrong = try await harness.request(
            "POST", "/predict?include_input=yes", body: Pictures.bytes("digit35-mnist28.png"), contentType: "image/png")
        #expect(wrong.status == 400 && wrong.errorMessage.contains("true or false"))
    }

    @Test("refusals: a bomb 413, damage 422 with the decoder's words, a GIF 415, a mismatch 422, no ink 422")
    func refusals() async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let cases: [(String, String, Int, String, String)] = [
            ("png-bomb.png", "image/png", 413, "image_too_large", "100000x100000"),
            ("jpeg-bomb.jpg", "image/jpeg", 413, "image_too_large", "at most 4096x4096"),
            ("crc.png", "image/png", 422, "invalid_image_file", "IDAT: CRC error"),
            ("truncated.jpg", "image/jpeg", 422, "invalid_image_file", "Premature end of JPEG file"),
            ("all-paper.png", "image/png", 422, "no_ink", "no ink found"),
            ("jpeg-as-png.png", "image/png", 422, "image_type_mismatch", "send Content-Type: image/jpeg"),
            (
                "gif.gif", "image/gif", 415, "unsupported_media_type",
                "image/png, image/jpeg or image/x-portable-graymap"
            ),
        ]
        for (name, type, status, code, words) in cases {
            let reply = try await harness.request("POST", "/predict", body: Pictures.bytes(name), contentType: type)
            #expect(reply.status == status, "\(name): \(reply.errorMessage)")
            #expect(reply.errorCode == code, "\(name)")
            #expect(reply.errorMessage.contains(words), "\(name): \(reply.errorMessage)")
        }
        // And the server still answers.
        let after = try await harness.request(
            "POST", "/predict", body: Pictures.bytes("digit35-mnist28.png"), contentType: "image/png")
        #expect(after.status == 200)
    }

    @Test("--max-image-side and --max-body-bytes bound a picture before it is decoded")
    func limits() async throws {
        let picture = Pictures.bytes("digit35-black-on-white280.png")
        let sides = try ServiceHarness { $0.maxImageSide = 100 }
        let large = try await sides.request("POST", "/predict", body: picture, contentType: "image/png")
        sides.stop()
        #expect(large.status == 413 && large.errorMessage.contains("280x280 pixels; at most 100x100"))
        // 280 x 280 grey is 78,400 bytes decoded, over a body limit of 70,000 (the file is 5,982 bytes).
        let bytes = try ServiceHarness { $0.http.limits.maxBodyBytes = 70_000 }
        defer { bytes.stop() }
        let decoded = try await bytes.request("POST", "/predict", body: picture, contentType: "image/png")
        #expect(decoded.status == 413 && decoded.errorMessage.contains("78400 bytes decoded, over the limit of 70000"))
        let small = try await bytes.request(
            "POST", "/predict", body: Pictures.bytes("digit35-mnist28.png"), contentType: "image/png")
        #expect(small.status == 200)
    }

    @Test("a multipart batch shares one decoding budget: the part that would pass it is refused, named")
    func batchBudget() async throws {
        // Each 280 x 280 picture counts 313,600 bytes (4 per pixel) against a budget of 350,000; the second
        // then has 36,400 left, less than its 78,400 grey bytes.
        let harness = try ServiceHarness { $0.http.limits.maxBodyBytes = 350_000 }
        defer { harness.stop() }
        let picture = Pictures.bytes("digit35-black-on-white280.png")
        let body = Pictures.multipart([("a.png", "image/png", picture), ("b.png", "image/png", picture)])
        let reply = try await harness.request(
            "POST", "/predict/batch", body: body, contentType: "multipart/form-data; boundary=xYz-boundary")
        #expect(reply.status == 413 && reply.errorCode == "image_too_large")
        #expect(reply.errorMessage.hasPrefix("part 2 ('b.png')") && reply.errorMessage.contains("decoding budget"))
        let one = Pictures.multipart([("a.png", "image/png", picture)])
        let alone = try await harness.request(
            "POST", "/predict/batch", body: one, contentType: "multipart/form-data; boundary=xYz-boundary")
        #expect(alone.status == 200)
    }

    @Test("a model of 28x28 images is sent its pixels as JSON; a picture for it is refused, not crashed on")
    func otherInputShape() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("digits-28-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = Model(
            name: "wide", classes: [0, 1], inputShape: [28, 28],
            network: Network(input: .flat(784), architecture: [.dense(units: 1, activation: .sigmoid)], seed: 1))
        try model.save(to: folder.appendingPathComponent("wide.json").path)
        try NumPyArray(shape: [2, 784], floats: [Float](repeating: 0, count: 2 * 784))
            .save(to: folder.appendingPathComponent("x.npy").path)
        try NumPyArray(shape: [2], elements: .uint8([0, 1])).save(to: folder.appendingPathComponent("y.npy").path)
        let harness = try ServiceHarness {
            $0.source = .file(folder.appendingPathComponent("wide.json").path)
            $0.testImagesPath = folder.appendingPathComponent("x.npy").path
            $0.testLabelsPath = folder.appendingPathComponent("y.npy").path
        }
        defer { harness.stop() }
        let reply = try await harness.request(
            "POST", "/predict", body: Pictures.bytes("digit35-mnist28.png"), contentType: "image/png")
        #expect(reply.status == 422 && reply.errorMessage.contains("takes 28x28 images; pictures are made into 20x20"))
    }

    @Test("a multipart batch is answered in part order, each answer naming its file")
    func multipartBatch() async throws {
        let harness = try ServiceHarness(model: "ten-class")
        defer { harness.stop() }
        let parts =
            Pictures.forms.map { ($0.0, Optional($0.1), Pictures.bytes($0.0)) }
            + [("untyped.png", nil, Pictures.bytes("digit35-mnist28.png"))]
        let reply = try await harness.request(
            "POST", "/models/ten-class/predict/batch?include_input=true", body: Pictures.multipart(parts),
            contentType: "multipart/form-data; boundary=xYz-boundary")
        #expect(reply.status == 200, "\(reply.errorMessage)")
        let predictions = try #require(reply.json["predictions"] as? [[String: Any]])
        #expect(predictions.map { $0["filename"] as? String } == parts.map { $0.0 })
        #expect(predictions.allSatisfy { $0["predicted_class"] as? Int == 7 && ($0["input"] as? [Any])?.count == 400 })
    }

    @Test("multipart refusals name the part at fault, or the framing")
    func multipartRefusals() async throws {
        let harness = try ServiceHarness { $0.maxBatchImages = 2 }
        defer { harness.stop() }
        let good = Pictures.bytes("digit35-mnist28.png")
        let type = "multipart/form-data; boundary=xYz-boundary"
        let damaged = Pictures.multipart([
            ("a.png", "image/png", good), ("b.png", "image/png", Pictures.bytes("crc.png")),
        ])
        var reply = try await harness.request("POST", "/predict/batch", body: damaged, contentType: type)
        #expect(reply.status == 422 && reply.errorMessage.hasPrefix("part 2 ('b.png'): PNG: IDAT: CRC error"))
        let text = Pictures.multipart([("a.txt", "text/plain", Data("7".utf8))])
        reply = try await harness.request("POST", "/predict/batch", body: text, contentType: type)
        #expect(reply.status == 415 && reply.errorMessage.contains("part 1 ('a.txt') is text/plain"))
        let three = Pictures.multipart(Array(repeating: ("a.png", "image/png", good), count: 3))
        reply = try await harness.request("POST", "/predict/batch", body: three, contentType: type)
        #expect(reply.status == 413 && reply.errorCode == "batch_too_large")
        let cut = Pictures.multipart([("a.png", "image/png", good)]).dropLast(30)
        reply = try await harness.request("POST", "/predict/batch", body: Data(cut), contentType: type)
        #expect(reply.status == 400 && reply.errorMessage.contains("part 1 is not closed"))
        reply = try await harness.request(
            "POST", "/predict/batch", body: Data("x".utf8), contentType: "multipart/form-data")
        #expect(reply.status == 400 && reply.errorMessage.contains("needs a boundary"))
        reply = try await harness.request(
            "POST", "/predict/batch", body: Data("x".utf8), contentType: "image/png")
        #expect(reply.status == 415 && reply.errorMessage.contains("multipart/form-data"))
    }

    @Test("a picture body is routed off the event loop (its decode may take milliseconds), a JSON body inline")
    func offloaded() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        var request = HTTPRequest(
            head: HTTPRequestHead(
                method: "POST", target: "/predict", version: .http1_1,
                headers: ["Content-Type": "IMAGE/PNG", "Host": "x"]), body: [])
        #expect(harness.service.makeRouter().route(&request) == .offloaded)
        var json = HTTPRequest(
            head: HTTPRequestHead(
                method: "POST", target: "/predict", version: .http1_1,
                headers: ["Content-Type": "application/json", "Host": "x"]), body: [])
        #expect(harness.service.makeRouter().route(&json) == .inline)
        // A space inside the type: inline, and no picture either (415), never a decode on the loop.
        var spaced = HTTPRequest(
            head: HTTPRequestHead(
                method: "POST", target: "/predict", version: .http1_1,
                headers: ["Content-Type": "image /png", "Host": "x"]), body: [])
        #expect(harness.service.makeRouter().route(&spaced) == .inline)
        #expect(PictureInput.format(declaredBy: "image /png") == nil)
    }
}
