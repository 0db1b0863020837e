import CZlib

/// gzip for request and response bodies (`Content-Encoding`, RFC 9110 §8.4), through the system zlib.
public enum ContentCoding {
    /// Responses smaller than this are sent as they are: compressing them saves nothing worth the CPU.
    public static let minimumCompressedSize = 1024

    /// Why a request body could not be decoded; each is answered with its own status and advice.
    public enum Failure: Error, Equatable, Sendable {
        case unsupported(String)
        case corrupt
        case tooLarge(limit: Int)
        /// The memory budget had no room for more of the inflated body (503 or 413, as the budget says).
        case overBudget(HTTPError)

        public var status: HTTPStatus {
            switch self {
            case .unsupported: .unsupportedMediaType
            case .corrupt: .badRequest
            case .tooLarge: .contentTooLarge
            case .overBudget(let error): error.status
            }
        }

        public var code: String {
            switch self {
            case .unsupported: "unsupported_content_encoding"
            case .corrupt: "invalid_gzip"
            case .tooLarge: "body_too_large"
            case .overBudget(let error): error.code
            }
        }

        /// The answer to a request whose body could not be decoded.
        public var httpError: HTTPError {
            if case .overBudget(let error) = self { return error }
            return HTTPError(status: status, code: code, message: message)
        }

        public var message: String {
            switch self {
            case .unsupported(let coding):
                "Content-Encoding '\(coding)' is not supported; send the body as it is or gzip it"
            case .corrupt: "the body is declared gzip but does not inflate"
            case .tooLarge(let limit): "the body inflates to more than \(limit) bytes; send less at once"
            case .overBudget(let error): error.message
            }
        }
    }

    /// The request with its body decoded, when it declares `Content-Encoding: gzip`; unchanged without a
    /// coding or with `identity`. The decoded size is limited, so a small "gzip bomb" is refused, not inflated.
    static func decode(_ request: HTTPRequest, limit: Int) throws(Failure) -> HTTPRequest {
        guard request.headers.contains("Content-Encoding") else { return request }
        let codings = request.headers.tokens(for: "Content-Encoding").filter { $0 != "identity" }
        guard !codings.isEmpty else { return request }
        guard codings == ["gzip"] || codings == ["x-gzip"] else {
            throw .unsupported(request.headers.values(for: "Content-Encoding").joined(separator: ", "))
        }
        // The inflated bytes are reserved as they come, so that concurrent small bodies that inflate to
        // megabytes cannot pass the memory budget.
        let memory = request.memory
        let body = try gunzip(request.body, limit: limit) { (bytes: Int) throws(Failure) in
            do throws(HTTPError) {
                try memory.reserve(bytes, for: "its inflated body")
            } catch {
                throw .overBudget(error)
            }
        }
        var decoded = HTTPRequest(head: request.head, body: body, memory: memory)
        decoded.requestID = request.requestID
        return decoded
    }

    /// Inflates a gzip stream, refusing more than `limit` bytes of output.
    /// `reserve` is told of each piece of output before it is kept, and may refuse it.
    public static func gunzip(
        _ input: [UInt8], limit: Int, reserve: (Int) throws(Failure) -> Void = { _ in }
    ) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        guard czlib_inflate_init_gzip(&stream) == Z_OK else { throw .corrupt }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var status: Int32 = Z_OK
        try input.withUnsafeBufferPointer { (source: UnsafeBufferPointer<UInt8>) throws(Failure) in
            stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.avail_in = UInt32(source.count)
            repeat {
                let produced = chunk.withUnsafeMutableBufferPointer { destination -> Int in
                    stream.next_out = destination.baseAddress
                    stream.avail_out = UInt32(destination.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return destination.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END || (status == Z_BUF_ERROR && produced > 0) else {
                    throw .corrupt
                }
                guard output.count + produced <= limit else { throw .tooLarge(limit: limit) }
                try reserve(produced)
                output += chunk[0..<produced]
            } while status != Z_STREAM_END && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        guard status == Z_STREAM_END, stream.avail_in == 0 else { throw .corrupt }
        return output
    }

    /// Deflates `input` into a gzip stream.
    public static func gzip(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
        var stream = z_stream()
        guard czlib_deflate_init_gzip(&stream, level) == Z_OK else { return [] }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 32)
        let written = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination -> Int in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = UInt32(source.count)
                stream.next_out = destination.baseAddress
                stream.avail_out = UInt32(destination.count)
                guard deflate(&stream, Z_FINISH) == Z_STREAM_END else { return -1 }
                return destination.count - Int(stream.avail_out)
            }
        }
        return written < 0 ? [] : Array(output[0..<written])
    }

    /// Whether the client accepts gzip (RFC 9110 §12.5.3): listed, or covered by `*`, with a q-value above 0.
    static func acceptsGzip(_ head: HTTPRequestHead) -> Bool {
        var gzip: Double?
        var any: Double?
        for element in head.headers.values(for: "Accept-Encoding").flatMap({ $0.split(separator: ",") }) {
            let parts = element.split(separator: ";").map { $0.trimmingHTTPWhitespace().lowercased() }
            guard let coding = parts.first else { continue }
            var quality = 1.0
            for parameter in parts.dropFirst() where parameter.hasPrefix("q=") {
                quality = Double(parameter.dropFirst(2)) ?? 0
            }
            if coding == "gzip" || coding == "x-gzip" { gzip = quality }
            if coding == "*" { any = quality }
        }
        return (gzip ?? any ?? 0) > 0
    }

    /// The response gzipped when the client accepts it, the body is large enough, and it is not encoded yet.
    static func compress(_ response: HTTPResponse, for head: HTTPRequestHead) -> HTTPResponse {
        var response = response
        guard response.body.count >= minimumCompressedSize, !response.headers.contains("Content-Encoding") else {
            return response
        }
        // Whatever the client accepts, the answer depends on Accept-Encoding: caches must know.
        response.headers.add(name: "Vary", value: "Accept-Encoding")
        guard acceptsGzip(head) else { return response }
        let compressed = gzip(response.body)
        guard !compressed.isEmpty, compressed.count < response.body.count else { return response }
        response.body = compressed
        response.headers.add(name: "Content-Encoding", value: "gzip")
        return response
    }
}
