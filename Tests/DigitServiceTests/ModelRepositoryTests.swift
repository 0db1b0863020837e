import DigitCore
import Foundation
import HTTPCore
import Logging
import LoopbackClient
import Synchronization
import Testing

@testable import DigitService

/// A model repository in a temporary folder, made of copies of the bundled binary model (it loads in a
/// tenth of a second in a debug build), and a service serving it.
final class RepositoryHarness: @unchecked Sendable {
    let root: String
    let service: DigitService
    let server: HTTPServer
    static let binaryBytes = try! FileIO.read(ServiceHarness.path("data/models/binary/1/model.json"))

    /// The bundled binary model's text with its first bias replaced: a file that parses and is refused.
    static var nanWeightBytes: [UInt8] {
        var text = String(decoding: binaryBytes, as: UTF8.self)
        let first = text.range(of: #""bias": \[[-0-9.e]+"#, options: .regularExpression)!
        text.replaceSubrange(first, with: "\"bias\": [NaN")
        return Array(text.utf8)
    }

    init(
        versions: [String: [Int]] = ["binary": [1]], mode: ModelControlMode = .none,
        configure: (String, inout ServiceConfiguration) -> Void = { _, _ in }
    ) throws {
        root = NSTemporaryDirectory() + "digits-repository-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for (name, numbers) in versions {
            for version in numbers { try Self.write(Self.binaryBytes, to: "\(root)/\(name)/\(version)/model.json") }
        }
        var configuration = ServiceConfiguration()
        configuration.source = .repository(root)
        configuration.modelControl = mode
        configuration.testImagesPath = ServiceHarness.path("data/digits-test-X.npy")
        configuration.testLabelsPath = ServiceHarness.path("data/digits-test-y.npy")
        configuration.http.host = "127.0.0.1"
        configuration.http.port = 0
        configure(root, &configuration)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        service = try DigitService(configuration: configuration, logger: logger)
        server = service.makeServer(logger: logger)
        try server.start()
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    func write(_ bytes: [UInt8], model: String = "binary", version: Int) throws {
        try Self.write(bytes, to: "\(root)/\(model)/\(version)/model.json")
    }

    func remove(_ relative: String) throws {
        try FileManager.default.removeItem(atPath: "\(root)/\(relative)")
    }

    /// Two polls: what a poll finds is loaded on the next one, once its file has held still.
    func pollTwice() {
        service.pollRepository()
        service.pollRepository()
    }

    /// One request on a fresh connection.
    func send(_ method: String, _ path: String, body: String? = nil) throws -> TestClient.Response {
        let client = try TestClient(port: server.port)
        defer { client.closeNow() }
        if let body {
            try client.send(post(path, Array(body.utf8)))
        } else {
            try client.send("\(method) \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
        }
        return try client.readResponse()
    }

    func json(_ method: String, _ path: String, body: String? = nil) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(try send(method, path, body: body).body))
    }

    /// The index as `name/version: state`.
    func states() throws -> [String: String] {
        let index = try json("POST", "/v2/repository/index", body: "") as? [[String: Any]] ?? []
        var states: [String: String] = [:]
        for entry in index {
            states["\(entry["name"]!)/\(entry["version"] ?? "-")"] = entry["state"] as? String
        }
        return states
    }

    func reason(_ model: String, _ version: Int) throws -> String {
        let index = try json("POST", "/v2/repository/index", body: "") as? [[String: Any]] ?? []
        return index.first { $0["name"] as? String == model && $0["version"] as? String == "\(version)" }?["reason"]
            as? String ?? ""
    }

    /// The version that answers `POST /models/{model}/predict` for a test digit.
    func answeringVersion(_ model: String = "binary") throws -> String? {
        let response = try send("POST", "/models/\(model)/predict", body: Self.digit)
        guard response.status == 200 else { return nil }
        return response.header("Model-Version")
    }

    static let pixels = "[" + TestDigits.flat(0).map { "\($0)" }.joined(separator: ",") + "]"
    static let digit = #"{"pixels":"# + pixels + "}"

    func stop() {
        service.stopWatching()
        server.shutdownNow()
        server.waitUntilStopped()
        try? FileManager.default.removeItem(atPath: root)
    }
}

@Suite("The model repository: layout, policies, polls, the repository API", .serialized)
struct ModelRepositoryTests {
    @Test("Triton's layout: folders that are not versions or model names are ignored; every model serves")
    func layout() throws {
        let harness = try RepositoryHarness(versions: ["binary": [1, 3], "other": [2]]) { root, _ in
            for junk in ["binary/0", "binary/01", "binary/-1", "binary/abc", "binary/7", "bad name", ".hidden"] {
                try! FileManager.default.createDirectory(atPath: "\(root)/\(junk)", withIntermediateDirectories: true)
            }
            try! Data("not a folder".utf8).write(to: URL(fileURLWithPath: "\(root)/README"))
        }
        defer { harness.stop() }
        #expect(try harness.states() == ["binary/3": "READY", "other/2": "READY"])
        #expect(try harness.answeringVersion() == "3")
        #expect(
            try harness.send("POST", "/models/binary/versions/1/predict", body: RepositoryHarness.digit).status == 404)
        let original = try harness.send("POST", "/predict", body: RepositoryHarness.digit)
        #expect(original.status == 200)
        #expect(original.header("Model-Name") == "binary")
        #expect(original.header("Model-Version") == "3")
        let other = try harness.send("POST", "/v2/models/other/versions/2/infer", body: InferenceBody.one)
        #expect(other.status == 200, "\(other.text)")
        #expect(other.text.contains(#""model_name":"other","model_version":"2""#))
        let list = try harness.json("GET", "/models") as? [String: Any]
        #expect(list?["default_model"] as? String == "binary")
        #expect((list?["models"] as? [[String: Any]])?.map { $0["name"] as? String } == ["binary", "other"])
    }

    @Test(
        "version policies in Triton's words choose the versions served",
        arguments: [
            (#"{"version_policy": {"latest": {"num_versions": 2}}}"#, ["2", "3"]),
            (#"{"version_policy": {"all": {}}, "max_batch_size": 8}"#, ["1", "2", "3"]),
            (#"{"version_policy": {"specific": {"versions": [1, 3, 9]}}}"#, ["1", "3"]),
            (#"{}"#, ["3"]),
        ])
    func policies(config: String, served: [String]) throws {
        let harness = try RepositoryHarness(versions: ["binary": [1, 2, 3]]) { root, _ in
            try! Data(config.utf8).write(to: URL(fileURLWithPath: "\(root)/binary/config.json"))
        }
        defer { harness.stop() }
        let metadata = try harness.json("GET", "/v2/models/binary") as? [String: Any]
        #expect(metadata?["versions"] as? [String] == served)
        for version in ["1", "2", "3"] {
            let status = try harness.send("GET", "/v2/models/binary/versions/\(version)/ready").status
            #expect(status == (served.contains(version) ? 200 : 404), "version \(version)")
        }
    }

    @Test(
        "a config.json that cannot be used says why, naming the file, and in none mode start-up fails",
        arguments: [
            (#"{"version_policy": {"latest": {"num_versions": 0}}}"#, "num_versions must be at least 1"),
            (#"{"version_policy": {"newest": {}}}"#, "version_policy.newest is not a known field"),
            (#"{"version_policy": {"all": {}, "latest": {"num_versions": 1}}}"#, "must hold exactly one of"),
            (#"{"version_policy": "#, "is not JSON"),
        ])
    func brokenConfig(config: String, message: String) throws {
        #expect {
            try RepositoryHarness { root, _ in
                try! Data(config.utf8).write(to: URL(fileURLWithPath: "\(root)/binary/config.json"))
            }
        } throws: { error in
            "\(error)".contains("config.json") && "\(error)".contains(message)
        }
    }

    @Test("poll: a new version is loaded once its file held still, the old one retired; removing it rolls back")
    func pollRollOutAndBack() throws {
        let harness = try RepositoryHarness(mode: .poll)
        defer { harness.stop() }
        #expect(try harness.answeringVersion() == "1")
        try harness.write(RepositoryHarness.binaryBytes, version: 2)
        harness.service.pollRepository()
        // Seen once: it may still be being copied.
        #expect(try harness.answeringVersion() == "1")
        harness.service.pollRepository()
        #expect(try harness.answeringVersion() == "2")
        #expect(try harness.states() == ["binary/1": "UNAVAILABLE", "binary/2": "READY"])
        try harness.remove("binary/2")
        harness.service.pollRepository()
        #expect(try harness.answeringVersion() == "1")
        #expect(try harness.states() == ["binary/1": "READY"])
    }

    @Test(
        "a broken version never serves: the old one keeps answering, the index says why, fixing the file loads it",
        arguments: ["truncated", "NaN weight", "half-copied", "empty"])
    func brokenVersion(kind: String) throws {
        let harness = try RepositoryHarness(mode: .poll)
        defer { harness.stop() }
        let bytes = RepositoryHarness.binaryBytes
        let broken: [UInt8] =
            switch kind {
            case "truncated": Array(bytes.prefix(bytes.count - 10))
            case "NaN weight": RepositoryHarness.nanWeightBytes
            case "half-copied": Array(bytes.prefix(bytes.count / 2))
            default: []
            }
        try harness.write(broken, version: 2)
        harness.pollTwice()
        #expect(try harness.answeringVersion() == "1")
        #expect(try harness.states() == ["binary/1": "READY", "binary/2": "UNAVAILABLE"])
        let reason = try harness.reason("binary", 2)
        #expect(reason.contains("binary/2/model.json"), "\(reason)")
        #expect(reason.contains(kind == "NaN weight" ? "is NaN" : "not a JSON model file"), "\(reason)")
        #expect(try harness.reason("binary", 1).contains("kept serving"))
        let metrics = String(decoding: try harness.send("GET", "/metrics").body, as: UTF8.self)
        #expect(metrics.contains(#"digits_model_load_failures_total{model="binary"} 1"#))
        // Not tried again while the file is unchanged; loaded once it is whole.
        harness.pollTwice()
        #expect(metrics.contains(#"digits_model_load_failures_total{model="binary"} 1"#))
        try harness.write(bytes, version: 2)
        harness.pollTwice()
        #expect(try harness.answeringVersion() == "2")
        #expect(try harness.states() == ["binary/1": "UNAVAILABLE", "binary/2": "READY"])
    }

    @Test("a version being written is not loaded until two polls see the same file")
    func fileStillChanging() throws {
        let harness = try RepositoryHarness(mode: .poll)
        defer { harness.stop() }
        let bytes = RepositoryHarness.binaryBytes
        // The copy grows between every poll: never loaded, never refused.
        for fraction in 1...4 {
            try harness.write(Array(bytes.prefix(bytes.count * fraction / 5)), version: 2)
            harness.service.pollRepository()
            #expect(try harness.states()["binary/2"] == nil)
        }
        try harness.write(bytes, version: 2)
        harness.pollTwice()
        #expect(try harness.answeringVersion() == "2")
        #expect(
            String(decoding: try harness.send("GET", "/metrics").body, as: UTF8.self).contains("load_failures") == false
        )
    }

    @Test("explicit: the API loads and unloads; the index shows models not loaded")
    func explicitMode() throws {
        let harness = try RepositoryHarness(versions: ["binary": [1], "other": [1]], mode: .explicit) {
            _, configuration in
            configuration.loadModels = ["binary"]
        }
        defer { harness.stop() }
        #expect(try harness.states() == ["binary/1": "READY", "other/-": "UNAVAILABLE"])
        #expect(try harness.send("POST", "/models/other/predict", body: RepositoryHarness.digit).status == 404)
        let load = try harness.send("POST", "/v2/repository/models/other/load", body: "")
        #expect(load.status == 200, "\(load.text)")
        #expect(try harness.answeringVersion("other") == "1")
        try harness.write(RepositoryHarness.binaryBytes, model: "other", version: 2)
        // No poll in explicit mode: version 2 serves only after the next load.
        harness.service.pollRepository()
        #expect(try harness.answeringVersion("other") == "1")
        _ = try harness.send("POST", "/v2/repository/models/other/load", body: "{}")
        #expect(try harness.answeringVersion("other") == "2")
        let unload = try harness.send(
            "POST", "/v2/repository/models/other/unload", body: #"{"parameters":{"unload_dependents":false}}"#)
        #expect(unload.status == 200, "\(unload.text)")
        #expect(try harness.answeringVersion("other") == nil)
        #expect(try harness.states()["other/2"] == "UNAVAILABLE")
        #expect(try harness.reason("other", 2) == "unloaded")
        // The default model unloaded: the health check says so.
        _ = try harness.send("POST", "/v2/repository/models/binary/unload", body: "")
        #expect(try harness.send("GET", "/model").status == 503)
        #expect(try harness.send("POST", "/predict", body: RepositoryHarness.digit).status == 503)
        _ = try harness.send("POST", "/v2/repository/models/binary/load", body: "")
        #expect(try harness.send("GET", "/model").status == 200)
    }

    @Test(
        "repository calls that cannot be done are 400s that say why",
        arguments: [
            ("/v2/repository/models/../load", "", "cannot name a model"),
            ("/v2/repository/models/.hidden/load", "", "cannot name a model"),
            ("/v2/repository/models/a%2F..%2Fb/load", "", "cannot name a model"),
            ("/v2/repository/models/nothing/load", "", "the repository has no model 'nothing'"),
            (
                "/v2/repository/models/binary/load", #"{"parameters":{"file:1/model.json":"e30="}}"#,
                "cannot be uploaded"
            ),
            ("/v2/repository/models/binary/load", #"{"parameters":{"config":"{}"}}"#, "cannot be uploaded"),
            ("/v2/repository/models/binary/load", #"{"parameters":{"priority":1}}"#, "not a parameter"),
            ("/v2/repository/models/binary/load", #"{"other":1}"#, "not a known field"),
            ("/v2/repository/models/binary/load", #"{"#, "not JSON"),
            ("/v2/repository/models/nothing/unload", "", "no model 'nothing' is known here"),
            ("/v2/repository/index", #"{"ready": "yes"}"#, "ready must be true or false"),
        ])
    func refusedRepositoryCalls(path: String, body: String, message: String) throws {
        let harness = try RepositoryHarness(mode: .explicit)
        defer { harness.stop() }
        let response = try harness.send("POST", path, body: body)
        #expect(response.status == 400, "\(response.text)")
        #expect(response.text.contains(message), "\(response.text)")
        #expect(try harness.answeringVersion() == "1")
    }

    @Test(
        "outside explicit mode, load and unload are refused naming the flag; the index answers",
        arguments: [
            ModelControlMode.none, .poll,
        ])
    func loadRefusedOutsideExplicit(mode: ModelControlMode) throws {
        let harness = try RepositoryHarness(mode: mode)
        defer { harness.stop() }
        for action in ["load", "unload"] {
            let response = try harness.send("POST", "/v2/repository/models/binary/\(action)", body: "")
            #expect(response.status == 400)
            #expect(response.text.contains("--model-control explicit"), "\(response.text)")
        }
        #expect(try harness.states() == ["binary/1": "READY"])
        let ready = try harness.json("POST", "/v2/repository/index", body: #"{"ready": true}"#) as? [[String: Any]]
        #expect(ready?.count == 1)
        #expect(try harness.send("GET", "/v2/").status == 200)
    }

    @Test(
        "hostile files: a FIFO, a device link or an oversized file where a model or config should be is refused, never read"
    )
    func hostileFiles() throws {
        let harness = try RepositoryHarness(mode: .poll)
        defer { harness.stop() }
        let root = harness.root
        try FileManager.default.createDirectory(atPath: "\(root)/binary/2", withIntermediateDirectories: true)
        #expect(mkfifo("\(root)/binary/2/model.json", 0o600) == 0)
        try FileManager.default.createDirectory(atPath: "\(root)/binary/3", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: "\(root)/binary/3/model.json", withDestinationPath: "/dev/zero")
        // A sparse file one byte over the limit: its size is refused before a byte is read.
        let large = "\(root)/binary/4/model.json"
        try RepositoryHarness.write([], to: large)
        #expect(truncate(large, off_t(ModelRepository.maximumModelFileBytes + 1)) == 0)
        harness.pollTwice()
        // The FIFO and the device are not regular files: the scan ignores them, and the largest version
        // that is a file was refused for its size, leaving version 1 serving.
        #expect(try harness.answeringVersion() == "1")
        #expect(try harness.states()["binary/4"] == "UNAVAILABLE")
        #expect(try harness.reason("binary", 4).contains("more than the 16777216 a file may have here"))
        // config.json as a FIFO: refused without blocking the poll.
        #expect(mkfifo("\(root)/binary/config.json", 0o600) == 0)
        harness.pollTwice()
        #expect(try harness.answeringVersion() == "1")
        let list = try harness.json("GET", "/models") as? [String: Any]
        let binary = (list?["models"] as? [[String: Any]])?.first
        #expect((binary?["reason"] as? String)?.contains("not a regular file") == true, "\(String(describing: binary))")
    }

    @Test("latest 2 with a broken newest version keeps the two before it serving")
    func latestTwoKeepsServing() throws {
        let harness = try RepositoryHarness(versions: ["binary": [1, 2]], mode: .poll) { root, _ in
            try! Data(#"{"version_policy": {"latest": {"num_versions": 2}}}"#.utf8)
                .write(to: URL(fileURLWithPath: "\(root)/binary/config.json"))
        }
        defer { harness.stop() }
        try harness.write(RepositoryHarness.nanWeightBytes, version: 3)
        harness.pollTwice()
        #expect(try harness.states() == ["binary/1": "READY", "binary/2": "READY", "binary/3": "UNAVAILABLE"])
        try harness.write(RepositoryHarness.binaryBytes, version: 3)
        harness.pollTwice()
        #expect(try harness.states() == ["binary/1": "UNAVAILABLE", "binary/2": "READY", "binary/3": "READY"])
    }

    @Test("a model folder that disappears is retired after two polls, not one")
    func modelFolderRemoved() throws {
        let harness = try RepositoryHarness(versions: ["binary": [1], "other": [1]], mode: .poll)
        defer { harness.stop() }
        try harness.remove("other")
        harness.service.pollRepository()
        #expect(try harness.answeringVersion("other") == "1")
        harness.service.pollRepository()
        #expect(try harness.answeringVersion("other") == nil)
        #expect(try harness.states() == ["binary/1": "READY"])
    }

    @Test(
        "explicit load: a wanted version that fails is a 400 naming it, the old one keeps serving; a second load meanwhile is a 409"
    )
    func explicitLoadFailures() throws {
        let harness = try RepositoryHarness(versions: ["binary": [1]], mode: .explicit)
        defer { harness.stop() }
        try harness.write(RepositoryHarness.nanWeightBytes, version: 2)
        let failed = try harness.send("POST", "/v2/repository/models/binary/load", body: "")
        #expect(failed.status == 400)
        #expect(failed.text.contains("version 2:") && failed.text.contains("is NaN"), "\(failed.text)")
        #expect(failed.text.contains("still serving: version 1"), "\(failed.text)")
        #expect(try harness.answeringVersion() == "1")
        // The ten-class CNN takes a second or more to evaluate with its robustness table (nine passes over the
        // test split): a load sent meanwhile is refused.
        try RepositoryHarness.write(
            try FileIO.read(ServiceHarness.path("data/models/ten-class/2/model.json")),
            to: "\(harness.root)/ten/1/model.json")
        let slow = DispatchQueue.global()
        let first = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var firstStatus = 0
        slow.async {
            firstStatus = (try? harness.send("POST", "/v2/repository/models/ten/load", body: ""))?.status ?? 0
            first.signal()
        }
        // Until the index shows the load under way (a fixed pause was too short on a busy machine, where
        // the load's low-priority thread waits for a core).
        var sawLoading = false
        for _ in 0..<500 where !sawLoading {
            sawLoading = try harness.send("POST", "/v2/repository/index", body: "").text.contains("\"LOADING\"")
            if !sawLoading { usleep(10_000) }
        }
        #expect(sawLoading, "the index showed the load under way")
        let busy = try harness.send("POST", "/v2/repository/models/binary/load", body: "")
        first.wait()
        #expect(firstStatus == 200)
        #expect(busy.status == 409, "\(busy.text)")
        #expect(busy.header("Retry-After") == "1")
        #expect(try harness.answeringVersion("ten") == "1")
    }

    @Test("readiness: /v2/health/ready is 503 while a model that should serve has no ready version")
    func readiness() throws {
        let harness = try RepositoryHarness(versions: ["binary": [1]], mode: .poll)
        defer { harness.stop() }
        #expect(try harness.send("GET", "/v2/health/ready").status == 200)
        try harness.write(RepositoryHarness.nanWeightBytes, model: "broken", version: 1)
        harness.pollTwice()
        #expect(try harness.send("GET", "/v2/health/ready").status == 503)
        #expect(try harness.send("GET", "/v2/models/broken/ready").status == 404)
        #expect(try harness.send("GET", "/model").status == 200, "the default model still serves")
        try harness.write(RepositoryHarness.binaryBytes, model: "broken", version: 1)
        harness.pollTwice()
        #expect(try harness.send("GET", "/v2/health/ready").status == 200)
        #expect(try harness.send("GET", "/v2/models/broken/ready").status == 200)
    }

    @Test(
        "explicit: once the broken version is removed, a load succeeds and no stale reason stays; a failed load does not hold readiness"
    )
    func explicitRecovery() throws {
        let harness = try RepositoryHarness(versions: ["binary": [1]], mode: .explicit)
        defer { harness.stop() }
        try harness.write(RepositoryHarness.nanWeightBytes, version: 2)
        #expect(try harness.send("POST", "/v2/repository/models/binary/load", body: "").status == 400)
        #expect(try harness.reason("binary", 1).contains("kept serving"))
        try harness.remove("binary/2")
        let retry = try harness.send("POST", "/v2/repository/models/binary/load", body: "")
        #expect(retry.status == 200, "\(retry.text)")
        #expect(try harness.reason("binary", 1) == "")
        #expect(try harness.states() == ["binary/1": "READY"])
        // A model whose only version is broken: the load fails, readiness does not wait for it.
        try harness.write(RepositoryHarness.nanWeightBytes, model: "broken", version: 1)
        #expect(try harness.send("POST", "/v2/repository/models/broken/load", body: "").status == 400)
        #expect(try harness.send("GET", "/v2/health/ready").status == 200)
    }

    @Test("a cross-origin page cannot load or unload models unless --cors-origins allows it")
    func crossOriginRefused() throws {
        let harness = try RepositoryHarness(mode: .explicit)
        defer { harness.stop() }
        let client = try TestClient(port: harness.server.port)
        defer { client.closeNow() }
        try client.send(post("/v2/repository/models/binary/unload", [], headers: "Origin: http://evil.example\r\n"))
        let response = try client.readResponse()
        #expect(response.status == 403)
        #expect(response.text.contains("--cors-origins"), "\(response.text)")
        #expect(try harness.answeringVersion() == "1")
        // Allowing every origin for reading is not allowing every page to unload models.
        let open = try RepositoryHarness(mode: .explicit) { _, configuration in
            configuration.http.cors = CORSPolicy(allowedOrigins: ["*"])
        }
        defer { open.stop() }
        let other = try TestClient(port: open.server.port)
        defer { other.closeNow() }
        try other.send(post("/v2/repository/models/binary/unload", [], headers: "Origin: http://evil.example\r\n"))
        #expect(try other.readResponse().status == 403)
        #expect(try open.answeringVersion() == "1")
    }

    @Test(
        "start-up in none mode fails for an empty model folder and for a default model that is not there",
        arguments: [("binary", "holds no version"), ("other", "the default model 'nine' has no ready version")])
    func noneModeStartupFailures(emptyModel: String, message: String) throws {
        #expect {
            try RepositoryHarness(versions: ["other": [1]]) { root, configuration in
                try! FileManager.default.createDirectory(
                    atPath: "\(root)/\(emptyModel)", withIntermediateDirectories: true)
                if emptyModel == "other" { configuration.defaultModel = "nine" }
            }
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test("swaps under load: every request answered 200 by a version published at that moment")
    func swapsUnderLoad() throws {
        let harness = try RepositoryHarness(mode: .poll)
        defer { harness.stop() }
        let port = harness.server.port
        let load = LoadRecord()
        // Four keep-alive clients on threads of their own, sending as fast as they are answered and
        // recording every status and version.
        let group = DispatchGroup()
        for _ in 0..<4 {
            DispatchQueue.global().async(group: group) {
                guard let client = try? TestClient(port: port, timeoutSeconds: 30) else {
                    load.record("connect failed")
                    return
                }
                defer { client.closeNow() }
                while !load.stopped {
                    do {
                        try client.send(post("/models/binary/predict", Array(RepositoryHarness.digit.utf8)))
                        let response = try client.readResponse()
                        load.record(
                            response.status == 200 ? response.header("Model-Version") ?? "none" : "\(response.status)")
                    } catch {
                        load.record("\(error)")
                        return
                    }
                }
            }
        }
        for version in 2...6 {
            load.waitForMore(50)
            try harness.write(RepositoryHarness.binaryBytes, version: version)
            harness.pollTwice()
            #expect(try harness.answeringVersion() == "\(version)")
            try harness.remove("binary/\(version - 1)")
        }
        load.waitForMore(50)
        load.stop()
        group.wait()
        harness.service.pollRepository()
        let counts = load.counts
        #expect(Set(counts.keys).isSubset(of: ["1", "2", "3", "4", "5", "6"]), "\(counts)")
        #expect(counts.values.reduce(0, +) >= 300, "\(counts)")
        #expect(try harness.states() == ["binary/6": "READY"])
    }
}

/// What the load of ``ModelRepositoryTests/swapsUnderLoad()`` saw, shared by its threads.
final class LoadRecord: Sendable {
    private let seen = Mutex<[String: Int]>([:])
    private let flag = StopFlag()
    var stopped: Bool { flag.isSet }
    var counts: [String: Int] { seen.withLock { $0 } }
    func record(_ outcome: String) { seen.withLock { $0[outcome, default: 0] += 1 } }
    func stop() { flag.set() }

    /// Waits (up to 60 s) until `count` more answers have come.
    func waitForMore(_ count: Int) {
        let target = counts.values.reduce(0, +) + count
        for _ in 0..<6000 where counts.values.reduce(0, +) < target { usleep(10_000) }
    }
}

/// A flag that one task sets and others read.
final class StopFlag: Sendable {
    private let flag = Atomic(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// An inference-protocol body for one test digit.
enum InferenceBody {
    static let one =
        #"{"inputs":[{"name":"pixels","datatype":"FP32","shape":[1,400],"data":"# + RepositoryHarness.pixels + "}]}"
}
