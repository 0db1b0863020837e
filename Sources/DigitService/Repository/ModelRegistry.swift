import DigitCore
import Dispatch
import HTTPCore
import JSON
import Logging
import Synchronization

/// How the served models may change while the server runs, in Triton's names.
public enum ModelControlMode: String, CaseIterable, Sendable {
    /// The models found at start-up are served until exit.
    case none
    /// The repository is scanned again every poll interval (and on SIGHUP): versions the policy wants are
    /// loaded once their files have held still for one interval, versions it no longer wants unloaded.
    case poll
    /// Only the repository API loads and unloads.
    case explicit
}

/// A version's state in the repository index, in Triton's words.
public enum ModelState: String, Sendable {
    case ready = "READY"
    case unavailable = "UNAVAILABLE"
    case loading = "LOADING"
}

/// The models being served and the versions that failed, and the one place they change: start-up, polls
/// and the repository API change them under one lock (`changing`), through `reconcile` (and `retire` for
/// an unload), so changes never interleave. Requests never take that lock: they read ``snapshot``.
/// Locks are taken in one order only: `changing`, then `statuses`, then `published`.
///
/// The swap preserves availability: a new version is read, validated, evaluated and warmed up before it
/// is published; versions the policy no longer wants are retired only once a version it wants is ready,
/// so a broken new version leaves the old one serving.
final class ModelRegistry: Sendable {
    let source: ModelSource
    let mode: ModelControlMode
    private let testSplit: LabelledImages
    private let metrics: ServiceMetrics
    private let logger: Logger
    private let published: Mutex<ServingSnapshot>
    /// What the index shows, by model: updated as loads start and end.
    private let statuses = Mutex<[String: ModelStatus]>([:])
    /// Held for a whole load or unload, so that changes happen one at a time.
    private let changing = Mutex<ChangeState>(ChangeState())

    /// A model as the index shows it.
    struct ModelStatus: Sendable {
        var versions: [Int: VersionStatus] = [:]
        /// What is wrong with the model as a whole (unloaded, not loaded, a broken config, no versions).
        var reason = ""
        /// Whether the model should be serving: found at start-up or by a poll, or loaded through the API.
        var wanted = false
    }

    struct VersionStatus: Sendable {
        var state: ModelState
        /// What the index says about it: why it failed, why it was unloaded, why it keeps serving.
        var reason: String
        /// The file last tried for this version: a failed one is tried again only once it changes.
        var file: VersionFile?
        /// Why the last load of `file` failed (the version may still serve an earlier file); `nil` when
        /// it did not fail.
        var failure: String? = nil
    }

    /// What a change needs that requests do not.
    private struct ChangeState {
        /// Each version's file as the previous poll saw it.
        var lastSeen: [String: [Int: VersionFile]] = [:]
        /// In `explicit` mode, the models loaded through the API (or at start-up).
        var loaded: Set<String> = []
        /// Models whose folder the previous poll did not find.
        var missingOnce: Set<String> = []
        /// The scans' notes already logged, so that each is said once.
        var loggedNotes: Set<String> = []
    }

    init(
        source: ModelSource, mode: ModelControlMode, defaultModel: String, testSplit: LabelledImages,
        metrics: ServiceMetrics, logger: Logger
    ) {
        self.source = source
        self.mode = mode
        self.testSplit = testSplit
        self.metrics = metrics
        self.logger = logger
        published = Mutex(ServingSnapshot(models: [:], defaultName: defaultModel))
    }

    /// The versions being served now. A request takes this once and keeps what it found until it has
    /// answered.
    var snapshot: ServingSnapshot { published.withLock { $0 } }

    // MARK: - Changes

    /// Start-up: every model of the source (in `explicit` mode, those named in `only`, or every one when
    /// `only` is `nil`), loaded without waiting for files to hold still.
    func loadAtStartup(only names: Set<String>?) throws(RepositoryError) {
        let scan = try ModelRepository.scan(source)
        if let names, let unknown = names.subtracting(scan.models.keys).sorted().first {
            throw RepositoryError("--load-model \(unknown): the repository has no model '\(unknown)'")
        }
        changing.withLock { state in
            state.loaded = names ?? Set(scan.models.keys)
            reconcile(scan, only: Set(scan.models.keys), waitForStableFiles: false, state: &state)
        }
    }

    /// `poll` mode: scans the source and brings every model in line with it. New or changed files are
    /// loaded once they are unchanged since the previous poll; a model folder is retired once two polls
    /// in a row have not found it (a folder swapped by two renames is not dropped between them).
    func poll() {
        let scan: RepositoryScan
        do {
            scan = try ModelRepository.scan(source)
        } catch {
            // A repository that cannot be read now (an unmounted volume) changes nothing: what is
            // serving keeps serving.
            logger.error("\(error); the models loaded keep serving")
            return
        }
        changing.withLock { state in
            let names = Set(scan.models.keys).union(statuses.withLock { Set($0.keys) })
            reconcile(scan, only: names, waitForStableFiles: true, state: &state)
        }
    }

    /// The repository API's load: `name`'s folder read again now, the versions its policy wants loaded,
    /// the others unloaded. Answers once the load has ended; throws when a wanted version failed (what
    /// served before keeps serving), or when another change is under way.
    func load(_ name: String) throws(ModelLoadError) {
        var notes: [String] = []
        let folder: ModelFolder?
        switch source {
        case .repository(let root):
            folder =
                ModelRepository.isFolder(root + "/" + name)
                ? ModelRepository.scanModel(named: name, in: root, notes: &notes) : nil
        case .file: folder = (try? ModelRepository.scan(source))?.models[name]
        }
        guard let folder else { throw ModelLoadError("the repository has no model '\(name)'") }
        var scan = RepositoryScan()
        scan.models[name] = folder
        scan.notes = notes
        // The answer is read under the change lock, so that no other change shapes it.
        let outcome: Result<Void, ModelLoadError>? = changing.withLockIfAvailable { state in
            state.loaded.insert(name)
            reconcile(scan, only: [name], waitForStableFiles: false, state: &state)
            let failed = statuses.withLock { statuses in
                folder.wanted.keys.sorted().compactMap { version -> String? in
                    statuses[name]?.versions[version]?.failure.map { "version \(version): \($0)" }
                }
            }
            let serving = snapshot.models[name]?.keys.sorted().map(String.init) ?? []
            if serving.isEmpty {
                // A load that failed does not make a model the server waits for (`/v2/health/ready`).
                state.loaded.remove(name)
                statuses.withLock { $0[name]?.wanted = false }
            }
            let problems = (folder.problem.map { [$0] } ?? []) + failed
            guard problems.isEmpty else {
                return .failure(
                    ModelLoadError(
                        problems.joined(separator: "; ")
                            + (serving.isEmpty ? "" : "; still serving: version " + serving.joined(separator: ", "))))
            }
            return .success(())
        }
        guard let outcome else { throw ModelLoadError.busy }
        try outcome.get()
    }

    /// The repository API's unload: every version of `name` stops taking new requests; each is freed when
    /// its last request has answered.
    func unload(_ name: String) throws(ModelLoadError) {
        guard statuses.withLock({ $0[name] }) != nil else {
            throw ModelLoadError("no model '\(name)' is known here")
        }
        let done: Void? = changing.withLockIfAvailable { state in
            state.loaded.remove(name)
            retire(name, versions: snapshot.models[name].map { Array($0.keys) } ?? [], reason: "unloaded")
            statuses.withLock { statuses in
                statuses[name]?.wanted = false
                statuses[name]?.reason = "unloaded"
            }
        }
        guard done != nil else { throw ModelLoadError.busy }
    }

    /// Brings the models named in `names` in line with `scan`. Called with the change lock held.
    private func reconcile(
        _ scan: RepositoryScan, only names: Set<String>, waitForStableFiles: Bool, state: inout ChangeState
    ) {
        for note in scan.notes where !state.loggedNotes.contains(note) { logger.warning("\(note)") }
        state.loggedNotes.formUnion(scan.notes)
        for name in names.sorted() {
            guard let folder = scan.models[name] else {
                if waitForStableFiles && !state.missingOnce.contains(name) {
                    state.missingOnce.insert(name)
                    continue
                }
                // The folder is gone: nothing of it can serve again.
                state.missingOnce.remove(name)
                if let versions = snapshot.models[name]?.keys {
                    retire(name, versions: Array(versions), reason: "removed")
                }
                statuses.withLock { $0[name] = nil }
                state.lastSeen[name] = nil
                continue
            }
            state.missingOnce.remove(name)
            if mode == .explicit && !state.loaded.contains(name) {
                statuses.withLock { statuses in
                    if statuses[name] == nil { statuses[name] = ModelStatus(reason: "not loaded") }
                }
                continue
            }
            reconcile(folder, waitForStableFiles: waitForStableFiles, lastSeen: state.lastSeen[name] ?? [:])
            state.lastSeen[name] = folder.versions
        }
    }

    /// One model: the wanted versions loaded, then the unwanted ones retired, as many as wanted ones are
    /// ready to take their place.
    private func reconcile(_ folder: ModelFolder, waitForStableFiles: Bool, lastSeen: [Int: VersionFile]) {
        let name = folder.name
        let previousReason = statuses.withLock { statuses in
            let previous = statuses[name]?.reason
            statuses[name, default: ModelStatus()].wanted = true
            statuses[name]?.reason = folder.problem ?? ""
            // "Kept serving" is said again below if it still holds.
            for (version, status) in statuses[name]?.versions ?? [:]
            where status.state == .ready && status.failure == nil {
                statuses[name]?.versions[version]?.reason = ""
            }
            // Versions whose folders are gone leave the index (those still serving stay until retired).
            let serving = snapshot.models[name] ?? [:]
            let kept = statuses[name]?.versions.filter { folder.versions[$0.key] != nil || serving[$0.key] != nil }
            statuses[name]?.versions = kept ?? [:]
            return previous
        }
        if let problem = folder.problem, problem != previousReason {
            logger.error("model \(name) keeps what it serves: \(problem)")
        }
        let wanted = folder.wanted
        for (version, file) in wanted.sorted(by: { $0.key < $1.key }) {
            // Loaded or refused already, and unchanged since: nothing to do.
            if statuses.withLock({ $0[name]?.versions[version]?.file }) == file { continue }
            if waitForStableFiles && lastSeen[version] != file {
                logger.info("model \(name) version \(version): waiting for \(file.path) to stay unchanged for one poll")
                continue
            }
            load(name, version: version, file: file)
        }
        // Availability first: an unwanted version keeps serving in place of each wanted one that is not ready
        // (a broken new version under `latest 1` leaves the old one serving), the highest kept.
        let serving = snapshot.models[name] ?? [:]
        // A folder that cannot be used as a whole (a broken config, no versions) retires nothing.
        let missing = folder.problem == nil ? wanted.keys.filter { serving[$0] == nil }.count : serving.count
        let unwanted = serving.keys.filter { wanted[$0] == nil }.sorted(by: >)
        let kept = Array(unwanted.prefix(missing))
        let retiring = Array(unwanted.dropFirst(missing))
        if !kept.isEmpty {
            let reason =
                folder.problem.map { "kept serving: \($0)" }
                ?? "kept serving: a version that the policy (\(folder.policy.description)) wants is not ready"
            statuses.withLock { statuses in
                for version in kept where statuses[name]?.versions[version]?.failure == nil {
                    statuses[name]?.versions[version]?.reason = reason
                }
            }
        }
        guard !retiring.isEmpty else { return }
        retire(
            name, versions: retiring, reason: "unloaded: the policy (\(folder.policy.description)) no longer wants it")
        // A retired version whose folder is gone leaves the index.
        statuses.withLock { statuses in
            let remaining = statuses[name]?.versions.filter { folder.versions[$0.key] != nil || kept.contains($0.key) }
            statuses[name]?.versions = remaining ?? [:]
        }
    }

    /// Loads one version and publishes it; a failure leaves what serves as it was.
    private func load(_ name: String, version: Int, file: VersionFile) {
        let replacing = snapshot.model(name, version: version) != nil
        statuses.withLock { statuses in
            if !replacing { statuses[name]?.versions[version] = VersionStatus(state: .loading, reason: "", file: file) }
        }
        let started = ContinuousClock.now
        var outcome: Result<ServedModel, ModelLoadError>?
        LowPriorityThread.run {
            outcome = Result { () throws(ModelLoadError) in
                try ServedModel(name: name, version: version, file: file, testSplit: testSplit)
            }
        }
        do throws(ModelLoadError) {
            let served = try outcome!.get()
            metrics.modelPublished(served)
            published.withLock { $0 = $0.adding(served) }
            statuses.withLock {
                $0[name]?.versions[version] = VersionStatus(state: .ready, reason: "", file: file)
                $0[name]?.reason = ""
            }
            logger.notice(
                "model \(name) version \(version) ready in \(Int((ContinuousClock.now - started) / .milliseconds(1))) ms (sha256 \(served.sha256), test accuracy \(decimalText(served.evaluation.accuracy)))"
            )
        } catch {
            metrics.modelLoadFailed(name)
            statuses.withLock { statuses in
                if replacing {
                    statuses[name]?.versions[version] = VersionStatus(
                        state: .ready, reason: "a changed file was refused, the earlier one keeps serving: \(error)",
                        file: file, failure: error.description)
                } else {
                    statuses[name]?.versions[version] = VersionStatus(
                        state: .unavailable, reason: error.description, file: file, failure: error.description)
                }
            }
            logger.error("model \(name) version \(version) not loaded: \(error)")
        }
    }

    /// Stops serving `versions` of `name`: new requests no longer find them; requests that hold one finish on it.
    private func retire(_ name: String, versions: [Int], reason: String) {
        for version in versions {
            guard let served = snapshot.model(name, version: version) else { continue }
            published.withLock { $0 = $0.removing(name, version: version) }
            metrics.modelRetired(served)
            statuses.withLock {
                $0[name]?.versions[version] = VersionStatus(state: .unavailable, reason: reason, file: nil)
            }
            logger.notice("model \(name) version \(version) \(reason)")
        }
    }

    // MARK: - What the API shows

    /// Triton's repository index: one entry per version (and one per model that has none), sorted.
    /// Models whose folders appeared since the last scan are listed as not loaded (Triton's index shows
    /// every model of the repository).
    func index(readyOnly: Bool) -> [JSONValue] {
        var statuses = statuses.withLock { $0 }
        for name in (try? ModelRepository.scan(source))?.models.keys ?? [:].keys where statuses[name] == nil {
            statuses[name] = ModelStatus(reason: "not loaded")
        }
        var entries: [JSONValue] = []
        for name in statuses.keys.sorted() {
            let status = statuses[name]!
            if status.versions.isEmpty {
                guard !readyOnly else { continue }
                entries.append(
                    .object([
                        JSONMember("name", .string(name)),
                        JSONMember("state", .string(ModelState.unavailable.rawValue)),
                        JSONMember("reason", .string(status.reason)),
                    ]))
            }
            for version in status.versions.keys.sorted() {
                let entry = status.versions[version]!
                guard !readyOnly || entry.state == .ready else { continue }
                entries.append(
                    .object([
                        JSONMember("name", .string(name)), JSONMember("version", .string(String(version))),
                        JSONMember("state", .string(entry.state.rawValue)), JSONMember("reason", .string(entry.reason)),
                    ]))
            }
        }
        return entries
    }

    /// Why models or versions do not serve, as the index says it (a model with no version, a version not
    /// ready), sorted by model and version: what a start-up in `none` mode refuses to go on with.
    var problems: [String] {
        let statuses = statuses.withLock { $0 }
        return statuses.keys.sorted().flatMap { name -> [String] in
            let status = statuses[name]!
            let model = status.versions.isEmpty && !status.reason.isEmpty ? [status.reason] : []
            return model
                + status.versions.keys.sorted().compactMap { version in
                    let entry = status.versions[version]!
                    return entry.state != .ready && !entry.reason.isEmpty ? entry.reason : nil
                }
        }
    }

    /// Whether every model that should serve has a ready version: `/v2/health/ready`.
    var allWantedReady: Bool {
        let serving = snapshot.models
        return statuses.withLock { statuses in
            statuses.allSatisfy { !$0.value.wanted || serving[$0.key] != nil }
        }
    }

    /// Every known model's status, for `GET /models`.
    var statusesByName: [String: ModelStatus] { statuses.withLock { $0 } }
}
