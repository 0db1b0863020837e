import Glibc

/// A failed socket call: which call, and the errno it left.
public struct SocketError: Error, Equatable, Sendable, CustomStringConvertible {
    public let operation: String
    public let code: Int32

    public init(operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }

    public var description: String { "\(operation) failed: \(String(cString: strerror(code))) (errno \(code))" }

    /// Runs a system call, retrying on `EINTR`, and turns a −1 result into an error naming the call.
    @discardableResult
    static func check<Result: BinaryInteger>(_ operation: String, _ call: () -> Result) throws(SocketError) -> Result {
        while true {
            let result = call()
            if result != -1 { return result }
            let code = errno
            if code == EINTR { continue }
            throw SocketError(operation: operation, code: code)
        }
    }
}
