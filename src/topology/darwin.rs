//! Live macOS host via `sysctlbyname(3)`; classification shared with dumps (`sysctl.rs`).

use std::ffi::CString;

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

fn sysctl_integer(key: &str) -> Option<u64> {
    let name = CString::new(key).ok()?;
    let mut buf = [0u8; 8];
    let mut len: libc::size_t = buf.len();
    // SAFETY: `name` is a NUL-terminated C string that outlives the call; `buf` is a
    // writable buffer of `len` bytes and `len` is a valid in/out size pointer; no new
    // value is set (null `newp`, 0 `newlen`).
    let rc = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return None;
    }
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
    let mut len: libc::size_t = 0;
    // SAFETY: a null `oldp` asks only for the size, written to the valid `len`.
    let rc = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            std::ptr::null_mut(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 || len == 0 || len > 4096 {
        return None;
    }
    let mut buf = vec![0u8; len];
    // SAFETY: `buf` is writable for `len` bytes, `len` is a valid in/out pointer and
    // `name` is NUL-terminated and alive for the call.
    let rc = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return None;
    }
    buf.truncate(len);
    let text = buf.split(|&b| b == 0).next().unwrap_or_default();
    Some(String::from_utf8_lossy(text).into_owned())
}
