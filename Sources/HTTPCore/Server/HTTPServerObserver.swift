/// Receives the server's events, for metrics. Called on the loop or worker threads as things happen, so an
/// implementation must be quick and thread-safe.
public protocol HTTPServerObserver: Sendable {
    func connectionOpened()
    func connectionClosed()
    /// A connection refused at the connection limit (answered 503).
    func connectionRejected()
    /// A complete request is about to be answered.
    func requestStarted()
    /// A response is on its way: the request (none for a request too broken to parse), the status, the time
    /// from the complete request to the response, in nanoseconds.
    func requestFinished(head: HTTPRequestHead?, status: Int, durationNanoseconds: UInt64)
}
