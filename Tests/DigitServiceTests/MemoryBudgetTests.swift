import DigitCore
import Foundation
import HTTPCore
import LoopbackClient
import Testing

@testable import DigitService

/// The service's side of the memory budget: where its size comes from (the control groups, the flag),
/// what `/metrics` says of it, and the pictures' decoding held within it.
@Suite("memory budget: cgroup limit, metrics, pictures", .serialized)
struct MemoryBudgetTests {
    /// A made-up `/sys/fs/cgroup` and `/proc/self/cgroup` in a temporary folder.
    struct CgroupTree {
        let root: URL

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("cgroup-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        }

        func write(_ text: String, to relative: String) throws {
            let file = root.appendingPathComponent(relative)
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: file)
        }

        func limit(membership: String) throws -> Int? {
            try write(membership, to: "self-cgroup")
            return ContainerMemoryLimit.current(
                cgroupRoot: root.appendingPathComponent("fs").path,
                membership: root.appendingPathComponent("self-cgroup").path)
        }

        func remove() { try? FileManager.default.removeItem(at: root) }
    }

    static let mebibyte = 1 << 20

    /// Waits (up to 10 s) until `condition` holds.
    func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0..<200 {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return condition()
    }

    @Test("v2: a pod's limit one group above the container's \"max\" is found")
    func cgroupV2Parent() throws {
        let tree = try CgroupTree()
        defer { tree.remove() }
        try tree.write("max\n", to: "fs/kubepods/pod1/container/memory.max")
        try tree.write("\(512 * Self.mebibyte)\n", to: "fs/kubepods/pod1/memory.max")
        try tree.write("max\n", to: "fs/kubepods/memory.max")
        #expect(try tree.limit(membership: "0::/kubepods/pod1/container\n") == 512 * Self.mebibyte)
    }

    @Test("v1: the smallest limit on the way up wins; none at all is nil")
    func cgroupV1Smallest() throws {
        let tree = try CgroupTree()
        defer { tree.remove() }
        try tree.write("\(256 * Self.mebibyte)\n", to: "fs/memory/a/memory.limit_in_bytes")
        try tree.write("\(300 * Self.mebibyte)\n", to: "fs/memory/a/b/memory.limit_in_bytes")
        try tree.write("9223372036854771712\n", to: "fs/memory/memory.limit_in_bytes")
        let membership = "12:pids:/a/b\n4:memory:/a/b\n0::/\n"
        #expect(try tree.limit(membership: membership) == 256 * Self.mebibyte)
        try tree.write("\(128 * Self.mebibyte)\n", to: "fs/memory/a/b/memory.limit_in_bytes")
        #expect(try tree.limit(membership: membership) == 128 * Self.mebibyte)
        #expect(try tree.limit(membership: "4:memory:/other\n") == nil, "v1's no-limit number counts as none")
        #expect(
            try tree.limit(membership: "4:memory:/../../a/b\n") == nil,
            "a path leaving the hierarchy is read only at the top")
    }

    @Test("--memory-budget: sizes with units, auto, off; nonsense refused")
    func budgetSizes() {
        #expect(MemoryBudgetSize("512MiB") == .bytes(512 * Self.mebibyte))
        #expect(MemoryBudgetSize("1g") == .bytes(1 << 30))
        #expect(MemoryBudgetSize("300M") == .bytes(300 * Self.mebibyte))
        #expect(MemoryBudgetSize("65536") == .bytes(65536))
        #expect(MemoryBudgetSize("AUTO") == .automatic && MemoryBudgetSize("off") == .off)
        for bad in ["", "0", "-5MiB", "12TB", "9999999999999G", "half"] {
            #expect(MemoryBudgetSize(bad) == nil, "\(bad)")
        }
        #expect(MemoryBudgetSize.automatic.bytes(containerLimit: 256 * Self.mebibyte) == 128 * Self.mebibyte)
        #expect(MemoryBudgetSize.automatic.bytes(containerLimit: nil) == MemoryBudgetSize.defaultWithoutLimit)
        #expect(MemoryBudgetSize.off.bytes(containerLimit: 1 << 30) == nil)
    }

    @Test("/metrics reports the budget, what is reserved, the refusals by reason and the queue")
    func metricsScrape() async throws {
        let harness = try ServiceHarness(configure: { $0.memoryBudget = .bytes(Self.mebibyte) })
        defer { harness.stop() }
        // A batch that fits the budget but not what is free while another's head holds 900 KiB: 503,
        // counted as a refusal for memory.
        let port = harness.server.port
        let holder = try TestClient(port: port)
        try holder.send(
            "POST /predict/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(900 * 1024)\r\n\r\n"
        )
        #expect(eventually { harness.service.memoryBudget.reserved >= 900 * 1024 })
        let refused = try TestClient(port: port)
        try refused.send(
            "POST /predict/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(500 * 1024)\r\n\r\n"
        )
        let answer = try refused.readResponse()
        #expect(answer.status == 503 && answer.header("Retry-After") == "1")
        let text = String(decoding: try await harness.request("GET", "/metrics", contentType: nil).body, as: UTF8.self)
        #expect(text.contains("digits_memory_budget_bytes \(Self.mebibyte)"))
        #expect(
            text.contains("digits_memory_reserved_bytes \(900 * 1024)"), "the holder's body, reserved from its head")
        #expect(text.contains("digits_requests_refused_total{reason=\"memory\"} 1"))
        #expect(text.contains("digits_work_queue_length 0"))
        #expect(text.contains("digits_work_queue_wait_seconds"))
        holder.closeNow()
    }

    @Test("a picture is decoded within the budget's room: 503 when the requests in progress leave too little")
    func pictureDecodeHeldInBudget() async throws {
        let harness = try ServiceHarness(
            model: "ten-class", configure: { $0.memoryBudget = .bytes(12 * Self.mebibyte) })
        defer { harness.stop() }
        // A 2900 x 2900 grey PGM: 8.4 MB of pixels in an 8.4 MB body, which the 12 MiB budget holds, with
        // less than 8.4 MB left for decoding it (within the 64 MiB limit on decoded bytes).
        let side = 2900
        let picture = Data(Array("P5\n\(side) \(side)\n255\n".utf8) + [UInt8](repeating: 0, count: side * side))
        let reply = try await harness.request(
            "POST", "/predict", body: picture, contentType: "image/x-portable-graymap")
        #expect(reply.status == 503 && reply.header("Retry-After") == "1", "\(reply.status): \(reply.errorMessage)")
        #expect(reply.errorMessage.contains("decoding the picture needs 8"), "\(reply.errorMessage)")
        let metrics = String(
            decoding: try await harness.request("GET", "/metrics", contentType: nil).body, as: UTF8.self)
        #expect(
            metrics.contains("digits_requests_refused_total{reason=\"memory\"} 1"),
            "a handler's refusal is counted as the connection's are")
        // The answer is counted until written, which is just after the client has it.
        #expect(eventually { harness.service.memoryBudget.reserved == 0 })
    }
}
