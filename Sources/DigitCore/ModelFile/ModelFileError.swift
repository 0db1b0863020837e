/// Why a model file was refused: the JSON is broken, or an element of it is wrong, named by its path
/// (`layers[1].weights[6]`) with what was expected.
public enum ModelFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case notJSON(JSONSyntaxError)
    case invalid(path: String, problem: String)

    public var description: String {
        switch self {
        case .notJSON(let error): "not a JSON model file: \(error)"
        case .invalid(let path, let problem): path.isEmpty ? problem : "\(path): \(problem)"
        }
    }
}
