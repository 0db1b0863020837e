import HTTPCore
import JSON

/// The service's errors: each an ``HTTPError`` with a stable code and a message that says what to fix.
/// Where they are written is the route group's choice: `{"error": {"code", "message"}}` for the service's
/// own routes, `{"error": "..."}` for the inference protocol's (``HTTPErrorFormat/inferenceProtocol``).
extension HTTPError {
    /// 400: the body is not JSON.
    static func invalidJSON(_ message: String) -> HTTPError {
        HTTPError(status: .badRequest, code: "invalid_json", message: message)
    }

    /// 415: the body is declared as something other than JSON (or, where `alternatives` says so, the
    /// other bodies the route takes).
    static func unsupportedMediaType(_ contentType: String?, alternatives: String? = nil) -> HTTPError {
        HTTPError(
            status: .unsupportedMediaType, code: "unsupported_media_type",
            message: (contentType.map { "Content-Type '\(echo($0))' is not supported" }
                ?? "the request has no Content-Type")
                + "; send JSON with 'Content-Type: application/json' (curl: -H 'Content-Type: application/json')"
                + (alternatives.map { ", or \($0)" } ?? ""))
    }

    /// 422: well-formed JSON of the wrong overall shape (not an object, missing or unknown fields).
    static func invalidRequest(_ message: String) -> HTTPError {
        HTTPError(status: .unprocessableContent, code: "invalid_request", message: message)
    }

    /// 422: an image that breaks ``ImageInput``'s rules; `invalid_image` when it was sent as rows,
    /// `invalid_pixels` when flat.
    static func invalidImage(_ error: ImageInputError, nested: Bool) -> HTTPError {
        HTTPError(
            status: .unprocessableContent, code: nested ? "invalid_image" : "invalid_pixels", message: error.message)
    }

    /// 413: a body holding more arrays or numbers than `maxImages` images of `rows` x `columns` could need.
    static func tooManyValues(maxImages: Int, rows: Int, columns: Int) -> HTTPError {
        HTTPError(
            status: .contentTooLarge, code: "too_many_values",
            message:
                "the body holds more arrays or numbers than \(maxImages) images of \(rows)x\(columns) need; send at most \(maxImages) images at once"
        )
    }

    /// 413: more images than the batch limit.
    static func batchTooLarge(count: Int, limit: Int) -> HTTPError {
        HTTPError(
            status: .contentTooLarge, code: "batch_too_large",
            message: "the request holds \(count) images; the limit is \(limit): split it into smaller batches")
    }

    /// 400: an inference request the protocol cannot take.
    static func invalidInference(_ message: String) -> HTTPError {
        HTTPError(status: .badRequest, code: "invalid_inference_request", message: message)
    }

    /// 404: a model this server does not serve (now: it may be unloaded, or failed to load).
    static func unknownModel(_ name: String, served: [String]) -> HTTPError {
        HTTPError(
            status: .notFound, code: "model_not_found",
            message: "model '\(echo(name))' is not served here; "
                + (served.isEmpty ? "no model is ready" : "the models served are " + served.joined(separator: ", "))
                + " (GET /models lists every model and why one is not ready)")
    }

    /// 404: a version the model does not serve.
    static func unknownVersion(_ version: String, model: String, ready: [Int]) -> HTTPError {
        HTTPError(
            status: .notFound, code: "model_not_found",
            message: "model '\(model)' has no ready version '\(echo(version))'; its ready versions are "
                + ready.map(String.init).joined(separator: ", "))
    }

    /// 503: the default model has no ready version, so the original endpoints cannot answer.
    static func modelUnavailable(_ name: String) -> HTTPError {
        HTTPError(
            status: .serviceUnavailable, code: "model_unavailable",
            message:
                "the default model '\(name)' has no ready version; GET /models says why, and POST /models/{name}/predict reaches the others"
        )
    }

    /// 400: a repository request the server cannot do (the wrong control mode, a bad name, a load that failed).
    static func repositoryRequest(_ message: String) -> HTTPError {
        HTTPError(status: .badRequest, code: "repository_request_refused", message: message)
    }

    /// 503: draining; a balancer should send the request elsewhere.
    static let notReady = HTTPError(
        status: .serviceUnavailable, code: "not_ready",
        message: "the server is shutting down and takes no new work; retry on another replica")
}

extension HTTPError {
    /// 503: a model that should serve has no ready version (`/v2/health/ready`).
    static let modelsNotReady = HTTPError(
        status: .serviceUnavailable, code: "not_ready",
        message: "a model that should serve has no ready version; POST /v2/repository/index says why")
}

extension HTTPErrorFormat {
    /// The Open Inference Protocol's error body, `{"error": "message"}`, as its clients (Triton's, KServe's)
    /// expect it.
    static let inferenceProtocol = HTTPErrorFormat { error in
        body(.object([JSONMember("error", .string(error.message))]), for: error)
    }
}
