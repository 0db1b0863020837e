import Synchronization

/// Request ids: the client's `X-Request-ID` when it is sane, so a trace crosses services; otherwise a
/// process-unique id made of a random prefix and a counter, cheaper than a random UUID per request.
final class RequestIDGenerator: Sendable {
    private let prefix: String
    private let counter = Atomic<UInt64>(0)

    init() {
        var generator = SystemRandomNumberGenerator()
        let random = String(generator.next() as UInt32, radix: 16)
        prefix = String(repeating: "0", count: 8 - random.count) + random
    }

    /// The id for a request whose client sent `clientValue` (or none).
    func id(for clientValue: String?) -> String {
        if let clientValue, Self.isSane(clientValue) { return clientValue }
        let number = counter.add(1, ordering: .relaxed).newValue
        return prefix + "-" + String(number, radix: 16)
    }

    /// 1 to 128 characters of letters, digits and `-_.:/+=@`: enough for UUIDs, trace ids and base64,
    /// too little to inject anything into a log line or a response header.
    static func isSane(_ value: String) -> Bool {
        (1...128).contains(value.utf8.count)
            && value.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                    UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "+"), UInt8(ascii: "="), UInt8(ascii: "@"):
                    true
                default: false
                }
            }
    }
}
