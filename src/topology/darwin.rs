//! Live macOS host via `sysctlbyname(3)`; classification shared with dumps (`sysctl.rs`).

use std::ffi::{CStr, CString};

use super::{sysctl, Source, Topology};

/// `Topology::detect` on macOS.
pub(crate) fn detect() -> Topology {
    sysctl::classify(&lookup, Source::Sysctl).unwrap_or_else(|_| super::fallback())
}

/// Reads one sysctl as text: `.name` keys are strings, everything else integers.
fn lookup(key: &str) -> Option<String> {
    if key.ends_with(".name") {
        sysctl_string(key)
    } else {
        sysctl_integer(key).map(|v| v.to_string())
    }
}

/// Reads sysctl `name` into `buf` (with an empty `buf`, only asks for the value's size);
/// returns the value's length in bytes.
fn sysctl_read(name: &CStr, buf: &mut [u8]) -> Option<usize> {
    let mut len: libc::size_t = buf.len();
    let oldp = if buf.is_empty() {
        std::ptr::null_mut()
    } else {
        buf.as_mut_ptr().cast()
    };
    // SAFETY: `name` is a NUL-terminated C string that outlives the call; `oldp` is null
    // (size query) or writable for `len` bytes; `len` is a valid in/out size pointer; no
    // new value is set (null `newp`, 0 `newlen`).
    let rc = unsafe { libc::sysctlbyname(name.as_ptr(), oldp, &mut len, std::ptr::null_mut(), 0) };
    (rc == 0).then_some(len)
}

fn sysctl_integer(key: &str) -> Option<u64> {
    let name = CString::new(key).ok()?;
    let mut buf = [0u8; 8];
    let len = sysctl_read(&name, &mut buf)?;
    // hw.* counts are `int` (4 bytes) or 64-bit on some keys; both little-endian on
    // every Apple platform we build for (x86_64, arm64).
    match len {
        4 => Some(u64::from(u32::from_ne_bytes([
            buf[0], buf[1], buf[2], buf[3],
        ]))),
        8 => Some(u64::from_ne_bytes(buf)),
        _ => None,
    }
}

fn sysctl_string(key: &str) -> Option<String> {
    let name = CString::new(key).ok()?;
    let len = sysctl_read(&name, &mut [])?;
    if len == 0 || len > 4096 {
        return None;
    }
    let mut buf = vec![0u8; len];
    let len = sysctl_read(&name, &mut buf)?;
    buf.truncate(len);
    let text = buf.split(|&b| b == 0).next().unwrap_or_default();
    Some(String::from_utf8_lossy(text).into_owned())
}
