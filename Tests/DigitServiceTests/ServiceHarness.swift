import DigitCore
import DigitService
import Foundation
import HTTPCore
import Logging

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A live service on 127.0.0.1 and an ephemeral port, spoken to with URLSession (a real HTTP client).
final class ServiceHarness: @unchecked Sendable {
    let service: DigitService
    let server: HTTPServer
    let session: URLSession

    static let projectFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func path(_ relative: String) -> String { projectFolder.appendingPathComponent(relative).path }

    /// The file of a bundled model's highest version (`ten-class` is the CNN, version 2).
    static func bundledModel(_ model: String) -> String {
        let folder = path("data/models/\(model)")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.compactMap(Int.init) ?? []
        return "\(folder)/\(versions.max() ?? 1)/model.json"
    }

    init(model: String = "binary", configure: (inout ServiceConfiguration) -> Void = { _ in }) throws {
        var configuration = ServiceConfiguration()
        configuration.source = .file(Self.bundledModel(model))
        configuration.testImagesPath = Self.path("data/digits-test-X.npy")
        configuration.testLabelsPath = Self.path("data/digits-test-y.npy")
        configuration.http.host = "127.0.0.1"
        configuration.http.port = 0
        configure(&configuration)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        service = try DigitService(configuration: configuration, logger: logger)
        server = service.makeServer(logger: logger)
        try server.start()
        let sessionConfiguration = URLSessionConfiguration.ephemeral
        sessionConfiguration.timeoutIntervalForRequest = 30
        session = URLSession(configuration: sessionConfiguration)
    }

    func stop() {
        server.shutdownNow()
        server.waitUntilStopped()
    }

    struct Reply {
        let status: Int
        let headers: [AnyHashable: Any]
        let body: Data

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
        var errorMessage: String { (json["error"] as? [String: Any])?["message"] as? String ?? "" }
        func header(_ name: String) -> String? {
            headers.first { ($0.key as? String)?.lowercased() == name.lowercased() }?.value as? String
        }
    }

    func request(
        _ method: String, _ path: String, body: Data? = nil, contentType: String? = "application/json",
        headers: [String: String] = [:]
    ) async throws -> Reply {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(server.port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await session.data(for: request)
        let http = response as! HTTPURLResponse
        return Reply(status: http.statusCode, headers: http.allHeaderFields, body: data)
    }

    func post(_ path: String, json: Any) async throws -> Reply {
        try await request("POST", path, body: try JSONSerialization.data(withJSONObject: json))
    }

    func post(_ path: String, text: String) async throws -> Reply {
        try await request("POST", path, body: Data(text.utf8))
    }
}

/// The test split, for sending real digits.
enum TestDigits {
    static let images: LabelledImages = try! LabelledImages.load(
        images: ServiceHarness.path("data/digits-test-X.npy"), labels: ServiceHarness.path("data/digits-test-y.npy"),
        classCount: 10)

    static func pixels(_ index: Int) -> [Float] { Array(images.pixels[index * 400..<(index + 1) * 400]) }

    /// The first test image of `digit`.
    static func first(_ digit: Int) -> Int { images.labels.firstIndex(of: digit)! }

    static func nested(_ index: Int) -> [[Double]] {
        (0..<20).map { row in (0..<20).map { Double(pixels(index)[row * 20 + $0]) } }
    }

    static func flat(_ index: Int) -> [Double] { pixels(index).map(Double.init) }
}
