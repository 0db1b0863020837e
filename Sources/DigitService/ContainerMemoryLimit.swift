import DigitCore
import Glibc
import HTTPCore

/// The memory limit a container runtime or Kubernetes set on this process, as its control group says:
/// `memory.max` on cgroup v2, `memory.limit_in_bytes` on v1; `nil` without one.
enum ContainerMemoryLimit {
    /// The limit, looked for in the process's own group (from `/proc/self/cgroup`) and at the top of the
    /// hierarchy (where a container with its own cgroup namespace sees its group). "max", v1's "no limit"
    /// (a number near 2^63) and limits above the machine's memory count as none.
    static func current(cgroupRoot: String = "/sys/fs/cgroup", membership: String = "/proc/self/cgroup") -> Int? {
        var groupV2 = "/"
        var groupV1 = "/"
        if let text = try? FileIO.read(membership, maxBytes: 64 * 1024) {
            for line in String(decoding: text, as: UTF8.self).split(separator: "\n") {
                let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                guard fields.count == 3 else { continue }
                if fields[0] == "0" && fields[1].isEmpty { groupV2 = String(fields[2]) }
                if fields[1].split(separator: ",").contains("memory") { groupV1 = String(fields[2]) }
            }
        }
        let candidates = [
            "\(cgroupRoot)\(groupV2)/memory.max", "\(cgroupRoot)/memory.max",
            "\(cgroupRoot)/memory\(groupV1)/memory.limit_in_bytes", "\(cgroupRoot)/memory/memory.limit_in_bytes",
        ]
        for path in candidates {
            guard let bytes = try? FileIO.read(path, maxBytes: 64) else { continue }
            let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(equalTo: "\n")
            guard let limit = Int(text) else { return nil }  // "max"
            return limit > 0 && limit < physicalMemory ? limit : nil
        }
        return nil
    }

    static var physicalMemory: Int {
        Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
