/// Why a request could not be parsed. Every case ends the connection after its response, because once
/// the framing is in doubt nothing that follows on the connection can be trusted (RFC 9112 §11.2).
public enum HTTPParserError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidRequestLine
    case invalidMethod
    case invalidTarget
    case invalidVersion
    case unsupportedVersion(String)
    case bareCarriageReturn
    case bareLineFeed
    case invalidHeaderName
    case whitespaceBeforeColon
    case obsoleteLineFolding
    case invalidHeaderValue(name: String)
    case missingHost
    case duplicateHost
    case invalidHost
    case conflictingFraming
    case duplicateContentLength
    case invalidContentLength
    case unsupportedTransferEncoding(String)
    case transferEncodingInHTTP10
    case invalidChunkSize
    case invalidChunkExtension
    case missingChunkTerminator
    case targetTooLong(limit: Int)
    case headersTooLarge(limit: Int)
    case tooManyHeaders(limit: Int)
    case bodyTooLarge(limit: Int)

    /// The status to answer with.
    public var status: HTTPStatus {
        switch self {
        case .unsupportedVersion: .httpVersionNotSupported
        case .targetTooLong: .uriTooLong
        case .headersTooLarge, .tooManyHeaders: .requestHeaderFieldsTooLarge
        case .bodyTooLarge: .contentTooLarge
        default: .badRequest
        }
    }

    /// A stable machine-readable code for the error body.
    public var code: String {
        switch self {
        case .unsupportedVersion: "http_version_not_supported"
        case .targetTooLong: "uri_too_long"
        case .headersTooLarge, .tooManyHeaders: "headers_too_large"
        case .bodyTooLarge: "body_too_large"
        default: "bad_request"
        }
    }

    /// What is wrong and what to do about it.
    public var description: String {
        switch self {
        case .invalidRequestLine: "the request line must be 'METHOD target HTTP/1.1' with single spaces"
        case .invalidMethod: "the method must be a token such as GET or POST"
        case .invalidTarget:
            "the request target must be a path such as /items?id=7, with unsafe characters percent-encoded"
        case .invalidVersion: "the protocol version must be HTTP/1.0 or HTTP/1.1"
        case .unsupportedVersion(let version): "\(version) is not supported; use HTTP/1.1"
        case .bareCarriageReturn: "a carriage return must be followed by a line feed"
        case .bareLineFeed: "lines must end with CRLF, not a bare line feed"
        case .invalidHeaderName: "a header field name must be a token such as Content-Type"
        case .whitespaceBeforeColon: "no whitespace is allowed between a header field name and its colon"
        case .obsoleteLineFolding: "header values must not be folded over several lines"
        case .invalidHeaderValue(let name): "the value of header field '\(name)' contains a control character"
        case .missingHost: "an HTTP/1.1 request must carry a Host header field"
        case .duplicateHost: "a request must carry one Host header field, not several"
        case .invalidHost:
            "the Host header field must be a host name or address with an optional port, such as example.com:8080"
        case .conflictingFraming: "a request must not carry both Content-Length and Transfer-Encoding"
        case .duplicateContentLength: "a request must carry one Content-Length, not several"
        case .invalidContentLength: "Content-Length must be a non-negative decimal number"
        case .unsupportedTransferEncoding(let coding):
            "transfer coding '\(coding)' is not supported; send the body with Content-Length or chunked alone"
        case .transferEncodingInHTTP10: "Transfer-Encoding is not allowed in an HTTP/1.0 request"
        case .invalidChunkSize: "a chunk size must be hexadecimal digits followed by CRLF"
        case .invalidChunkExtension: "a chunk extension contains a control character"
        case .missingChunkTerminator: "chunk data must be followed by CRLF"
        case .targetTooLong(let limit): "the request line exceeds \(limit) bytes; send long input in the body"
        case .headersTooLarge(let limit): "the request line and headers exceed \(limit) bytes"
        case .tooManyHeaders(let limit): "the request has more than \(limit) header fields"
        case .bodyTooLarge(let limit): "the request body exceeds \(limit) bytes"
        }
    }
}
