/// gzip both ways: a request body declared `Content-Encoding: gzip` is inflated (to at most the body limit)
/// before the handler sees it, and a large enough response is compressed for a client that accepts it.
/// The server runs every request with a coded body off the event loop, so inflating never stalls it.
struct ContentCodingMiddleware: HTTPMiddleware {
    let maxDecodedBytes: Int

    func respond(to request: HTTPRequest, next: (HTTPRequest) throws -> HTTPResponse) throws -> HTTPResponse {
        let decoded: HTTPRequest
        do {
            decoded = try ContentCoding.decode(request, limit: maxDecodedBytes)
        } catch {
            throw error.httpError
        }
        let response = try next(decoded)
        return ContentCoding.compress(response, for: request.head)
    }
}
