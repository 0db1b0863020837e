import JSON

/// Why a model file was refused: the JSON is broken, or an element of it is wrong, named by its path
/// (`layers[1].weights[6]`) with what was expected.
public enum ModelFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case notJSON(JSONSyntaxError)
    case invalid(path: String, problem: String)

    /// A field of the wrong type or shape, as the JSON reader found it.
    public init(_ error: JSONFieldError) {
        self = .invalid(path: error.path, problem: error.problem)
    }

    public var description: String {
        switch self {
        case .notJSON(let error): "not a JSON model file: \(error)"
        case .invalid(let path, let problem): path.isEmpty ? problem : "\(path): \(problem)"
        }
    }
}
