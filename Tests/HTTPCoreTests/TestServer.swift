import Foundation
import HTTPCore
import Logging
import LoopbackClient
import Testing

/// A server on 127.0.0.1 and an ephemeral port with a few test routes; stopped by `stop()`.
struct TestServer {
    let server: HTTPServer
    var port: Int { server.port }

    init(
        configure: (inout HTTPServerConfiguration) -> Void = { _ in }, extraRoutes: (inout Router) -> Void = { _ in }
    ) throws {
        var configuration = HTTPServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configure(&configuration)
        var router = Router()
        router.get("/hello") { _ in HTTPResponse(contentType: "text/plain", body: Array("hello".utf8)) }
        router.post("/echo") { request in HTTPResponse(contentType: "application/octet-stream", body: request.body) }
        router.get("/items/{id}") { request in
            HTTPResponse(contentType: "text/plain", body: Array("item \(request.pathParameters["id"] ?? "")".utf8))
        }
        router.get("/request-id") { request in
            HTTPResponse(contentType: "text/plain", body: Array(request.requestID.utf8))
        }
        router.get("/fail") { _ in throw CancellationError() }
        extraRoutes(&router)
        let routes = router
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        // The router itself is the responder, so that routes marked inline do run on the loop.
        server = HTTPServer(configuration: configuration, logger: logger, responder: routes)
        try server.start()
    }

    func stop() {
        server.shutdownNow()
        server.waitUntilStopped()
    }
}
