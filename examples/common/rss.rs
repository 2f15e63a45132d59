//! The process's resident set, for the examples that watch memory (`scale`, `stress`'s
//! soak). Included with `#[path]`: `examples/common/` is not an example of its own.

/// Resident set of this process in bytes, from `VmRSS` in `/proc/self/status` (kB, so no
/// page size is assumed: arm64 kernels use 4, 16 or 64 KiB pages). 0 where there is no
/// procfs (macOS).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}
