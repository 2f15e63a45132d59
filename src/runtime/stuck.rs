//! Stuck polls: a poll that runs longer than [`Builder::long_poll_threshold`]
//! (a task blocking its worker) is counted per lane in metrics, and reported once per task
//! through [`Builder::on_long_poll`], so an operator can log the culprit while it is stuck.
//!
//! No clock is read on the poll path. Each worker publishes one word per poll
//! ([`PollRecord`]: the poll's number, its lane, whether the task was reported before,
//! and a "polling" bit); the watchdog, on the runtime's monitor thread
//! (`runtime/monitor.rs`; the watchdog runs only when the threshold is not zero), samples every worker each `threshold / 4` and times the polls it sees by its own
//! clock: a poll seen running in two samples at least `threshold` apart has run at least
//! that long. Durations are therefore lower bounds, short by at most one sampling interval,
//! and a poll is detected between `threshold` and `1.25 × threshold` after it started.
//!
//! Once per task (the protocol, loom model `loom-tests/tests/stuck.rs`): the watchdog
//! *claims* a long poll by storing its number in `reported`, fences, and reads the word
//! again; it calls the hook only if that poll is still running. The worker ends a poll by
//! storing the word, fences, and reads `reported`: if its poll was claimed, it marks the
//! task (`TaskHeader::mark_long_poll_reported`), and the task's later polls publish that
//! mark, so the watchdog counts them but reports them no more. With a SeqCst fence between
//! each side's store and load, one side always sees the other (Dekker, as in `lend.rs`): a
//! reported task is always marked.
//!
//! [`Builder::long_poll_threshold`]: super::Builder::long_poll_threshold
//! [`Builder::on_long_poll`]: super::Builder::on_long_poll

use super::policy::{Lane, LANES};
use super::shared::Shared;
use crate::loom::sync::atomic::{fence, AtomicUsize};
// Counters only, in no protocol: plain atomics even under loom.
use crate::loom::untracked::AtomicU64;
use crate::topology::CoreClass;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

/// The default [`Builder::long_poll_threshold`](super::Builder::long_poll_threshold):
/// 10 ms, ten times the longest chunk a well-behaved task runs between yields.
pub const DEFAULT_LONG_POLL_THRESHOLD: Duration = Duration::from_millis(10);

/// The hook [`Builder::on_long_poll`](super::Builder::on_long_poll) installs.
pub(crate) type LongPollHook = std::sync::Arc<dyn Fn(&LongPoll) + Send + Sync>;

/// The watchdog's settings, when it runs.
pub(crate) struct WatchdogConfig {
    pub(crate) threshold: Duration,
    pub(crate) hook: Option<LongPollHook>,
}

const POLLING: usize = 1;
const MARKED: usize = 1 << 1;
const LANE_SHIFT: u32 = 2;
const SEQ_SHIFT: u32 = 4;
const SEQ_ONE: usize = 1 << SEQ_SHIFT;

/// One worker's published poll (written only by the worker).
#[derive(Default)]
pub(crate) struct PollRecord {
    /// `poll number << 4 | lane << 2 | marked << 1 | polling`.
    word: AtomicUsize,
    /// The poll number the watchdog reported (claimed) last.
    reported: AtomicUsize,
}

/// A poll the watchdog saw running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Running {
    /// The poll's number (distinct for each poll of this worker, until it wraps).
    pub(crate) poll: usize,
    /// The polled task's lane.
    pub(crate) lane: Lane,
    /// The task was reported before: count this poll, do not report it again.
    pub(crate) marked: bool,
}

impl PollRecord {
    /// The worker starts polling a task of `lane`; `marked`: the task was reported before.
    pub(crate) fn begin(&self, lane: Lane, marked: bool) {
        let next = (self.word.load(Relaxed) >> SEQ_SHIFT).wrapping_add(1);
        let word = next.wrapping_mul(SEQ_ONE)
            | (lane.index() << LANE_SHIFT)
            | if marked { MARKED } else { 0 }
            | POLLING;
        // Only the watchdog's sampling reads it: no ordering against anything else.
        self.word.store(word, Relaxed);
    }

    /// The worker's poll has ended. True if the watchdog reported it: the worker then marks
    /// the task, so that it is reported once.
    pub(crate) fn end(&self) -> bool {
        let word = self.word.load(Relaxed);
        // Relaxed accesses ordered by the SeqCst fence (one `mfence` per poll on x86, the
        // whole cost; measured in RELIABILITY.md): the fence pairs with `claim`'s.
        self.word.store(word & !POLLING, Relaxed);
        if !crate::loom::mutation!("stuck_end_no_fence") {
            fence(SeqCst);
        }
        self.reported.load(Relaxed) == word >> SEQ_SHIFT
    }

    /// The worker's poll has ended without [`PollRecord::end`] (it unwound before the
    /// worker's `poll_ended` ran): just clear the polling bit.
    pub(crate) fn finish(&self) {
        let word = self.word.load(Relaxed);
        if word & POLLING != 0 {
            self.word.store(word & !POLLING, Relaxed);
        }
    }

    /// The watchdog's look: the poll running now, if any.
    pub(crate) fn sample(&self) -> Option<Running> {
        let word = self.word.load(Relaxed);
        (word & POLLING != 0).then(|| Running {
            poll: word >> SEQ_SHIFT,
            lane: Lane::from_low_bits(word >> LANE_SHIFT),
            marked: word & MARKED != 0,
        })
    }

    /// The watchdog claims poll `poll` as reported. True if it is still running: then the
    /// worker will see the claim when the poll ends, and the hook may be called.
    pub(crate) fn claim(&self, poll: usize) -> bool {
        self.reported.store(poll, Relaxed);
        fence(SeqCst);
        if crate::loom::mutation!("stuck_claim_no_recheck") {
            return true;
        }
        self.sample().is_some_and(|now| now.poll == poll)
    }
}

/// What [`Builder::on_long_poll`](super::Builder::on_long_poll) is told about a stuck poll.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LongPoll {
    /// The worker thread's name (`hetsched-p-0`).
    pub worker: String,
    /// The worker's class.
    pub class: CoreClass,
    /// The stuck task's lane.
    pub lane: Lane,
    /// How long the poll has run so far (a lower bound, at least the threshold).
    pub running_for: Duration,
}

/// Long polls of one lane, for metrics.
#[derive(Default)]
pub(crate) struct LaneLongPolls {
    /// Polls found longer than the threshold.
    pub(crate) count: AtomicU64,
    /// Their summed running time (lower bounds), ns.
    pub(crate) total_ns: AtomicU64,
    /// The longest (so far, for one still running), ns.
    pub(crate) max_ns: AtomicU64,
}

impl LaneLongPolls {
    fn record_max(&self, ns: u64) {
        self.max_ns.fetch_max(ns, Relaxed);
    }
}

/// The watchdog's state between samples (it runs on the monitor thread,
/// `runtime/monitor.rs`).
pub(crate) struct Watchdog {
    threshold_ns: u64,
    clock: Instant,
    seen: Vec<Seen>,
}

impl Watchdog {
    pub(crate) fn new(config: &WatchdogConfig, workers: usize) -> Watchdog {
        Watchdog {
            threshold_ns: u64::try_from(config.threshold.as_nanos()).unwrap_or(u64::MAX),
            clock: Instant::now(),
            seen: vec![Seen::default(); workers],
        }
    }

    /// How often to sample: a quarter of the threshold, at least 1 ms.
    pub(crate) fn interval(config: &WatchdogConfig) -> Duration {
        (config.threshold / 4).max(Duration::from_millis(1))
    }

    /// Sample every worker once.
    pub(crate) fn sample(&mut self, shared: &Shared, config: &WatchdogConfig) {
        let now_ns = u64::try_from(self.clock.elapsed().as_nanos()).unwrap_or(u64::MAX);
        for (slot, seen) in shared.workers.iter().zip(self.seen.iter_mut()) {
            let stats = |lane: Lane| &shared.long_polls[lane.index()];
            match judge(seen, slot.polls.sample(), now_ns, self.threshold_ns) {
                Verdict::Nothing => {}
                Verdict::Long {
                    running,
                    running_for_ns,
                } => {
                    let lane_stats = stats(running.lane);
                    lane_stats.count.fetch_add(1, Relaxed);
                    lane_stats.record_max(running_for_ns);
                    if !running.marked && slot.polls.claim(running.poll) {
                        if let Some(hook) = &config.hook {
                            let report = LongPoll {
                                worker: slot.name.clone(),
                                class: slot.class,
                                lane: running.lane,
                                running_for: Duration::from_nanos(running_for_ns),
                            };
                            // A panicking hook must not end the watchdog.
                            let _ = catch_unwind(AssertUnwindSafe(|| hook(&report)));
                        }
                    }
                }
                Verdict::StillLong {
                    lane,
                    running_for_ns,
                } => stats(lane).record_max(running_for_ns),
                Verdict::Ended { lane, ran_ns } => {
                    stats(lane).total_ns.fetch_add(ran_ns, Relaxed);
                    stats(lane).record_max(ran_ns);
                }
            }
        }
    }
}

/// Per-lane long-poll counters of a runtime.
pub(crate) fn lane_stats() -> [LaneLongPolls; LANES] {
    std::array::from_fn(|_| LaneLongPolls::default())
}

/// What the watchdog remembers about each worker's poll between samples.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Seen {
    /// The poll, its lane, and when the watchdog first saw it running (ns on its clock).
    poll: Option<(usize, Lane, u64)>,
    /// It was counted as long.
    counted: bool,
    /// Last time it was seen running.
    last_ns: u64,
}

/// What one sample of one worker means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing new.
    Nothing,
    /// A poll just crossed the threshold: count it (and report it unless `marked`).
    Long {
        /// The poll.
        running: Running,
        /// How long it has run, at least.
        running_for_ns: u64,
    },
    /// A long poll is still running: its duration so far.
    StillLong {
        /// Its lane.
        lane: Lane,
        /// How long it has run, at least.
        running_for_ns: u64,
    },
    /// A long poll ended: its duration, at least.
    Ended {
        /// Its lane.
        lane: Lane,
        /// How long it ran, at least.
        ran_ns: u64,
    },
}

/// The watchdog's rule for one worker: pure, so tests can drive it with any clock.
/// `seen` is updated; `now_ns` is `sample`'s time on the watchdog's clock.
pub(crate) fn judge(
    seen: &mut Seen,
    sample: Option<Running>,
    now_ns: u64,
    threshold_ns: u64,
) -> Verdict {
    let same = matches!((seen.poll, sample), (Some((poll, ..)), Some(r)) if poll == r.poll);
    if !same {
        let ended = match seen.poll {
            Some((_, lane, first)) if seen.counted => Verdict::Ended {
                lane,
                ran_ns: seen.last_ns.saturating_sub(first),
            },
            _ => Verdict::Nothing,
        };
        *seen = Seen {
            poll: sample.map(|r| (r.poll, r.lane, now_ns)),
            counted: false,
            last_ns: now_ns,
        };
        return ended;
    }
    let (Some((_, lane, first)), Some(running)) = (seen.poll, sample) else {
        return Verdict::Nothing;
    };
    seen.last_ns = now_ns;
    let running_for_ns = now_ns.saturating_sub(first);
    if seen.counted {
        return Verdict::StillLong {
            lane,
            running_for_ns,
        };
    }
    if running_for_ns >= threshold_ns {
        seen.counted = true;
        return Verdict::Long {
            running,
            running_for_ns,
        };
    }
    Verdict::Nothing
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn running(poll: usize, lane: Lane) -> Option<Running> {
        Some(Running {
            poll,
            lane,
            marked: false,
        })
    }

    #[test]
    fn the_record_publishes_each_poll_and_its_lane() {
        let r = PollRecord::default();
        assert_eq!(r.sample(), None);
        r.begin(Lane::Utility, false);
        let first = r.sample().unwrap();
        assert_eq!(first.lane, Lane::Utility);
        assert!(!first.marked);
        assert!(!r.end());
        assert_eq!(r.sample(), None);
        r.begin(Lane::Background, true);
        let second = r.sample().unwrap();
        assert_ne!(second.poll, first.poll);
        assert!(second.marked && second.lane == Lane::Background);
        // Claimed while running: the worker learns it at the end; a claim after the end
        // is refused (no hook for a poll that is over).
        assert!(r.claim(second.poll));
        assert!(r.end());
        assert!(!r.claim(second.poll));
    }

    #[test]
    fn a_poll_is_long_once_it_was_seen_running_for_the_threshold() {
        let ms = 1_000_000;
        let mut seen = Seen::default();
        let mut judge_at = |sample, t| judge(&mut seen, sample, t * ms, 10 * ms);
        assert_eq!(judge_at(running(1, Lane::Default), 0), Verdict::Nothing);
        assert_eq!(judge_at(running(1, Lane::Default), 9), Verdict::Nothing);
        assert!(matches!(
            judge_at(running(1, Lane::Default), 10),
            Verdict::Long { running_for_ns, .. } if running_for_ns == 10 * ms
        ));
        assert_eq!(
            judge_at(running(1, Lane::Default), 30),
            Verdict::StillLong {
                lane: Lane::Default,
                running_for_ns: 30 * ms
            }
        );
        // The next sample shows another poll: the long one ended, at least 30 ms long.
        assert_eq!(
            judge_at(running(2, Lane::Critical), 32),
            Verdict::Ended {
                lane: Lane::Default,
                ran_ns: 30 * ms
            }
        );
        // Short polls, one per sample, are never long.
        for t in 33..100 {
            assert_eq!(
                judge_at(running(t as usize, Lane::Critical), t),
                Verdict::Nothing
            );
        }
        assert_eq!(judge_at(None, 100), Verdict::Nothing);
    }
}
