import Glibc

/// A file that could not be read or written, or whose content was refused.
///
/// It carries the path so that every message a user sees names the file at fault.
public struct FileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    /// What went wrong: an operating-system message or the format error that refused the content.
    public let reason: any Error & Sendable

    public init(path: String, reason: any Error & Sendable) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// An operating-system error, with the call that failed and `strerror`'s text.
public struct SystemError: Error, CustomStringConvertible, Equatable, Sendable {
    public let operation: String
    public let code: Int32

    public var description: String { "\(operation) failed: \(String(cString: strerror(code)))" }
}

/// A file that is not one ``FileIO/read(_:maxBytes:)`` reads: not a regular file, or too large.
public enum FileSizeError: Error, CustomStringConvertible, Equatable, Sendable {
    case notRegular
    case tooLarge(size: Int, limit: Int)

    public var description: String {
        switch self {
        case .notRegular: "not a regular file (a FIFO, a device or a socket); give a file"
        case .tooLarge(let size, let limit): "\(size) bytes is more than the \(limit) a file may have here"
        }
    }
}

/// Whole-file reads and atomic writes with plain POSIX calls.
///
/// Foundation's `Data(contentsOf:)` reports failures as Cocoa errors whose text varies by platform;
/// these helpers give the user the errno message ("No such file or directory") and the path.
public enum FileIO {
    /// For a relative `path` that does not exist: where it was looked for and which `flag` sets it, to
    /// append to the error; empty otherwise. The default paths (`data/...`) are relative, so digits started
    /// from another folder finds nothing, and "No such file or directory" alone does not say why.
    public static func missingRelativePathHint(_ path: String, flag: String) -> String {
        // Only for a path that is not there (not one that is there but unreadable, or too long).
        guard !path.isEmpty, !path.hasPrefix("/"), access(path, F_OK) != 0, errno == ENOENT || errno == ENOTDIR
        else { return "" }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let folder = getcwd(&buffer, buffer.count).map { String(cString: $0) } ?? "the working folder"
        return
            "; \(path) was looked for in \(folder), since a relative path is read from the folder digits runs in: run it from the project's top folder, or give \(flag) an absolute path"
    }

    /// Reads a whole file into memory, at most `maxBytes` of it (a larger file is refused).
    ///
    /// With `regularFileOnly`, the file is opened without blocking and must be a regular file: for files
    /// that nobody chose on a command line (a model repository's), where a FIFO or a device left behind
    /// (`/dev/zero`, a named pipe nobody writes) would block the open forever or never end. Without it, a
    /// pipe or `/dev/stdin` given to a command is read to its end, as before.
    public static func read(
        _ path: String, maxBytes: Int = .max, regularFileOnly: Bool = false
    ) throws(FileError)
        -> [UInt8]
    {
        let fd = open(path, O_RDONLY | O_CLOEXEC | (regularFileOnly ? O_NONBLOCK : 0))
        guard fd >= 0 else { throw FileError(path: path, reason: SystemError(operation: "open", code: errno)) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw FileError(path: path, reason: SystemError(operation: "stat", code: errno))
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw FileError(path: path, reason: SystemError(operation: "read", code: EISDIR))
        }
        if regularFileOnly && (info.st_mode & S_IFMT) != S_IFREG {
            throw FileError(path: path, reason: FileSizeError.notRegular)
        }
        guard Int(info.st_size) <= maxBytes else {
            throw FileError(path: path, reason: FileSizeError.tooLarge(size: Int(info.st_size), limit: maxBytes))
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(0, Int(info.st_size)))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, reason: SystemError(operation: "read", code: errno))
            }
            if count == 0 { return bytes }
            // A file that grows while it is read is held to the same limit.
            guard bytes.count + count <= maxBytes else {
                throw FileError(path: path, reason: FileSizeError.tooLarge(size: bytes.count + count, limit: maxBytes))
            }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    /// Writes a whole file through a temporary file and a rename, so readers never see half a file.
    public static func write(_ bytes: [UInt8], to path: String) throws(FileError) {
        let temporary = path + ".partial-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(path: path, reason: SystemError(operation: "open", code: errno)) }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                let code = errno
                close(fd)
                unlink(temporary)
                throw FileError(path: path, reason: SystemError(operation: "write", code: code))
            }
            written += count
        }
        guard close(fd) == 0 else {
            let code = errno
            unlink(temporary)
            throw FileError(path: path, reason: SystemError(operation: "close", code: code))
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw FileError(path: path, reason: SystemError(operation: "rename", code: code))
        }
    }
}
