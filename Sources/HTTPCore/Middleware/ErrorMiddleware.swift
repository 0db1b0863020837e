import Logging

/// The one point where errors become responses: an ``HTTPError`` is written in the format of the route
/// group that raised it (the server's own outside every group); anything else is logged and answered 500
/// with the request id, so the client can quote it and the operator can find it. A handler's
/// ``HTTPError/serverBusy(_:)`` or `over_memory_budget` (its working set did not fit the memory budget) is
/// told to the observers as a refusal for memory, as the connection's own refusals are.
struct ErrorMiddleware: HTTPMiddleware {
    let serverFormat: HTTPErrorFormat
    let logger: Logger
    let observers: [any HTTPServerObserver]

    func respond(to request: HTTPRequest, next: (HTTPRequest) throws -> HTTPResponse) throws -> HTTPResponse {
        let format = request.errorFormat ?? serverFormat
        do {
            return try next(request)
        } catch let error as HTTPError {
            if error.code == HTTPError.serverBusyCode || error.code == HTTPError.overMemoryBudgetCode {
                for observer in observers { observer.requestRefused(.memory) }
            }
            return format.render(error)
        } catch {
            logger.error(
                "handler failed",
                metadata: ["error": "\(error)", "path": "\(request.path)", "request_id": "\(request.requestID)"])
            return format.render(.internalError(requestID: request.requestID))
        }
    }
}

extension HTTPError {
    /// 500, for an error that is not an ``HTTPError``: the details are logged, not sent.
    static func internalError(requestID: String) -> HTTPError {
        HTTPError(
            status: .internalServerError, code: "internal_error",
            message: "the server failed to answer; the error is logged with request id \(requestID)")
    }
}
