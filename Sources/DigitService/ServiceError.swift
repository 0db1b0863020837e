import HTTPCore

/// A client's mistake in a request to the service: an HTTP status, a stable code and a message that says
/// what to fix. Rendered as `{"error": {"code": ..., "message": ...}}`.
public struct ServiceError: HTTPResponseError, Equatable, Sendable {
    public let status: HTTPStatus
    public let code: String
    public let message: String

    public init(status: HTTPStatus, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// 400: the body is not JSON.
    static func invalidJSON(_ message: String) -> ServiceError {
        ServiceError(status: .badRequest, code: "invalid_json", message: message)
    }

    /// 415: the body is declared as something other than JSON.
    static func unsupportedMediaType(_ contentType: String?) -> ServiceError {
        ServiceError(
            status: .unsupportedMediaType, code: "unsupported_media_type",
            message: (contentType.map { "Content-Type '\($0)' is not supported" } ?? "the request has no Content-Type")
                + "; send JSON with 'Content-Type: application/json' (curl: -H 'Content-Type: application/json')")
    }

    /// 422: well-formed JSON of the wrong overall shape (not an object, missing or unknown fields).
    static func invalidRequest(_ message: String) -> ServiceError {
        ServiceError(status: .unprocessableContent, code: "invalid_request", message: message)
    }

    /// 422: a flat pixel array of the wrong length or with a value that is not a finite number.
    static func invalidPixels(_ message: String) -> ServiceError {
        ServiceError(status: .unprocessableContent, code: "invalid_pixels", message: message)
    }

    /// 422: a nested image of the wrong shape or with a value that is not a finite number.
    static func invalidImage(_ message: String) -> ServiceError {
        ServiceError(status: .unprocessableContent, code: "invalid_image", message: message)
    }

    /// 413: a body holding more arrays or numbers than `maxImages` images of `rows` x `columns` could need.
    static func tooManyValues(maxImages: Int, rows: Int, columns: Int) -> ServiceError {
        ServiceError(
            status: .contentTooLarge, code: "too_many_values",
            message:
                "the body holds more arrays or numbers than \(maxImages) images of \(rows)x\(columns) need; send at most \(maxImages) images at once"
        )
    }

    /// 413: more images than the batch limit.
    static func batchTooLarge(count: Int, limit: Int) -> ServiceError {
        ServiceError(
            status: .contentTooLarge, code: "batch_too_large",
            message: "the batch holds \(count) images; the limit is \(limit): split it into smaller batches")
    }
}
