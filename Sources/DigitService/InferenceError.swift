import HTTPCore

/// An error of the inference protocol, answered as `{"error": "..."}` as the protocol's clients expect.
enum InferenceError: HTTPResponseError, Equatable {
    case invalid(String)
    case tooLarge(count: Int, limit: Int)
    case unknownModel(String, served: String)
    case unknownVersion(String, model: String)
    case unavailable

    var status: HTTPStatus {
        switch self {
        case .invalid: .badRequest
        case .tooLarge: .contentTooLarge
        case .unknownModel, .unknownVersion: .notFound
        case .unavailable: .serviceUnavailable
        }
    }

    var code: String {
        switch self {
        case .invalid: "invalid_inference_request"
        case .tooLarge: "batch_too_large"
        case .unknownModel, .unknownVersion: "model_not_found"
        case .unavailable: "not_ready"
        }
    }

    var message: String {
        switch self {
        case .invalid(let message): message
        case .tooLarge(let count, let limit): "the request holds \(count) images; the limit is \(limit): split it"
        case .unknownModel(let name, let served): "model '\(name)' is not served here; this server serves '\(served)'"
        case .unknownVersion(let version, let model):
            "model '\(model)' has no version '\(version)'; its only version is 1"
        case .unavailable: "the server is shutting down and takes no new work; retry on another replica"
        }
    }
}
