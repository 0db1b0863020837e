import DigitCore
import Foundation
import HTTPCore
import Testing

@testable import DigitService

@Suite("POST /predict and /predict/batch")
struct PredictTests {
    @Test("the binary model: P(digit is 1) and the class, as the model computes them", arguments: [0, 1])
    func binary(digit: Int) async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let index = TestDigits.first(digit)
        let expected = harness.service.served()!.model.network.predict(TestDigits.pixels(index))[0]
        for body in [["pixels": TestDigits.flat(index)], ["image": TestDigits.nested(index)]] as [[String: Any]] {
            let reply = try await harness.post("/predict", json: body)
            #expect(reply.status == 200)
            #expect(reply.header("Content-Type") == "application/json")
            #expect(reply.json["predicted_class"] as? Int == digit)
            #expect(Float(reply.json["probability"] as? Double ?? -1) == expected)
            #expect(reply.json["probabilities"] == nil)
            #expect(Set(reply.json.keys) == ["predicted_class", "probability", "classes"])
            #expect(reply.json["classes"] as? [Int] == [0, 1], "the two classes it tells apart, in the body")
        }
    }

    @Test("the ten-class model: class, its probability and all ten")
    func tenClass() async throws {
        let harness = try ServiceHarness(model: "ten-class")
        defer { harness.stop() }
        for digit in 0..<10 {
            let reply = try await harness.post("/predict", json: ["pixels": TestDigits.flat(TestDigits.first(digit))])
            #expect(reply.status == 200)
            let probabilities = reply.json["probabilities"] as? [Double] ?? []
            #expect(probabilities.count == 10)
            #expect(abs(probabilities.reduce(0, +) - 1) < 1e-5)
            let predicted = reply.json["predicted_class"] as? Int ?? -1
            #expect(reply.json["probability"] as? Double == probabilities[predicted])
            #expect(probabilities.allSatisfy { $0 <= probabilities[predicted] })
        }
    }

    @Test("a batch answers in order, each image flat or nested, as /predict would", arguments: ["binary", "ten-class"])
    func batch(model: String) async throws {
        let harness = try ServiceHarness(model: model)
        defer { harness.stop() }
        let indices = Array(0..<50)
        let images: [Any] = indices.map { index -> Any in
            index % 2 == 0 ? TestDigits.flat(index) : TestDigits.nested(index)
        }
        let reply = try await harness.post("/predict/batch", json: ["images": images])
        #expect(reply.status == 200)
        let predictions = reply.json["predictions"] as? [[String: Any]] ?? []
        #expect(predictions.count == 50)
        for index in indices {
            let single = try await harness.post("/predict", json: ["pixels": TestDigits.flat(index)])
            #expect(
                NSDictionary(dictionary: predictions[index]) == NSDictionary(dictionary: single.json), "image \(index)")
        }
    }

    @Test(
        "a body that is a file's name (curl --data one.json, no @) is 400 with the @ hint; real JSON mistakes are not")
    func fileNameInsteadOfContents() async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let name = try await harness.request("POST", "/predict", body: Data("data/examples/one.json".utf8))
        #expect(name.status == 400 && name.errorCode == "invalid_json")
        #expect(name.errorMessage.contains("looks like a file name"), "\(name.errorMessage)")
        #expect(name.errorMessage.contains("--data @data/examples/one.json"))
        let broken = try await harness.request("POST", "/predict", body: Data("{\"pixels\": [0.5,".utf8))
        #expect(broken.status == 400 && !broken.errorMessage.contains("file name"), "\(broken.errorMessage)")
        let version = try await harness.request("POST", "/predict", body: Data("1.5.2".utf8))
        #expect(version.status == 400 && !version.errorMessage.contains("file name"), "\(version.errorMessage)")
        // A name too long to quote whole is not written, cut, into the command.
        let long = String(repeating: "folder/", count: 12) + "image.json"
        let longName = try await harness.request("POST", "/predict", body: Data(long.utf8))
        #expect(longName.errorMessage.contains("looks like a file name"), "\(longName.errorMessage)")
        #expect(longName.errorMessage.contains("(--data @FILE)") && !longName.errorMessage.contains("@folder"))
    }

    @Test("an MNIST image as it comes (784 pixels, 28 rows) is refused with what to do instead")
    func mnistSizedImage() async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let flat = try await harness.post("/predict", json: ["pixels": Array(repeating: 0.0, count: 784)])
        #expect(flat.status == 422 && flat.errorMessage.contains("must hold 400 numbers; got 784"))
        #expect(
            flat.errorMessage.contains("crop it to the digit's box and scale that to 20x20"), "\(flat.errorMessage)")
        let rows = try await harness.post(
            "/predict", json: ["image": Array(repeating: Array(repeating: 0.0, count: 28), count: 28)])
        #expect(rows.status == 422 && rows.errorMessage.contains("28x28 is an MNIST image"), "\(rows.errorMessage)")
        let tensor: [String: Any] = [
            "inputs": [
                ["name": "pixels", "datatype": "FP32", "shape": [1, 784], "data": Array(repeating: 0.0, count: 784)]
            ]
        ]
        let infer = try await harness.post("/v2/models/binary/infer", json: tensor)
        #expect(infer.status == 400 && String(decoding: infer.body, as: UTF8.self).contains("28x28 is an MNIST image"))
        // Without the batch dimension: an MNIST shape gets the same hint, a right one the missing dimension.
        for (shape, hint) in [
            ([784], "28x28 is an MNIST image"), ([28, 28], "28x28 is an MNIST image"),
            ([400], "the first dimension counts the images: [1, 400] for one"),
            ([20, 20], "the first dimension counts the images: [1, 20, 20] for one"),
        ] {
            let unbatched: [String: Any] = [
                "inputs": [["name": "pixels", "datatype": "FP32", "shape": shape, "data": [0.0]]]
            ]
            let answer = try await harness.post("/v2/models/binary/infer", json: unbatched)
            let text = String(decoding: answer.body, as: UTF8.self)
            #expect(answer.status == 400 && text.contains(hint), "\(shape): \(text)")
        }
        let other = try await harness.post("/predict", json: ["pixels": Array(repeating: 0.0, count: 399)])
        #expect(other.status == 422 && !other.errorMessage.contains("MNIST"))
    }

    @Test("the batch limit is 413 with its code")
    func batchLimit() async throws {
        let harness = try ServiceHarness { $0.maxBatchImages = 3 }
        defer { harness.stop() }
        let reply = try await harness.post(
            "/predict/batch", json: ["images": Array(repeating: TestDigits.flat(0), count: 4)])
        #expect(reply.status == 413 && reply.errorCode == "batch_too_large")
        #expect(reply.errorMessage.contains("holds 4 images; the limit is 3"))
        let ok = try await harness.post(
            "/predict/batch", json: ["images": Array(repeating: TestDigits.flat(0), count: 3)])
        #expect(ok.status == 200)
    }

    @Test("a body over the limit is 413 body_too_large")
    func bodyLimit() async throws {
        let harness = try ServiceHarness { $0.http.limits.maxBodyBytes = 2000 }
        defer { harness.stop() }
        let reply = try await harness.post(
            "/predict/batch", json: ["images": Array(repeating: TestDigits.flat(0), count: 5)])
        #expect(reply.status == 413 && reply.errorCode == "body_too_large")
    }

    static let zeros = Array(repeating: 0, count: 400).map(String.init).joined(separator: ",")
    static let row = Array(repeating: "0", count: 20).joined(separator: ",")

    /// Each mistake gets its status, its code and a message that names what to fix.
    @Test(
        "every mistake gets its status, code and message",
        arguments: [
            ("/predict", "{\"pixels\": [1, 2", 400, "invalid_json", "not valid JSON"),
            ("/predict", "", 400, "invalid_json", "the body is empty"),
            ("/predict", "[1, 2, 3]", 422, "invalid_request", "must be a JSON object"),
            ("/predict", "{}", 422, "invalid_request", "needs \"pixels\""),
            ("/predict", "{\"pixels\": [\(zeros)], \"image\": []}", 422, "invalid_request", "not both"),
            ("/predict", "{\"pixels\": [\(zeros)], \"extra\": 1}", 422, "invalid_request", "unknown field \"extra\""),
            (
                "/predict", "{\"pixels\": \"abc\"}", 422, "invalid_pixels",
                "pixels must be an array of 400 numbers; got a string"
            ),
            (
                "/predict", "{\"pixels\": [\(zeros.dropLast(2))]}", 422, "invalid_pixels",
                "pixels must hold 400 numbers; got 399"
            ),
            (
                "/predict", "{\"pixels\": [\"0\"\(zeros.dropFirst(1))]}", 422, "invalid_pixels",
                "pixels[0] must be a number; got a string"
            ),
            (
                "/predict", "{\"pixels\": [\(zeros.dropLast(1))NaN]}", 422, "invalid_pixels",
                "pixels[399] is not a finite number (NaN)"
            ),
            (
                "/predict", "{\"pixels\": [1e999\(zeros.dropFirst(1))]}", 422, "invalid_pixels",
                "a number at line 1, column 13 is too large for a 64-bit float"
            ),
            (
                "/predict", "{\"pixels\": [255\(zeros.dropFirst(1))]}", 422, "invalid_pixels",
                "pixels[0] is 255; values must be from 0 (paper) to 1 (ink)"
            ),
            ("/predict", "{\"pixels\": [-0.5\(zeros.dropFirst(1))]}", 422, "invalid_pixels", "pixels[0] is -0.5"),
            (
                "/predict", "{\"image\": [\(Array(repeating: "[\(row)]", count: 19).joined(separator: ","))]}", 422,
                "invalid_image", "image must hold 20 rows; got 19"
            ),
            (
                "/predict", "{\"image\": [[\(row.dropLast(2))]\(String(repeating: ",[\(row)]", count: 19))]}", 422,
                "invalid_image", "image[0] must hold 20 numbers; got 19"
            ),
            (
                "/predict", "{\"image\": [[\(row.dropLast(1))true]\(String(repeating: ",[\(row)]", count: 19))]}", 422,
                "invalid_image", "image[0][19] must be a number; got a boolean"
            ),
            (
                "/predict/batch",
                "{\"images\": [[\(zeros)], [\(zeros)], [\(zeros)], [\(Array(repeating: "[\(row)]", count: 7).joined(separator: ",")),[\(row.dropLast(2))]\(String(repeating: ",[\(row)]", count: 12))]]}",
                422, "invalid_image", "images[3][7] must hold 20 numbers; got 19"
            ),
            (
                "/predict/batch", "{\"images\": [[\(zeros)], [1, 2]]}", 422, "invalid_pixels",
                "images[1] must hold 400 numbers; got 2"
            ),
            ("/predict/batch", "{\"images\": []}", 422, "invalid_request", "at least one image"),
            ("/predict/batch", "{\"images\": {}}", 422, "invalid_request", "images must be an array"),
            ("/predict/batch", "{\"pixels\": [\(zeros)]}", 422, "invalid_request", "unknown field \"pixels\""),
        ])
    func mistakes(path: String, body: String, status: Int, code: String, message: String) async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let reply = try await harness.post(path, text: body)
        #expect(reply.status == status)
        #expect(reply.header("Content-Type") == "application/json")
        #expect(reply.errorCode == code)
        #expect(reply.errorMessage.contains(message), "\(reply.errorMessage)")
    }

    @Test(
        "a body that is not declared as JSON is 415; a charset parameter is fine",
        arguments: [
            ("text/plain", 415), ("application/x-www-form-urlencoded", 415), ("application/json; charset=latin1", 415),
            ("application/json; charset=utf-8", 200), ("Application/JSON;charset=UTF-8", 200),
        ])
    func mediaType(contentType: String, status: Int) async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let body = try JSONSerialization.data(withJSONObject: ["pixels": TestDigits.flat(0)])
        let reply = try await harness.request("POST", "/predict", body: body, contentType: contentType)
        #expect(reply.status == status)
        if status == 415 { #expect(reply.errorCode == "unsupported_media_type") }
    }

    @Test("Content-Type checks, including none at all")
    func contentTypeRules() {
        #expect(throws: HTTPError.self) { try JSONImageReader.checkContentType(nil) }
        #expect(throws: HTTPError.self) { try JSONImageReader.checkContentType("application/jsonx") }
        #expect(throws: Never.self) { try JSONImageReader.checkContentType("application/json") }
    }
}
