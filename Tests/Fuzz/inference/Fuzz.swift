// libFuzzer entry point for inference requests (the Open Inference Protocol's JSON and its binary tensor
// extension), compiled with InferenceRequest by fuzz.sh.
//
// The first byte chooses the framing: bit 0 set means an `Inference-Header-Content-Length` header whose
// value is the next two bytes (so lengths past the body, zero and exact ones all occur); the rest is the body.
// On every input, beyond "never crashes, never trips AddressSanitizer": an accepted request holds exactly
// count x 400 pixels, each from 0 to 1, with count from 1 to the limit.
import HTTPCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let flags = bytes.first else { return 0 }
    var headers: HTTPHeaders = ["Content-Type": "application/json"]
    var body = Array(bytes.dropFirst())
    if flags & 1 == 1 && body.count >= 2 {
        let length = Int(body[0]) << 8 | Int(body[1])
        body.removeFirst(2)
        headers.add(name: "Inference-Header-Content-Length", value: flags & 2 == 2 ? "\(length)" : " \(length)x")
    }
    let request = HTTPRequest(
        head: HTTPRequestHead(method: "POST", target: "/v2/models/m/infer", version: .http1_1, headers: headers),
        body: body)
    let reader = JSONImageReader(input: ImageInput(rows: 20, columns: 20))
    guard let inference = try? InferenceRequest(request, reader: reader, maxImages: 8)
    else { return 0 }
    precondition((1...8).contains(inference.count), "an image count outside 1...8")
    precondition(inference.pixels.count == inference.count * 400, "pixels that do not match the count")
    precondition(inference.pixels.allSatisfy { $0 >= 0 && $0 <= 1 }, "a pixel outside 0...1")
    return 0
}
