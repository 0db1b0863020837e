/// The versions being served, as requests see them: immutable, replaced whole on every change, so that
/// publishing a version is one atomic switch and a request sees one consistent set from start to end.
final class ServingSnapshot: Sendable {
    /// The ready versions of each model, by version.
    let models: [String: [Int: ServedModel]]
    let defaultName: String
    /// The default model's highest ready version, found once per snapshot: the original endpoints'.
    let defaultModel: ServedModel?

    init(models: [String: [Int: ServedModel]], defaultName: String) {
        self.models = models.filter { !$0.value.isEmpty }
        self.defaultName = defaultName
        defaultModel = Self.highest(models[defaultName])
    }

    /// `name`'s `version`, or its highest ready version when `version` is `nil` (as Triton chooses).
    func model(_ name: String, version: Int?) -> ServedModel? {
        guard let versions = models[name] else { return nil }
        if let version { return versions[version] }
        return Self.highest(versions)
    }

    /// The same models with `served` added (or put in place of the same version).
    func adding(_ served: ServedModel) -> ServingSnapshot {
        var models = models
        models[served.name, default: [:]][served.version] = served
        return ServingSnapshot(models: models, defaultName: defaultName)
    }

    /// The same models without `version` of `name`.
    func removing(_ name: String, version: Int) -> ServingSnapshot {
        var models = models
        models[name]?[version] = nil
        return ServingSnapshot(models: models, defaultName: defaultName)
    }

    private static func highest(_ versions: [Int: ServedModel]?) -> ServedModel? {
        versions?.max { $0.key < $1.key }?.value
    }
}
