// libFuzzer entry point for HTTPRequestParser, compiled together with the parser's sources by fuzz.sh.
//
// Two properties are checked on every input, beyond "never crashes, never trips AddressSanitizer":
// the parser gives the same requests and the same error whether the bytes arrive at once or in small
// pieces, and it never returns more body bytes than it was given.

/// What a parser made of some bytes: each request as text, then the error or "need more".
func outcome(_ bytes: [UInt8], pieceSizes: (Int) -> Int) -> [String] {
    var parser = HTTPRequestParser(limits: HTTPParserLimits(maxHeaderBytes: 512, maxHeaderCount: 16, maxBodyBytes: 512))
    var results: [String] = []
    var offset = 0
    var piece = 0
    while offset < bytes.count {
        let size = min(bytes.count - offset, max(1, pieceSizes(piece)))
        parser.append(bytes[offset..<offset + size])
        offset += size
        piece += 1
        do {
            while let request = try parser.nextRequest() {
                precondition(request.body.count <= bytes.count, "a body larger than the input")
                let headers = request.headers.map { "\($0.name)=\($0.value)" }.joined(separator: ";")
                results.append(
                    "\(request.method) \(request.head.target) \(request.head.version) [\(headers)] \(request.body)")
            }
        } catch {
            results.append("error: \(error)")
            return results
        }
    }
    results.append(parser.isInsideRequest ? "incomplete" : "done")
    return results
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let whole = outcome(bytes) { _ in Int.max }
    let seed = bytes.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 }
    let pieces = outcome(bytes) { index in Int((seed >> UInt32(index % 29)) % 7) + 1 }
    let single = outcome(bytes) { _ in 1 }
    precondition(
        whole == pieces && whole == single,
        "the result depends on how the bytes were split:\n\(whole)\n\(pieces)\n\(single)")
    return 0
}
