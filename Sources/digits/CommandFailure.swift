import ArgumentParser
import DigitCore

/// A failure to report as one line on standard error, with exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Refuses a `--name` that cannot name a model (in URLs and metrics), with the rule.
func checkModelName(_ name: String?) throws {
    if let name, !Model.isValidName(name) {
        throw ValidationError("--name must be 1 to 64 letters, digits, '.', '_' or '-'; got '\(name)'")
    }
}

/// Runs `body`; when it fails and `path` is relative and missing, the error says where it was looked for
/// and that `flag` sets it (the defaults are relative to the folder digits runs in).
func withPathHint<Result>(_ path: String, flag: String, _ body: () throws -> Result) throws -> Result {
    do {
        return try body()
    } catch let error as ValidationError {
        throw error
    } catch let error as ExitCode {
        throw error
    } catch {
        let hint = FileIO.missingRelativePathHint(path, flag: flag)
        guard !hint.isEmpty else { throw error }
        throw CommandFailure("\(error)\(hint)")
    }
}
