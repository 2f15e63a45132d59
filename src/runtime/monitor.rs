//! The monitor thread: one per runtime, when it has something to watch. It runs the
//! stuck-poll watchdog (`runtime/stuck.rs`, every quarter of the long-poll threshold) and
//! the CPU watch (`runtime/cpu_watch.rs`, every CPU-check interval), and sleeps in between;
//! shutdown wakes it. It is a plain thread (`sys::plain_thread`): it starts with the
//! process's own placement, never a worker's, which is what lets its own affinity tell the
//! CPU watch which CPUs the process may use.

use super::policy;
use super::shared::Shared;
use super::stuck::Watchdog;
use crate::loom::sync::Arc;
use crate::sys;
use std::time::Instant;

/// Does `shared` need a monitor thread?
pub(crate) fn needed(shared: &Shared) -> bool {
    shared.watchdog.is_some() || shared.cpu_watch.is_some()
}

/// The monitor's loop, until shutdown.
pub(crate) fn run(shared: Arc<Shared>) {
    let mut watchdog = shared
        .watchdog
        .as_ref()
        .map(|config| (Watchdog::new(config, shared.workers.len()), config));
    let dog_every = shared.watchdog.as_ref().map(Watchdog::interval);
    let cpu_every = shared.cpu_watch.as_ref().map(|watch| watch.interval);
    let mut baseline = None;
    let start = Instant::now();
    let (mut next_dog, mut next_cpu) = (start + dog_every.unwrap_or_default(), start);
    while !shared.is_shutdown() {
        let now = Instant::now();
        if let Some(every) = cpu_every {
            if now >= next_cpu {
                look_at_cpus(&shared, &mut baseline);
                next_cpu = now + every;
            }
        }
        if let (Some((dog, config)), Some(every)) = (&mut watchdog, dog_every) {
            if now >= next_dog {
                dog.sample(&shared, config);
                next_dog = now + every;
            }
        }
        let next = match (dog_every, cpu_every) {
            (Some(_), Some(_)) => next_dog.min(next_cpu),
            (Some(_), None) => next_dog,
            (None, _) => next_cpu,
        };
        shared
            .monitor_parker
            .park_timeout(next.saturating_duration_since(Instant::now()));
    }
}

/// One look of the CPU watch: this thread's affinity, against the one it had first.
fn look_at_cpus(shared: &Shared, baseline: &mut Option<Vec<usize>>) {
    let Some(watch) = &shared.cpu_watch else {
        return;
    };
    // `None`: the OS does not say (or the call failed this once): nothing to act on.
    let Some(own) = sys::current_thread_affinity() else {
        return;
    };
    let baseline = baseline.get_or_insert_with(|| own.clone());
    let allowed = policy::allowed_cpus(&own, baseline);
    if watch.changes_from(&allowed) {
        // Before the change is published, so that whoever sees it sees the spin for it.
        shared.follow_cpu_count(sys::cpus_available(Some(&allowed)));
    }
    if watch.publish(allowed) {
        // Sleeping workers re-place themselves when woken (and sleep on if there is no
        // work), so metrics show where every worker runs now; a busy worker does at its
        // next fair turn, or at once when it next parks (the unpark leaves it a token).
        for slot in shared.workers.iter() {
            slot.parker.unpark();
        }
    }
}
