//! Per-task quality of service.

use std::fmt;
use std::str::FromStr;

/// How urgent a task is: the same ladder as Apple's QoS classes.
///
/// The runtime maps each level to a *lane* (see [`Lane`](crate::Lane)): `Interactive` and
/// `UserInitiated` form the latency-critical lane, polled only on performance workers;
/// `Background` runs on efficiency workers when the runtime has any; `Default` and `Utility`
/// run anywhere (performance workers prefer `Default`, efficiency workers prefer `Utility`).
///
/// A plain [`spawn`](crate::spawn) inherits the Qos of the task that calls it, and is
/// `Default` from outside any task; [`spawn_with`](crate::spawn_with) says it explicitly.
///
/// ```
/// use hetsched::Qos;
///
/// let qos: Qos = "user-initiated".parse().unwrap();
/// assert_eq!(qos, Qos::UserInitiated);
/// assert_eq!(qos.to_string(), "user-initiated");
/// assert!(qos.is_latency_critical());
/// assert_eq!(Qos::default(), Qos::Default);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Qos {
    /// Work the user is waiting on right now (a UI frame, a request on the hot path).
    Interactive,
    /// Work the user started and waits for (opening a document, a query).
    UserInitiated,
    /// Ordinary work; what a task gets when nobody says otherwise.
    #[default]
    Default,
    /// Long-running work the user knows about (a download, an import).
    Utility,
    /// Work nobody waits for (indexing, backups, compaction).
    Background,
}

impl Qos {
    /// Every level, most urgent first.
    pub const ALL: [Qos; 5] = [
        Qos::Interactive,
        Qos::UserInitiated,
        Qos::Default,
        Qos::Utility,
        Qos::Background,
    ];

    /// True for `Interactive` and `UserInitiated`: the levels that only performance
    /// workers poll.
    pub fn is_latency_critical(self) -> bool {
        matches!(self, Qos::Interactive | Qos::UserInitiated)
    }

    /// How urgent, as a number: 4 for `Interactive` down to 0 for `Background`. Escalation
    /// compares these (a task awaited by a more urgent one is raised to its Qos).
    ///
    /// ```
    /// use hetsched::Qos;
    /// assert!(Qos::Interactive.urgency() > Qos::UserInitiated.urgency());
    /// assert_eq!(Qos::Background.urgency(), 0);
    /// ```
    pub fn urgency(self) -> u8 {
        match self {
            Qos::Interactive => 4,
            Qos::UserInitiated => 3,
            Qos::Default => 2,
            Qos::Utility => 1,
            Qos::Background => 0,
        }
    }

    /// The Qos of [`urgency`](Self::urgency) `urgency` (above 4: `Interactive`).
    pub(crate) fn from_urgency(urgency: u8) -> Qos {
        // A table, not a match: read at every poll (the task header's Qos).
        const BY_URGENCY: [Qos; 5] = [
            Qos::Background,
            Qos::Utility,
            Qos::Default,
            Qos::UserInitiated,
            Qos::Interactive,
        ];
        BY_URGENCY[usize::from(urgency).min(4)]
    }

    /// The name used by `Display` and `FromStr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Qos::Interactive => "interactive",
            Qos::UserInitiated => "user-initiated",
            Qos::Default => "default",
            Qos::Utility => "utility",
            Qos::Background => "background",
        }
    }
}

impl fmt::Display for Qos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error from parsing a [`Qos`]: quotes the text and lists what is accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseQosError {
    text: String,
}

impl fmt::Display for ParseQosError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid qos {:?}: expected one of interactive, user-initiated, default, utility, background",
            self.text
        )
    }
}

impl std::error::Error for ParseQosError {}

impl FromStr for Qos {
    type Err = ParseQosError;

    /// Accepts the `Display` names, case-insensitively, with `_` or `-` between words.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let normalized = text.trim().to_ascii_lowercase().replace('_', "-");
        Qos::ALL
            .into_iter()
            .find(|qos| qos.as_str() == normalized || qos.as_str().replace('-', "") == normalized)
            .ok_or_else(|| ParseQosError {
                text: text.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_accepts_variants() {
        for qos in Qos::ALL {
            assert_eq!(qos.to_string().parse::<Qos>(), Ok(qos));
        }
        assert_eq!("USER_INITIATED".parse::<Qos>(), Ok(Qos::UserInitiated));
        assert_eq!(" userinitiated\n".parse::<Qos>(), Ok(Qos::UserInitiated));
        let err = "urgent".parse::<Qos>().unwrap_err();
        assert!(err.to_string().contains("\"urgent\""), "{err}");
    }

    #[test]
    fn urgency_orders_the_ladder_and_round_trips() {
        let urgencies: Vec<u8> = Qos::ALL.iter().map(|q| q.urgency()).collect();
        assert_eq!(urgencies, [4, 3, 2, 1, 0]);
        for qos in Qos::ALL {
            assert_eq!(Qos::from_urgency(qos.urgency()), qos);
        }
    }

    #[test]
    fn only_interactive_and_user_initiated_are_critical() {
        let critical: Vec<Qos> = Qos::ALL
            .into_iter()
            .filter(|q| q.is_latency_critical())
            .collect();
        assert_eq!(critical, [Qos::Interactive, Qos::UserInitiated]);
    }
}
