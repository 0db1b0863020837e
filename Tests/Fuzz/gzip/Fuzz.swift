// libFuzzer entry point for gzip request bodies (ContentCoding.gunzip through the system zlib).
//
// On every input, beyond "never crashes, never trips AddressSanitizer": inflation never returns more than
// its limit, and whatever is gzipped inflates back to itself (the input as data, and as a gzip stream).
import HTTPCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let limit = 64 * 1024
    if let inflated = try? ContentCoding.gunzip(bytes, limit: limit) {
        precondition(inflated.count <= limit, "inflated past the limit")
    }
    let compressed = ContentCoding.gzip(bytes)
    precondition(
        (try? ContentCoding.gunzip(compressed, limit: max(1, bytes.count))) == bytes || bytes.isEmpty,
        "gzip then gunzip is not the identity")
    if bytes.count > 1 {
        // Below the size it inflates to, the limit refuses it.
        precondition((try? ContentCoding.gunzip(compressed, limit: bytes.count - 1)) == nil, "the limit let it through")
    }
    return 0
}
