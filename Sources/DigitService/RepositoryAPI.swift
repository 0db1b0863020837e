import HTTPCore
import JSON

/// The inference protocol's model repository extension, as Triton serves it and tritonclient calls it:
/// `POST /v2/repository/index`, `POST /v2/repository/models/{name}/load` and `.../unload`. The index
/// answers in every control mode; load and unload only in `explicit`, the one mode in which the API
/// decides what is served. Loads read only the repository folder: model files cannot be uploaded.
extension DigitService {
    func registerRepositoryAPI(in group: inout RouteGroup) {
        // The index lists the repository's folders too: a file-system read, off the event loops.
        group.post("/repository/index", execution: .offloaded) { [self] request in
            let body = try Self.repositoryBody(request, known: ["ready"])
            let ready = try Self.field { () throws(JSONFieldError) in try body?.optional("ready")?.bool() } ?? false
            return Self.v2JSON(.array(registry.index(readyOnly: ready)))
        }
        // Loads read, check and evaluate a model: off the event loops.
        group.post("/repository/models/{name}/load", execution: .offloaded) { [self] request in
            let name = try repositoryModelName(request, action: "load")
            try Self.checkParameters(try Self.repositoryBody(request, known: ["parameters"]), allowed: [])
            do throws(ModelLoadError) {
                try registry.load(name)
            } catch {
                throw Self.repositoryFailure(error, "failed to load '\(name)'")
            }
            return Self.v2JSON(loadedVersions(name))
        }
        group.post("/repository/models/{name}/unload", execution: .offloaded) { [self] request in
            let name = try repositoryModelName(request, action: "unload")
            try Self.checkParameters(
                try Self.repositoryBody(request, known: ["parameters"]), allowed: ["unload_dependents"])
            do throws(ModelLoadError) {
                try registry.unload(name)
            } catch {
                throw Self.repositoryFailure(error, "failed to unload '\(name)'")
            }
            return Self.v2JSON(loadedVersions(name))
        }
    }

    /// The model named in a load or unload path, once the mode allows the call and the name is one a
    /// repository folder can have.
    private func repositoryModelName(_ request: HTTPRequest, action: String) throws(HTTPError) -> String {
        let name = request.pathParameters["name"] ?? ""
        guard registry.mode == .explicit else {
            throw .repositoryRequest(
                "models cannot be \(action)ed through the API while model control is '\(registry.mode.rawValue)'; start digits serve with --model-control explicit"
            )
        }
        // A browser page on another site could send this POST without a preflight (an empty body is a
        // "simple" request): only origins named in --cors-origins may change what serves (`*` is not enough).
        if let origin = request.headers["Origin"], !(configuration.http.cors?.allowedOrigins.contains(origin) ?? false)
        {
            throw HTTPError(
                status: .forbidden, code: "cors_refused",
                message:
                    "the origin '\(HTTPError.echo(origin))' may not \(action) models; name it in --cors-origins, or call the API from outside a browser"
            )
        }
        guard ModelRepository.isModelName(name) else {
            throw .repositoryRequest(
                "'\(HTTPError.echo(name))' cannot name a model: a name is \(ModelRepository.nameRule)")
        }
        return name
    }

    /// A load or unload that failed: 409 with `Retry-After` while another runs, else 400 with the reasons.
    private static func repositoryFailure(_ error: ModelLoadError, _ what: String) -> HTTPError {
        guard error.isBusy else { return .repositoryRequest("\(what): \(error)") }
        return HTTPError(
            status: .conflict, code: "repository_busy", message: "\(what): \(error)", headers: ["Retry-After": "1"])
    }

    /// `{"name": ..., "versions": [...]}`: the versions of `name` serving after a load or unload.
    private func loadedVersions(_ name: String) -> JSONValue {
        let versions = registry.snapshot.models[name]?.keys.sorted() ?? []
        return .object([
            JSONMember("name", .string(name)), JSONMember("versions", .array(versions.map { .string(String($0)) })),
        ])
    }

    /// A repository request's body: `nil` when empty (tritonclient sends none for the index), else a JSON
    /// object with no members but `known`.
    private static func repositoryBody(_ request: HTTPRequest, known: [String]) throws(HTTPError) -> JSONField? {
        guard !request.body.isEmpty else { return nil }
        let document: JSONValue
        do {
            document = try JSONParser(maxContainers: 1_000, maxValues: 10_000).parse(request.body)
        } catch {
            throw .invalidJSON("the request body is not JSON: \(error)")
        }
        let body = JSONField(document)
        try field { () throws(JSONFieldError) in try body.refuseUnknownKeys(known) }
        return body
    }

    /// Refuses `parameters` members other than `allowed`: above all `file:...` (a model uploaded in the
    /// request) and `config`, which this server does not take.
    private static func checkParameters(_ body: JSONField?, allowed: [String]) throws(HTTPError) {
        guard let parameters = try field({ () throws(JSONFieldError) in try body?.optional("parameters") }) else {
            return
        }
        let members = try field { () throws(JSONFieldError) in try parameters.members() }
        for member in members where !allowed.contains(member.key) {
            if member.key.hasPrefix("file:") || member.key == "config" {
                throw .repositoryRequest(
                    "parameters.\(HTTPError.echo(member.key)): models cannot be uploaded through the API; put the file at <repository>/<name>/<version>/model.json and load the model by name"
                )
            }
            throw .repositoryRequest(
                "parameters.\(HTTPError.echo(member.key)) is not a parameter this server takes"
                    + (allowed.isEmpty ? "" : "; it takes " + allowed.joined(separator: ", ")))
        }
    }

    /// Runs a typed read of the body, a wrong field becoming a 400 that names it.
    private static func field<Value>(_ read: () throws(JSONFieldError) -> Value) throws(HTTPError) -> Value {
        do {
            return try read()
        } catch {
            throw .repositoryRequest("\(error)")
        }
    }
}
