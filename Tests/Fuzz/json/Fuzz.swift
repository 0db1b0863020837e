// libFuzzer entry point for the JSON body readers, compiled with the service's readers by fuzz.sh.
//
// On every input, beyond "never crashes, never trips AddressSanitizer":
// - whatever JSONParser accepts, JSONWriter writes back as text that parses to the same value;
// - whatever the fast request reader accepts, the full path (JSONParser, then JSONImageReader) accepts with
//   the same pixels, for a single image and for a batch (so the fast path can never let through what the
//   strict one refuses);
// - limits hold: a parse with a value limit never returns a tree with more values than allowed.
import JSON

let decoder = JSONImageReader(input: ImageInput(rows: 20, columns: 20))
let fastReader = FastImageReader(input: ImageInput(rows: 20, columns: 20))

func valueCount(_ value: JSONValue) -> Int {
    switch value {
    case .array(let elements): 1 + elements.reduce(0) { $0 + valueCount($1) }
    case .object(let members): 1 + members.reduce(0) { $0 + valueCount($1.value) }
    default: 1
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let value = try? JSONParser().parse(bytes) {
        let text = JSONWriter.compact(value)
        let again = try? JSONParser().parse(Array(text.utf8))
        precondition(again == value, "the writer's text does not read back: \(text)")
        precondition(
            (try? JSONParser(maxValues: 64).parse(bytes)) == nil || valueCount(value) <= 64, "a value limit was passed")
    }
    if let fast = fastReader.singleImage(bytes) {
        let full = try? decoder.singleImage(from: decoder.json(body: bytes, maxImages: 1))
        precondition(full == fast, "the fast reader accepted a single image the full path reads otherwise")
    }
    if let fast = fastReader.batch(bytes, limit: 4) {
        let full = try? decoder.batch(from: decoder.json(body: bytes, maxImages: 4), limit: 4)
        precondition(full?.pixels == fast.pixels && full?.count == fast.count, "the fast reader's batch differs")
    }
    return 0
}
