import DigitCore
import Foundation
import Testing

@testable import DigitService

/// The Open Inference Protocol (KServe V2) endpoints, over a real socket. The real Triton and KServe
/// clients are exercised against a live server by `.ci/clients_test.py`; these tests pin the details.
@Suite("Open Inference Protocol (V2) and /metrics")
struct InferenceProtocolTests {
    /// The `{"error": "..."}` message of a V2 error reply, or nil when the reply is not in that form.
    static func v2Error(_ reply: ServiceHarness.Reply) -> String? { reply.json["error"] as? String }

    static func inferBody(_ images: [[Double]], datatype: String = "FP32", nested: Bool = false) -> [String: Any] {
        let shape: [Int] = nested ? [images.count, 20, 20] : [images.count, 400]
        var data: Any = images
        if nested {
            let rows: [[[Double]]] = images.map { image in
                (0..<20).map { row in Array(image[row * 20..<(row + 1) * 20]) }
            }
            data = rows
        }
        return ["id": "request-7", "inputs": [["name": "pixels", "datatype": datatype, "shape": shape, "data": data]]]
    }

    @Test(
        "server metadata, live and ready, model metadata with the model's own name", arguments: ["binary", "ten-class"])
    func metadata(name: String) async throws {
        let harness = try ServiceHarness(model: name)
        defer { harness.stop() }
        let server = try await harness.request("GET", "/v2")
        #expect(server.status == 200 && server.json["name"] as? String == "digits")
        #expect((server.json["extensions"] as? [String])?.contains("binary_tensor_data") == true)
        #expect(try await harness.request("GET", "/v2/health/live").json["live"] as? Bool == true)
        #expect(try await harness.request("GET", "/v2/health/ready").json["ready"] as? Bool == true)
        let model = try await harness.request("GET", "/v2/models/\(name)")
        #expect(model.status == 200 && model.header("Content-Type") == "application/json")
        #expect(model.json["name"] as? String == name)
        let inputs = model.json["inputs"] as? [[String: Any]] ?? []
        #expect(inputs.count == 1 && inputs.first?["name"] as? String == "pixels")
        #expect(inputs.first?["shape"] as? [Int] == [-1, 400])
        let outputs = model.json["outputs"] as? [[String: Any]] ?? []
        #expect(outputs.map { $0["name"] as? String } == ["probabilities", "predicted_class"])
        #expect(outputs.first?["shape"] as? [Int] == [-1, name == "binary" ? 1 : 10])
        let ready = try await harness.request("GET", "/v2/models/\(name)/versions/1/ready")
        #expect(ready.status == 200 && ready.json["ready"] as? Bool == true)
    }

    @Test("JSON inference answers as /predict does, flat or 20x20, FP32 or FP64", arguments: ["binary", "ten-class"])
    func jsonInference(name: String) async throws {
        let harness = try ServiceHarness(model: name)
        defer { harness.stop() }
        let indices = (0..<10).map { TestDigits.first($0 % (name == "binary" ? 2 : 10)) }
        let images = indices.map(TestDigits.flat)
        var expected: [Int] = []
        var expectedProbabilities: [Double] = []
        for image in images {
            let reply = try await harness.post("/predict", json: ["pixels": image])
            expected.append(reply.json["predicted_class"] as! Int)
            expectedProbabilities +=
                reply.json["probabilities"] as? [Double] ?? [reply.json["probability"] as! Double]
        }
        for (datatype, nested) in [("FP32", false), ("FP64", true)] {
            let reply = try await harness.post(
                "/v2/models/\(name)/infer", json: Self.inferBody(images, datatype: datatype, nested: nested))
            #expect(reply.status == 200, "\(String(decoding: reply.body, as: UTF8.self))")
            #expect(reply.json["id"] as? String == "request-7")
            #expect(reply.json["model_name"] as? String == name)
            let outputs = reply.json["outputs"] as? [[String: Any]] ?? []
            let classes = outputs.first { $0["name"] as? String == "predicted_class" }
            let probabilities = outputs.first { $0["name"] as? String == "probabilities" }
            #expect(classes?["datatype"] as? String == "INT64" && classes?["shape"] as? [Int] == [10])
            #expect(classes?["data"] as? [Int] == expected)
            let values = probabilities?["data"] as? [Double] ?? []
            #expect(values.count == expectedProbabilities.count)
            for (value, wanted) in zip(values, expectedProbabilities) {
                #expect(Float(value) == Float(wanted))
            }
        }
    }

    @Test("binary tensors in and out, as Triton's client sends them by default")
    func binaryTensors() async throws {
        let harness = try ServiceHarness(model: "ten-class")
        defer { harness.stop() }
        let indices = [TestDigits.first(7), TestDigits.first(3)]
        var raw = Data()
        for index in indices {
            for value in TestDigits.pixels(index) { withUnsafeBytes(of: value.bitPattern.littleEndian) { raw += $0 } }
        }
        let header = try JSONSerialization.data(withJSONObject: [
            "inputs": [
                [
                    "name": "pixels", "datatype": "FP32", "shape": [2, 400],
                    "parameters": ["binary_data_size": raw.count],
                ]
            ],
            "outputs": [["name": "predicted_class", "parameters": ["binary_data": true]]],
        ])
        let reply = try await harness.request(
            "POST", "/v2/models/ten-class/infer", body: header + raw, contentType: "application/octet-stream",
            headers: ["Inference-Header-Content-Length": "\(header.count)"])
        #expect(reply.status == 200)
        let jsonLength = Int(reply.header("Inference-Header-Content-Length") ?? "") ?? -1
        #expect(jsonLength > 0 && jsonLength + 16 == reply.body.count)
        let json = try JSONSerialization.jsonObject(with: reply.body.prefix(jsonLength)) as? [String: Any] ?? [:]
        let outputs = json["outputs"] as? [[String: Any]] ?? []
        #expect(outputs.count == 1)
        #expect((outputs.first?["parameters"] as? [String: Any])?["binary_data_size"] as? Int == 16)
        let classes = reply.body.suffix(16).withUnsafeBytes { bytes in
            (0..<2).map { Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        }
        #expect(classes == [7, 3])

        let short = try await harness.request(
            "POST", "/v2/models/ten-class/infer", body: header + raw.dropLast(4),
            contentType: "application/octet-stream",
            headers: ["Inference-Header-Content-Length": "\(header.count)"])
        #expect(short.status == 400)
        #expect(Self.v2Error(short)?.contains("3200 bytes") == true, "\(short.json)")

        // A binary pixel the rule refuses is named as a JSON one would be, by its index.
        var bright = raw
        withUnsafeBytes(of: Float(255).bitPattern.littleEndian) { bright.replaceSubrange(17 * 4..<18 * 4, with: $0) }
        let refused = try await harness.request(
            "POST", "/v2/models/ten-class/infer", body: header + bright, contentType: "application/octet-stream",
            headers: ["Inference-Header-Content-Length": "\(header.count)"])
        #expect(refused.status == 400)
        #expect(
            Self.v2Error(refused)
                == "inputs[0].binary_data[17] is 255; values must be from 0 (paper) to 1 (ink), so divide 0-255 values by 255"
        )
    }

    @Test(
        "errors are {\"error\": message} with the right status",
        arguments: [
            ("POST", "/v2/models/ten-class/infer", 404, "is not served here"),
            ("GET", "/v2/models/binary/versions/2", 404, "no ready version '2'"),
            ("GET", "/v2/no-such-thing", 404, "/v2/no-such-thing"),
            ("DELETE", "/v2/models/binary", 405, "GET"),
        ])
    func routingErrors(method: String, path: String, status: Int, fragment: String) async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let body =
            method == "POST" ? try JSONSerialization.data(withJSONObject: Self.inferBody([TestDigits.flat(0)])) : nil
        let reply = try await harness.request(method, path, body: body)
        #expect(reply.status == status)
        #expect(reply.header("Content-Type") == "application/json")
        let message = Self.v2Error(reply) ?? ""
        #expect(message.contains(fragment), "\(message)")
    }

    @Test(
        "bad inference requests get 400 and say what to fix",
        arguments: [
            (
                #"{"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 400], "data": []}]}"#,
                "named \"pixels\""
            ),
            (#"{"inputs": [{"name": "pixels", "datatype": "INT8", "shape": [1, 400], "data": []}]}"#, "FP32 or FP64"),
            (
                #"{"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 399], "data": []}]}"#,
                "shape must be [N, 400]"
            ),
            (
                #"{"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 400], "data": [0.5]}]}"#,
                "inputs[0].data must hold 400 numbers; got 1"
            ),
            (
                #"{"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 400], "data": ["a"]}]}"#,
                "must hold 400 numbers"
            ),
            (
                #"{"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [NaN, 400], "data": []}]}"#,
                "inputs[0].shape[0] must be an integer; got NaN"
            ),
            (
                #"{"outputs": [{"name": "probabilities"}, {"name": "probabilities"}], "inputs": []}"#,
                "outputs[1] names 'probabilities' again"
            ),
            (String(repeating: "x", count: 100_000), "not valid JSON"),
            (#"{"inputs": []}"#, "one input tensor"),
            (#"{"inputs": [{"name": "pixels""#, "not valid JSON"),
            (#"{"id": 7, "inputs": []}"#, "id must be a string"),
            (
                #"{"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 400], "parameters": 1}]}"#,
                "must be an object"
            ),
            (#"{"parameters": {"binary_data_output": "yes"}, "inputs": []}"#, "must be true or false"),
            (#"{"outputs": "probabilities", "inputs": []}"#, "outputs must be an array"),
            (#"{"outputs": [{"name": "logits"}], "inputs": []}"#, "\"probabilities\" and \"predicted_class\""),
        ])
    func badRequests(body: String, fragment: String) async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let reply = try await harness.post("/v2/models/binary/infer", text: body)
        #expect(reply.status == 400)
        let message = Self.v2Error(reply) ?? ""
        #expect(message.contains(fragment), "\(message)")
    }

    @Test("a pixel outside 0...1 is refused, as /predict refuses it")
    func outOfRange() async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        var image = TestDigits.flat(0)
        image[17] = 255
        let reply = try await harness.post("/v2/models/binary/infer", json: Self.inferBody([image]))
        #expect(reply.status == 400)
        #expect(Self.v2Error(reply)?.contains("inputs[0].data[0][17] is 255") == true)
    }

    @Test("more images than the batch limit: 413")
    func tooMany() async throws {
        let harness = try ServiceHarness { $0.maxBatchImages = 2 }
        defer { harness.stop() }
        let reply = try await harness.post(
            "/v2/models/binary/infer", json: Self.inferBody(Array(repeating: TestDigits.flat(0), count: 3)))
        #expect(reply.status == 413)
        #expect(Self.v2Error(reply)?.contains("limit is 2") == true)
    }

    @Test("while draining: ready answers 503 with an error, live stays 200")
    func draining() async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        harness.service.beginDraining()
        let ready = try await harness.request("GET", "/v2/health/ready")
        #expect(ready.status == 503 && Self.v2Error(ready) != nil)
        #expect(try await harness.request("GET", "/v2/models/binary/ready").status == 503)
        #expect(try await harness.request("GET", "/v2/health/live").status == 200)
    }

    @Test("/metrics counts requests by route and status, and images predicted")
    func metrics() async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        for _ in 0..<3 { _ = try await harness.post("/predict", json: ["pixels": TestDigits.flat(0)]) }
        _ = try await harness.post("/predict", text: "{")
        _ = try await harness.post("/predict/batch", json: ["images": [TestDigits.flat(0), TestDigits.flat(1)]])
        _ = try await harness.request("GET", "/v2/models/nine")
        let reply = try await harness.request("GET", "/metrics")
        #expect(reply.status == 200 && reply.header("Content-Type")?.hasPrefix("text/plain") == true)
        let text = String(decoding: reply.body, as: UTF8.self)
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in [
            #"digits_http_requests_total{route="/predict",method="POST",status="200"} 3"#,
            #"digits_http_requests_total{route="/predict",method="POST",status="400"} 1"#,
            #"digits_http_requests_total{route="/predict/batch",method="POST",status="200"} 1"#,
            #"digits_http_requests_total{route="/v2/models/{name}",method="GET",status="404"} 1"#,
            #"digits_images_predicted_total{model="binary",version="1"} 5"#,
            "digits_http_requests_in_flight 1.0",
        ] {
            #expect(lines.contains(expected), "\(expected) not in:\n\(text)")
        }
        #expect(
            text.contains(
                #"digits_model_info{model="binary",version="1",sha256="\#(harness.service.served()!.sha256)"} 1.0"#))
        #expect(text.contains(#"digits_http_request_duration_seconds_bucket{route="/predict",le="0.000025"}"#))
    }
}
