/// Bounds on what the parser accepts, so that no client can make the server buffer without end.
public struct HTTPParserLimits: Sendable, Equatable {
    /// The request line and header fields together, in bytes (431 above it). Default 16 KiB, twice
    /// nginx's 8 KiB line buffer: room for long tokens and cookies, too little to matter per connection.
    public var maxHeaderBytes: Int = 16 * 1024
    /// Header fields per request (431 above it). Default 100, as Apache's `LimitRequestFields`.
    public var maxHeaderCount: Int = 100
    /// A request body, in bytes, however it is framed (413 above it). Default 1 MiB.
    public var maxBodyBytes: Int = 1024 * 1024

    public init(maxHeaderBytes: Int = 16 * 1024, maxHeaderCount: Int = 100, maxBodyBytes: Int = 1024 * 1024) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }
}
