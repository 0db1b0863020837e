import DigitCore
import Foundation
import JSON
import Testing

@testable import DigitService

@Suite("GET /model, GET /evaluate, GET /openapi.yaml, routing errors")
struct ModelEndpointTests {
    @Test("GET /model has the original's keys and the model's identity", arguments: ["binary", "ten-class"])
    func model(name: String) async throws {
        let harness = try ServiceHarness(model: name)
        defer { harness.stop() }
        let reply = try await harness.request("GET", "/model")
        #expect(reply.status == 200)
        let json = reply.json
        for key in [
            "model_type", "input_shape", "output_shape", "total_params", "layers", "name", "sha256", "classes",
            "status",
        ] {
            #expect(json[key] != nil, "\(key)")
        }
        #expect(json["name"] as? String == name)
        #expect(json["status"] as? String == "serving")
        #expect(json["sha256"] as? String == harness.service.served()!.sha256)
        #expect(json["total_params"] as? Int == harness.service.served()!.model.network.parameterCount)
        let head = try await harness.request("HEAD", "/model")
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(head.header("Content-Length") == reply.header("Content-Length"))
    }

    @Test("GET /model answers 503 while draining, so a balancer routes around it")
    func draining() async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        harness.service.beginDraining()
        let reply = try await harness.request("GET", "/model")
        #expect(reply.status == 503)
        #expect(reply.json["status"] as? String == "draining")
    }

    @Test("GET /evaluate equals the core's evaluation on the test split", arguments: ["binary", "ten-class"])
    func evaluate(name: String) async throws {
        let harness = try ServiceHarness(model: name)
        defer { harness.stop() }
        let reply = try await harness.request("GET", "/evaluate")
        #expect(reply.status == 200)
        let expected = try JSONSerialization.jsonObject(
            with: Data(JSONWriter.compact(harness.service.served()!.evaluation.json).utf8))
        #expect(NSDictionary(dictionary: reply.json) == NSDictionary(dictionary: expected as! [String: Any]))
        #expect(reply.json["total_samples"] as? Int == (name == "binary" ? 180 : 900))
        #expect((reply.json["per_class"] as? [Any])?.count == (name == "binary" ? nil : 10))
    }

    @Test("GET /openapi.yaml serves the top-level document")
    func openAPI() async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let reply = try await harness.request("GET", "/openapi.yaml")
        #expect(reply.status == 200 && reply.header("Content-Type") == "application/yaml")
        #expect(reply.body == (try Data(contentsOf: URL(fileURLWithPath: ServiceHarness.path("openapi.yaml")))))
    }

    @Test("unknown paths are 404; known paths with another method are 405 with Allow")
    func routing() async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let missing = try await harness.request("GET", "/nothing")
        #expect(missing.status == 404 && missing.errorCode == "not_found")
        let guessed = try await harness.request("GET", "/health")
        #expect(guessed.status == 404)
        #expect(
            guessed.errorMessage.contains("GET /model (the health check)")
                && guessed.errorMessage.contains("/v2/health/live")
                && guessed.errorMessage.contains("GET /openapi.yaml describes them all"),
            "a 404 names the endpoints that exist")
        // The path is quoted, not copied: a long one comes back cut.
        let long = try await harness.request("GET", "/" + String(repeating: "x", count: 5000))
        #expect(
            long.status == 404
                && long.errorMessage.hasPrefix("no resource at /\(String(repeating: "x", count: 60))...;"))
        #expect(long.errorMessage.count < 1000, "\(long.errorMessage.count)")
        let wrongMethod = try await harness.request("GET", "/predict")
        #expect(wrongMethod.status == 405 && wrongMethod.errorCode == "method_not_allowed")
        #expect(wrongMethod.header("Allow") == "OPTIONS, POST")
        let deleteModel = try await harness.request("DELETE", "/model")
        #expect(deleteModel.status == 405 && deleteModel.header("Allow") == "GET, HEAD, OPTIONS")
    }

    @Test("start-up fails with a clear message for a missing model, bad data or an unusable model")
    func startupFailures() throws {
        func failure(_ configure: (inout ServiceConfiguration) -> Void) -> String {
            var configuration = ServiceConfiguration()
            configuration.source = .file(ServiceHarness.path("data/models/binary/1/model.json"))
            configuration.testImagesPath = ServiceHarness.path("data/digits-test-X.npy")
            configuration.testLabelsPath = ServiceHarness.path("data/digits-test-y.npy")
            configure(&configuration)
            do {
                _ = try DigitService(configuration: configuration)
                return ""
            } catch {
                return error.description
            }
        }
        #expect(
            failure { $0.source = .file("/no/such/model.json") }.contains(
                "cannot load the model: /no/such/model.json: open failed"))
        #expect(
            failure { $0.testImagesPath = "/no/such.npy" }.contains(
                "cannot load the test split for /evaluate: /no/such.npy"))
        #expect(
            failure { $0.testLabelsPath = ServiceHarness.path("data/digits-train-y.npy") }.contains(
                "900 images but 3600 labels"))
        #expect(
            failure { $0.source = .file(ServiceHarness.path("Tests/DigitCoreTests/Fixtures/f4.npy")) }.contains(
                "not a JSON model file"))
    }
}

@Suite("GET /, the page")
struct PageTests {
    @Test("one self-contained HTML page: no external scripts, styles, fonts or images")
    func page() async throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let reply = try await harness.request("GET", "/")
        #expect(reply.status == 200)
        #expect(reply.header("Content-Type") == "text/html; charset=utf-8")
        let html = String(decoding: reply.body, as: UTF8.self)
        #expect(html.hasPrefix("<!doctype html>"))
        for part in [
            "<canvas id=\"pad\"", "id=\"preview\"", "fetch(state.base + \"predict?include_input=true\"",
            "\"Content-Type\": \"image/png\"",
            "fetch(\"models\")", "aria-live",
            "<meta name=\"viewport\"",
        ] {
            #expect(html.contains(part), "\(part)")
        }
        for external in ["src=\"http", "href=\"http", "@import", "url(http", "src=\"//", "href=\"//"] {
            #expect(!html.contains(external), "\(external)")
        }
    }
}
