import DigitCore
import JSON

/// Which versions of a model are served, in Triton's words, from the model folder's `config.json`:
/// `{"version_policy": {"latest": {"num_versions": 1}}}` (the default, also when there is no config),
/// `{"version_policy": {"all": {}}}`, `{"version_policy": {"specific": {"versions": [1, 3]}}}`.
public enum VersionPolicy: Equatable, Sendable {
    /// The `count` highest versions.
    case latest(Int)
    case all
    /// These versions, those of them that exist.
    case specific([Int])

    static let `default` = VersionPolicy.latest(1)

    /// The versions of `available` the policy serves, highest first.
    func wanted(from available: [Int]) -> [Int] {
        let sorted = available.sorted(by: >)
        switch self {
        case .latest(let count): return Array(sorted.prefix(count))
        case .all: return sorted
        case .specific(let versions): return sorted.filter(versions.contains)
        }
    }

    /// Reads a `config.json`. Members other than `version_policy` are ignored (a Triton config holds many
    /// that mean nothing here); a policy of another shape is refused with what is expected.
    static func read(configFile path: String) throws(ConfigError) -> VersionPolicy {
        let bytes: [UInt8]
        do {
            bytes = try FileIO.read(path, maxBytes: 1024 * 1024, regularFileOnly: true)
        } catch {
            throw ConfigError(description: "cannot be read: \(error.reason)")
        }
        let document: JSONValue
        do {
            document = try JSONParser(maxContainers: 10_000, maxValues: 100_000).parse(bytes)
        } catch {
            throw ConfigError(description: "is not JSON: \(error)")
        }
        do {
            return try read(JSONField(document))
        } catch {
            throw ConfigError(description: "\(error)")
        }
    }

    static func read(_ config: JSONField) throws(JSONFieldError) -> VersionPolicy {
        guard let policy = try config.optional("version_policy") else { return .default }
        let members = try policy.members()
        let expected = #"one of {"latest": {"num_versions": N}}, {"all": {}}, {"specific": {"versions": [...]}}"#
        guard members.count == 1 else { throw policy.error("must hold exactly \(expected)") }
        try policy.refuseUnknownKeys(["latest", "all", "specific"])
        if let latest = try policy.optional("latest") {
            return .latest(try latest["num_versions"].integer(minimum: 1, maximum: 1_000_000))
        }
        if let all = try policy.optional("all") {
            _ = try all.members()
            return .all
        }
        let versions = try policy["specific"]["versions"].integers(minimum: 1, maximum: ModelRepository.maximumVersion)
        return .specific(versions)
    }

    /// The policy in Triton's words, for the log and the index.
    var description: String {
        switch self {
        case .latest(let count): return "latest \(count)"
        case .all: return "all"
        case .specific(let versions): return "specific \(versions)"
        }
    }
}

/// A `config.json` that cannot be used: what is wrong with it.
struct ConfigError: Error, CustomStringConvertible {
    let description: String
}
