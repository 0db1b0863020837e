import DigitCore
import Glibc
import HTTPCore

/// The memory limit a container runtime or Kubernetes set on this process, as its control groups say:
/// `memory.max` on cgroup v2, `memory.limit_in_bytes` on v1; `nil` without one.
enum ContainerMemoryLimit {
    /// The smallest limit on the process's own group (from `/proc/self/cgroup`) and every group above it,
    /// up to the top of the hierarchy (where a container with its own cgroup namespace sees its group):
    /// the kernel enforces each of them, and a pod's limit is often set on the pod's group, one above the
    /// container's, whose own file says "max". "max", v1's "no limit" (a number near 2^63) and limits
    /// above the machine's memory count as none.
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
        let files =
            groupAndParents(groupV2).map { "\(cgroupRoot)\($0)/memory.max" }
            + groupAndParents(groupV1).map { "\(cgroupRoot)/memory\($0)/memory.limit_in_bytes" }
        let limits = files.compactMap { path -> Int? in
            guard let bytes = try? FileIO.read(path, maxBytes: 64) else { return nil }
            let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(equalTo: "\n")
            guard let limit = Int(text), limit > 0, limit < physicalMemory else { return nil }  // "max"
            return limit
        }
        return limits.min()
    }

    /// `/a/b` gives `/a/b`, `/a` and `` (the top); paths from `/proc/self/cgroup` are absolute.
    static func groupAndParents(_ group: String) -> [String] {
        var parts = group.split(separator: "/").map(String.init)
        // A group named ".." would lead outside the hierarchy; such a membership file is not the kernel's.
        guard !parts.contains("..") else { return [""] }
        var groups: [String] = []
        while true {
            groups.append(parts.isEmpty ? "" : "/" + parts.joined(separator: "/"))
            if parts.isEmpty { return groups }
            parts.removeLast()
        }
    }

    static var physicalMemory: Int {
        Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
