import Logging

/// The one point where errors become responses: an ``HTTPResponseError`` is rendered with its status and
/// message by the application's renderer; anything else is logged and answered 500 with the request id,
/// so the client can quote it and the operator can find it.
struct ErrorMiddleware: HTTPMiddleware {
    let renderer: @Sendable (HTTPError, HTTPRequestHead?) -> HTTPResponse
    let logger: Logger

    func respond(to request: HTTPRequest, next: (HTTPRequest) throws -> HTTPResponse) throws -> HTTPResponse {
        do {
            return try next(request)
        } catch let error as any HTTPResponseError {
            return renderer(HTTPError(error), request.head)
        } catch {
            logger.error(
                "handler failed",
                metadata: ["error": "\(error)", "path": "\(request.path)", "request_id": "\(request.requestID)"])
            return renderer(
                HTTPError(
                    status: .internalServerError, code: "internal_error",
                    message: "the server failed to answer; the error is logged with request id \(request.requestID)"),
                request.head)
        }
    }
}
