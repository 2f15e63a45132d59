//! Why a task did not produce its output.

use std::any::Any;
use std::fmt;
use std::sync::Mutex;

/// A task did not complete: it panicked, or it was cancelled (aborted through its
/// [`JoinHandle`](crate::JoinHandle), or dropped by a runtime shutdown before it finished,
/// or spawned onto a runtime that had already shut down).
///
/// ```
/// let rt = hetsched::Builder::new().build().unwrap();
/// let err = rt
///     .block_on(rt.spawn(async { panic!("boom") }))
///     .unwrap_err();
/// assert!(err.is_panic());
/// let payload = err.into_panic();
/// assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
/// ```
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    // The payload is only reachable through `&mut self` / `self` (into_panic) or for
    // reading a message; the mutex makes `JoinError: Sync` without unsafe code.
    Panic(Mutex<Box<dyn Any + Send + 'static>>),
}

impl JoinError {
    pub(crate) fn cancelled() -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            repr: Repr::Panic(Mutex::new(payload)),
        }
    }

    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// True if the task was cancelled before it finished.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The panic payload, to inspect it or to resume the panic with
    /// [`std::panic::resume_unwind`].
    ///
    /// # Panics
    ///
    /// If the task was cancelled rather than panicked; see [`JoinError::try_into_panic`].
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("JoinError::into_panic called on a cancelled task's error")
    }

    /// The panic payload, or `Err(self)` if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(payload) => Ok(payload.into_inner().unwrap_or_else(|p| p.into_inner())),
            Repr::Cancelled => Err(self),
        }
    }

    fn panic_message(&self) -> Option<String> {
        match &self.repr {
            Repr::Panic(payload) => {
                let payload = payload.lock().unwrap_or_else(|p| p.into_inner());
                payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
            }
            Repr::Cancelled => None,
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("task was cancelled"),
            (Repr::Panic(_), Some(msg)) => write!(f, "task panicked: {msg}"),
            (Repr::Panic(_), None) => f.write_str("task panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("JoinError::Cancelled"),
            (Repr::Panic(_), Some(msg)) => write!(f, "JoinError::Panic({msg:?})"),
            (Repr::Panic(_), None) => f.write_str("JoinError::Panic(..)"),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(err: JoinError) -> Self {
        std::io::Error::other(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancelled_error_reports_itself() {
        let err = JoinError::cancelled();
        assert!(err.is_cancelled() && !err.is_panic());
        assert_eq!(err.to_string(), "task was cancelled");
        assert!(err.try_into_panic().unwrap_err().is_cancelled());
    }

    #[test]
    fn panic_error_keeps_payload_and_message() {
        let err = JoinError::panic(Box::new(String::from("bad index")));
        assert!(err.is_panic() && !err.is_cancelled());
        assert_eq!(err.to_string(), "task panicked: bad index");
        assert_eq!(format!("{err:?}"), "JoinError::Panic(\"bad index\")");
        let payload = err.into_panic();
        assert_eq!(payload.downcast_ref::<String>().unwrap(), "bad index");
    }

    #[test]
    fn join_error_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<JoinError>();
    }
}
