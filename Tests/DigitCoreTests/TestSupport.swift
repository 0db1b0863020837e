import DigitCore
import Foundation
import Testing

/// The fixtures folder beside this file (written by `Fixtures/make_fixtures.py` with NumPy).
func fixturePath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
}

/// The project's top folder, for the bundled data and models.
func projectPath(_ relative: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(relative).path
}

/// A fresh temporary file path that is removed by the caller.
func temporaryPath(_ suffix: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("digits-test-\(UUID().uuidString)\(suffix)").path
}

/// |a − b| ≤ tolerance·max(|a|, |b|) + absolute, as swift-numerics' `isApproximatelyEqual` (relative with a floor).
func isClose(_ a: Double, _ b: Double, relative: Double = 1e-6, absolute: Double = 1e-9) -> Bool {
    abs(a - b) <= relative * max(abs(a), abs(b)) + absolute
}

/// The reason inside a `FileError`, for tests that expect a specific refusal from a file.
func fileErrorReason<T>(_ body: () throws -> T) -> (any Error)? {
    do {
        _ = try body()
        return nil
    } catch let error as FileError {
        return error.reason
    } catch {
        return error
    }
}

/// Expects `bytes` to be refused as a model file with `path` named and `fragment` in the problem.
func expectModelRefusal(
    _ bytes: [UInt8], path: String, containing fragment: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    do {
        _ = try Model(jsonBytes: bytes)
        Issue.record("expected a refusal", sourceLocation: sourceLocation)
    } catch {
        guard case .invalid(let errorPath, let problem) = error else {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
            return
        }
        #expect(errorPath == path, sourceLocation: sourceLocation)
        #expect(problem.contains(fragment), "\(problem)", sourceLocation: sourceLocation)
    }
}
