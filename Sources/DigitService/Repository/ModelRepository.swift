import DigitCore
import Glibc
import JSON

/// Where the served models come from: a repository folder in Triton's layout
/// (`DIR/<name>/<version>/model.json`, an optional `DIR/<name>/config.json`), or one model file served as
/// version 1 of a model named after the file.
public enum ModelSource: Equatable, Sendable {
    case repository(String)
    case file(String)
}

extension ModelSource {
    /// The name `--model FILE` serves its file under: the file's name without `.json` (`binary.json` is
    /// `binary`); for a `model.json` in a repository's layout, the model folder's (`binary/1/model.json`
    /// is `binary`); `model` when neither is a valid name.
    public static func modelName(forFile path: String) -> String {
        let parts = path.split(separator: "/").map(String.init)
        let file = parts.last ?? path
        let stem = file.hasSuffix(".json") ? String(file.dropLast(5)) : file
        if file == ModelRepository.modelFileName, parts.count >= 3,
            ModelRepository.version(parts[parts.count - 2]) != nil,
            ModelRepository.isModelName(parts[parts.count - 3])
        {
            return parts[parts.count - 3]
        }
        return ModelRepository.isModelName(stem) ? stem : "model"
    }
}

/// One version's file as a scan saw it. Two scans that see the same signature mean that a copy in
/// progress has ended: a version is loaded in `poll` mode only once its signature has held across two
/// polls, so a half-written file is never read.
struct VersionFile: Equatable, Sendable {
    let path: String
    let size: Int
    let modifiedNanoseconds: Int
    /// The inode and the status-change time too: a file replaced by one of the same size and modification
    /// time (`cp -p`, `rsync -a`) still changes them.
    let inode: UInt64
    let changedNanoseconds: Int
}

/// A model's folder as a scan saw it: its versions, its policy, and what is wrong with the folder (a
/// broken `config.json`), if anything.
struct ModelFolder: Sendable {
    let name: String
    var policy = VersionPolicy.default
    /// Why the folder cannot be used as a whole (a broken `config.json`, an unreadable folder, no version
    /// folders); no version of the model is loaded then, and what serves keeps serving.
    var problem: String?
    var versions: [Int: VersionFile] = [:]

    /// The versions the policy wants, with their files.
    var wanted: [Int: VersionFile] {
        guard problem == nil else { return [:] }
        let chosen = Set(policy.wanted(from: Array(versions.keys)))
        return versions.filter { chosen.contains($0.key) }
    }
}

/// What a scan of the source found; `notes` are the entries it ignored, each said once in the log.
struct RepositoryScan: Sendable {
    var models: [String: ModelFolder] = [:]
    var notes: [String] = []
}

/// Reading a model source's layout; no model file is opened here.
enum ModelRepository {
    /// The file a version folder holds.
    static let modelFileName = "model.json"
    static let configFileName = "config.json"
    /// A model file larger than this is refused before it is read: its parse tree takes about ten times its
    /// size, and a replica's memory limit is 512 MiB. The bundled models are 17 KB (int8) to 1.8 MB; 16 MiB
    /// holds about 1.3 million parameters as text, or about 12 million as int8.
    static let maximumModelFileBytes = 16 * 1024 * 1024
    /// The largest version number (Triton's are 64-bit; ours fit in any JSON reader).
    static let maximumVersion = 1 << 53

    /// What a model's name may be, in the words every refusal uses.
    static let nameRule = "1 to 64 letters, digits, '.', '_' or '-', not starting with '.'"

    /// Whether `name` can be a model's folder and name: ``Model/isValidName(_:)`` (letters, digits,
    /// `.`, `_`, `-`, at most 64) and not starting with `.`, so that `.` and `..` never name a model.
    static func isModelName(_ name: String) -> Bool {
        Model.isValidName(name) && !name.hasPrefix(".")
    }

    /// A version folder's name as a number: a positive decimal integer without sign or leading zero.
    static func version(_ folder: String) -> Int? {
        guard let first = folder.utf8.first, first != UInt8(ascii: "0"), folder.utf8.count <= 16,
            folder.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let value = Int(folder), value <= maximumVersion
        else { return nil }
        return value
    }

    /// Every model of `source`. A repository folder that cannot be listed is an error: there is nothing to
    /// serve from it.
    static func scan(_ source: ModelSource) throws(RepositoryError) -> RepositoryScan {
        switch source {
        case .file(let path):
            var scan = RepositoryScan()
            let name = ModelSource.modelName(forFile: path)
            var folder = ModelFolder(name: name)
            // A missing file is still version 1: loading it says what is wrong.
            folder.versions[1] =
                signature(of: path)
                ?? VersionFile(path: path, size: -1, modifiedNanoseconds: -1, inode: 0, changedNanoseconds: -1)
            scan.models[name] = folder
            return scan
        case .repository(let root):
            guard let entries = listFolder(root) else {
                throw RepositoryError("cannot read the model repository \(root): \(String(cString: strerror(errno)))")
            }
            var scan = RepositoryScan()
            for entry in entries where isFolder(root + "/" + entry) {
                guard isModelName(entry) else {
                    if !entry.hasPrefix(".") {
                        scan.notes.append("\(root)/\(entry) ignored: a model's folder name is \(nameRule)")
                    }
                    continue
                }
                scan.models[entry] = scanModel(named: entry, in: root, notes: &scan.notes)
            }
            return scan
        }
    }

    /// One model's folder: its config and its version folders.
    static func scanModel(named name: String, in root: String, notes: inout [String]) -> ModelFolder {
        let folderPath = root + "/" + name
        var folder = ModelFolder(name: name)
        let configPath = folderPath + "/" + configFileName
        if access(configPath, F_OK) == 0 {
            do {
                folder.policy = try VersionPolicy.read(configFile: configPath)
            } catch {
                folder.problem = "\(configPath): \(error)"
            }
        }
        guard let entries = listFolder(folderPath) else {
            folder.problem = "cannot read \(folderPath): \(String(cString: strerror(errno)))"
            return folder
        }
        for entry in entries where isFolder(folderPath + "/" + entry) {
            guard let version = version(entry) else {
                if !entry.hasPrefix(".") {
                    notes.append("\(folderPath)/\(entry) ignored: a version folder's name is a positive integer")
                }
                continue
            }
            let path = folderPath + "/" + entry + "/" + modelFileName
            guard let file = signature(of: path) else {
                notes.append("\(folderPath)/\(entry) ignored: it holds no \(modelFileName)")
                continue
            }
            folder.versions[version] = file
        }
        if folder.versions.isEmpty && folder.problem == nil {
            folder.problem =
                "\(folderPath) holds no version: a folder named by a positive integer, holding \(modelFileName)"
        }
        return folder
    }

    /// The file's size and modification time, or `nil` when it is not a regular file.
    static func signature(of path: String) -> VersionFile? {
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        return VersionFile(
            path: path, size: Int(status.st_size),
            modifiedNanoseconds: Int(status.st_mtim.tv_sec) * 1_000_000_000 + Int(status.st_mtim.tv_nsec),
            inode: UInt64(status.st_ino),
            changedNanoseconds: Int(status.st_ctim.tv_sec) * 1_000_000_000 + Int(status.st_ctim.tv_nsec))
    }

    static func isFolder(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in a folder, sorted, without `.` and `..`; `nil` when it cannot be read.
    private static func listFolder(_ path: String) -> [String]? {
        guard let directory = opendir(path) else { return nil }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}

/// A model source that cannot be used at all.
public struct RepositoryError: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}

extension ModelSource {
    /// The model file that a server of the repository at `root` answers `/models/{name}/predict` with: the
    /// highest version its policy serves. For commands that use one model of a repository.
    public static func highestVersionFile(
        of name: String, inRepository root: String
    ) throws(RepositoryError)
        -> (path: String, version: Int)
    {
        guard ModelRepository.isModelName(name) else {
            throw RepositoryError("'\(name)' cannot name a model: a name is \(ModelRepository.nameRule)")
        }
        guard ModelRepository.isFolder(root + "/" + name) else {
            let scan = try ModelRepository.scan(.repository(root))
            throw RepositoryError(
                "the repository \(root) has no model '\(name)'; it holds "
                    + (scan.models.isEmpty ? "none" : scan.models.keys.sorted().joined(separator: ", ")))
        }
        var notes: [String] = []
        let folder = ModelRepository.scanModel(named: name, in: root, notes: &notes)
        if let problem = folder.problem { throw RepositoryError(problem) }
        guard let (version, file) = folder.wanted.max(by: { $0.key < $1.key }) else {
            throw RepositoryError("\(root)/\(name): its version policy serves none of its versions")
        }
        return (file.path, version)
    }
}
