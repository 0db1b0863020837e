/// CORS around the application: answers preflights with the methods the route allows (asked of the
/// responder with an `OPTIONS` request, so the answer follows the routes) and adds the CORS fields to every
/// response for an allowed origin, errors included.
struct CORSMiddleware: HTTPMiddleware {
    let policy: CORSPolicy
    let serverFormat: HTTPErrorFormat

    func respond(to request: HTTPRequest, next: (HTTPRequest) throws -> HTTPResponse) throws -> HTTPResponse {
        guard let origin = request.headers["Origin"] else { return try next(request) }
        if request.method == "OPTIONS" && request.headers.contains("Access-Control-Request-Method") {
            let routeAnswer = try next(request)
            guard let allowed = routeAnswer.headers["Allow"] else { return routeAnswer }
            switch policy.preflight(request.head, origin: origin, allowedMethods: allowed) {
            case .success(let response): return response
            case .failure(let error): return (request.errorFormat ?? serverFormat).render(error)
            }
        }
        var response = try next(request)
        if policy.allows(origin) { policy.decorate(&response, origin: origin) }
        return response
    }
}
