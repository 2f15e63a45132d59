//! `TopologyError`: every way detection, parsing or overriding can fail.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::CpuSetError;

/// Why a topology could not be built. Each message names the input (file path,
/// environment variable or API argument), the offending value and what was expected.
#[derive(Debug)]
#[non_exhaustive]
pub enum TopologyError {
    /// A file or directory that detection needs could not be read.
    Io {
        /// The path that failed.
        path: PathBuf,
        /// What we expected to find there.
        expected: String,
        /// The OS error.
        source: io::Error,
    },
    /// A file that detection needs has contents we cannot use.
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// Its contents (trimmed, shortened if long).
        value: String,
        /// What was expected.
        expected: String,
    },
    /// A cpulist given through an environment variable or an API argument is malformed.
    InvalidCpuList {
        /// Variable or argument name, e.g. `HETSCHED_P_CPUS` or `p_cpus`.
        input: String,
        /// The underlying parse error (quotes the text).
        source: CpuSetError,
    },
    /// An environment variable or API argument is well-formed but unusable here.
    InvalidValue {
        /// Variable or argument name.
        input: String,
        /// The value given.
        value: String,
        /// Why it cannot be used / what was expected.
        reason: String,
    },
    /// A `sysctl` dump has none of the keys that describe the CPUs.
    SysctlDump {
        /// What was expected and what was missing.
        reason: String,
    },
}

impl TopologyError {
    pub(crate) fn io(path: impl Into<PathBuf>, expected: impl Into<String>, e: io::Error) -> Self {
        TopologyError::Io {
            path: path.into(),
            expected: expected.into(),
            source: e,
        }
    }

    pub(crate) fn invalid_file(
        path: impl Into<PathBuf>,
        value: &str,
        expected: impl Into<String>,
    ) -> Self {
        TopologyError::InvalidFile {
            path: path.into(),
            value: shorten(value.trim()),
            expected: expected.into(),
        }
    }

    pub(crate) fn invalid_value(
        input: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        TopologyError::InvalidValue {
            input: input.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// The file, variable or argument this error is about, as it appears in the message.
    pub fn input(&self) -> String {
        match self {
            TopologyError::Io { path, .. } | TopologyError::InvalidFile { path, .. } => {
                path.display().to_string()
            }
            TopologyError::InvalidCpuList { input, .. }
            | TopologyError::InvalidValue { input, .. } => input.clone(),
            TopologyError::SysctlDump { .. } => "sysctl dump".to_string(),
        }
    }
}

/// Keeps error messages one line long when a file holds a lot of garbage.
fn shorten(value: &str) -> String {
    const LIMIT: usize = 80;
    if value.chars().count() <= LIMIT {
        value.to_string()
    } else {
        let head: String = value.chars().take(LIMIT).collect();
        format!("{head}...")
    }
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopologyError::Io {
                path,
                expected,
                source,
            } => write!(
                f,
                "cannot read {}: {source} (expected {expected})",
                path.display()
            ),
            TopologyError::InvalidFile {
                path,
                value,
                expected,
            } => write!(
                f,
                "{}: unusable contents {value:?} (expected {expected})",
                path.display()
            ),
            TopologyError::InvalidCpuList { input, source } => write!(f, "{input}: {source}"),
            TopologyError::InvalidValue {
                input,
                value,
                reason,
            } => write!(f, "{input}={value:?}: {reason}"),
            TopologyError::SysctlDump { reason } => write!(f, "sysctl dump: {reason}"),
        }
    }
}

impl std::error::Error for TopologyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TopologyError::Io { source, .. } => Some(source),
            TopologyError::InvalidCpuList { source, .. } => Some(source),
            _ => None,
        }
    }
}
