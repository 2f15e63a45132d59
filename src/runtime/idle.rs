//! The idle / wake protocol: which parked worker to wake for new work, and how a worker
//! goes to sleep without missing work pushed at the same moment.
//!
//! The rules (after tokio's `idle.rs`, written for three worker roles: P, E and critical
//! workers, each with its own counters and sleeper list, so that work wakes only workers
//! of a role that may run it, and critical workers only for Critical work):
//! - one idle worker is woken per unit of new work, and only if no worker that may run the
//!   work is already *searching* (woken and not yet found work, or out of work and looking
//!   a little longer before it sleeps, `Builder::idle_spin`: such a worker watches the
//!   injectors, and finds a peer's queued work at the latest in the look every worker takes
//!   before it sleeps): no thundering herd; a
//!   yield that its own worker, the lane's first choice, will find next (the only work it
//!   sees) is not new work for anyone else and wakes nobody (`policy::wakes_a_peer`);
//! - a searcher that finds work and was the last searcher of its role wakes one more
//!   worker, so a burst spreads over the idle workers one at a time;
//! - a worker going to sleep first registers as a sleeper (and stops counting as a
//!   searcher), then issues a SeqCst fence and looks at every queue it may take from once
//!   more. The notifier pushes work, fences, then reads the counters. With both fences one
//!   of the two always sees the other: work is never stranded while a worker sleeps.

use super::policy::{wake_order, Lane, WorkerRole};
use crate::loom::sync::atomic::{fence, AtomicUsize};
use crate::loom::sync::Mutex;
use std::sync::atomic::Ordering::SeqCst;

/// How many worker roles there are (`WorkerRole::ALL`).
const ROLES: usize = 3;

/// Counters and the sleeper lists, per worker role (`WorkerRole::index`).
pub(crate) struct Idle {
    searching: [AtomicUsize; ROLES],
    sleeping: [AtomicUsize; ROLES],
    sleepers: Mutex<[Vec<usize>; ROLES]>,
}

impl Idle {
    pub(crate) fn new() -> Idle {
        Idle {
            searching: std::array::from_fn(|_| AtomicUsize::new(0)),
            sleeping: std::array::from_fn(|_| AtomicUsize::new(0)),
            sleepers: Mutex::new(std::array::from_fn(|_| Vec::new())),
        }
    }

    /// Work of `lane` was just made visible to other workers, and the caller issued a
    /// SeqCst fence after that (the notifier's half of the protocol: work, fence, counters;
    /// one fence may serve several lanes and the injector's shutdown re-check). Returns the
    /// index of a sleeping worker to unpark (already counted as searching), if one should be
    /// woken.
    ///
    /// `prefer` names a worker (index, role) to take off the sleeper list before any other,
    /// if it is on it and its role is the one to wake (a worker asleep in a reactor on the
    /// notifying thread itself: it runs the work right after the reactor returns, with no
    /// other thread woken). Asked only once some worker sleeps, off the common path. Which
    /// sleeper is woken does not matter to the protocol.
    #[inline]
    pub(crate) fn worker_to_notify(
        &self,
        lane: Lane,
        has_efficiency: bool,
        prefer: impl FnOnce() -> Option<(usize, WorkerRole)>,
    ) -> Option<usize> {
        // The common case on a busy runtime, decided inline: nobody sleeps, so nobody is to
        // be woken (the loop below would find the same for every role it reaches). The same
        // loads after the same fence: the protocol is unchanged.
        if self.sleeping.iter().all(|count| count.load(SeqCst) == 0) {
            return None;
        }
        self.sleeper_to_notify(lane, has_efficiency, prefer())
    }

    /// [`worker_to_notify`](Self::worker_to_notify) once some worker sleeps (after its fence).
    #[inline(never)]
    fn sleeper_to_notify(
        &self,
        lane: Lane,
        has_efficiency: bool,
        prefer: Option<(usize, WorkerRole)>,
    ) -> Option<usize> {
        for &role in wake_order(lane, has_efficiency) {
            let c = role.index();
            if self.searching[c].load(SeqCst) != 0 {
                // A worker that may run this lane is awake and looking: it will find it, at
                // the latest in the look it takes before it sleeps (a worker looking before
                // sleeping may watch the injectors only). (A role with no workers never
                // counts one, so it is passed over.)
                return None;
            }
            if self.sleeping[c].load(SeqCst) == 0 {
                continue;
            }
            let mut sleepers = self.sleepers.lock();
            let preferred = prefer
                .filter(|&(_, r)| r == role)
                .and_then(|(i, _)| sleepers[c].iter().position(|&s| s == i));
            let taken = match preferred {
                Some(at) => Some(sleepers[c].remove(at)),
                None => sleepers[c].pop(),
            };
            if let Some(index) = taken {
                self.sleeping[c].fetch_sub(1, SeqCst);
                self.searching[c].fetch_add(1, SeqCst);
                return Some(index);
            }
        }
        None
    }

    /// Is `index` on the sleeper list (not yet taken off by a notifier or shutdown)?
    pub(crate) fn is_sleeper(&self, index: usize, role: WorkerRole) -> bool {
        self.sleepers.lock()[role.index()].contains(&index)
    }

    /// A worker of `role` that ran out of work becomes a searcher, if no worker of its role
    /// is searching now: it keeps looking a little before it sleeps (`Builder::idle_spin`),
    /// and a notifier meanwhile wakes nobody, as for any searcher. Only when none searches,
    /// so that idle workers do not all start spinning (a worker that already counts as a
    /// searcher, woken by a notifier, looks too). True if it became one; it then stops as
    /// every searcher does (`stop_searching` if it finds work, `prepare_sleep` with
    /// `was_searching` if not).
    pub(crate) fn try_start_searching(&self, role: WorkerRole) -> bool {
        self.searching[role.index()]
            .compare_exchange(0, 1, SeqCst, SeqCst)
            .is_ok()
    }

    /// A searching worker found work. Returns true if it was the last searcher of its
    /// role: then the caller wakes one more worker to keep the search going.
    pub(crate) fn stop_searching(&self, role: WorkerRole) -> bool {
        let before = self.searching[role.index()].fetch_sub(1, SeqCst);
        debug_assert!(before > 0, "searching count underflow");
        before == 1
    }

    /// Register `index` as a sleeper. The caller must then look at its queues again
    /// (after this call's fence) before parking, and call `cancel_sleep` if it finds work.
    pub(crate) fn prepare_sleep(&self, index: usize, role: WorkerRole, was_searching: bool) {
        let c = role.index();
        {
            let mut sleepers = self.sleepers.lock();
            sleepers[c].push(index);
            self.sleeping[c].fetch_add(1, SeqCst);
            if was_searching {
                let before = self.searching[c].fetch_sub(1, SeqCst);
                debug_assert!(before > 0, "searching count underflow");
            }
        }
        fence(SeqCst);
    }

    /// The worker found work after `prepare_sleep`. It continues as a searcher either way:
    /// if it was still listed it takes itself off; if a notifier got there first, the
    /// notifier already counted it as searching (and left an unpark token, which only makes
    /// its next park return early once). Returns true if a notifier had taken it off.
    pub(crate) fn cancel_sleep(&self, index: usize, role: WorkerRole) -> bool {
        let c = role.index();
        let mut sleepers = self.sleepers.lock();
        match sleepers[c].iter().position(|&i| i == index) {
            Some(pos) => {
                sleepers[c].swap_remove(pos);
                self.sleeping[c].fetch_sub(1, SeqCst);
                self.searching[c].fetch_add(1, SeqCst);
                false
            }
            None => true,
        }
    }

    /// Take every sleeper off the lists (shutdown): returns their indices to unpark.
    pub(crate) fn drain_sleepers(&self) -> Vec<usize> {
        let mut sleepers = self.sleepers.lock();
        let mut all = Vec::new();
        for (c, list) in sleepers.iter_mut().enumerate() {
            self.sleeping[c].fetch_sub(list.len(), SeqCst);
            self.searching[c].fetch_add(list.len(), SeqCst);
            all.append(list);
        }
        all
    }

    /// Workers of `role` currently searching.
    #[cfg(test)]
    pub(crate) fn searching(&self, role: WorkerRole) -> usize {
        self.searching[role.index()].load(SeqCst)
    }

    /// Workers of `role` currently asleep.
    #[cfg(test)]
    pub(crate) fn sleeping(&self, role: WorkerRole) -> usize {
        self.sleeping[role.index()].load(SeqCst)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use WorkerRole::{Critical, Efficiency, Performance};

    #[test]
    fn wakes_one_sleeper_then_throttles_while_it_searches() {
        let idle = Idle::new();
        idle.prepare_sleep(0, Performance, false);
        idle.prepare_sleep(1, Performance, false);
        let first = idle.worker_to_notify(Lane::Default, false, || None);
        assert!(first.is_some());
        // A searcher is up: the next unit of work wakes nobody.
        assert_eq!(idle.worker_to_notify(Lane::Default, false, || None), None);
        // The searcher finds work; it was the last one, so it should pass the baton.
        assert!(idle.stop_searching(Performance));
        let second = idle.worker_to_notify(Lane::Default, false, || None);
        assert!(second.is_some() && second != first);
        assert_eq!(idle.sleeping(Performance), 0);
    }

    #[test]
    fn critical_work_never_wakes_an_efficiency_worker() {
        let idle = Idle::new();
        idle.prepare_sleep(7, Efficiency, false);
        assert_eq!(idle.worker_to_notify(Lane::Critical, true, || None), None);
        assert_eq!(
            idle.worker_to_notify(Lane::Background, true, || None),
            Some(7)
        );
    }

    #[test]
    fn only_critical_work_wakes_a_critical_worker_and_it_is_woken_first() {
        for has_e in [true, false] {
            let idle = Idle::new();
            idle.prepare_sleep(5, Critical, false);
            idle.prepare_sleep(0, Performance, false);
            for lane in [Lane::Default, Lane::Utility, Lane::Background] {
                let woken = idle.worker_to_notify(lane, has_e, || None);
                assert_ne!(woken, Some(5), "{lane} work woke the critical worker");
                if let Some(i) = woken {
                    // The P worker: it finds the work, then goes back to sleep.
                    assert_eq!(i, 0);
                    idle.stop_searching(Performance);
                    idle.prepare_sleep(0, Performance, false);
                }
            }
            assert_eq!(idle.sleeping(Critical), 1);
            assert_eq!(
                idle.worker_to_notify(Lane::Critical, has_e, || None),
                Some(5)
            );
            // While it searches, more Critical work wakes nobody else.
            assert_eq!(idle.worker_to_notify(Lane::Critical, has_e, || None), None);
            assert_eq!(idle.searching(Critical), 1);
            assert_eq!(idle.sleeping(Performance), 1);
        }
    }

    #[test]
    fn critical_work_wakes_a_p_worker_when_no_critical_worker_sleeps() {
        let idle = Idle::new();
        idle.prepare_sleep(2, Performance, false);
        assert_eq!(
            idle.worker_to_notify(Lane::Critical, true, || None),
            Some(2)
        );
    }

    #[test]
    fn default_work_falls_back_to_efficiency_workers() {
        let idle = Idle::new();
        idle.prepare_sleep(3, Efficiency, false);
        assert_eq!(idle.worker_to_notify(Lane::Default, true, || None), Some(3));
    }

    #[test]
    fn one_worker_of_a_role_at_a_time_starts_searching_on_its_own() {
        let idle = Idle::new();
        assert!(idle.try_start_searching(Performance));
        assert!(!idle.try_start_searching(Performance), "a second spinner");
        assert!(
            idle.try_start_searching(Efficiency),
            "another role's count is its own"
        );
        // While it searches, new work wakes nobody; once it stops, the next one may start.
        idle.prepare_sleep(1, Performance, false);
        assert_eq!(idle.worker_to_notify(Lane::Default, false, || None), None);
        assert!(idle.stop_searching(Performance));
        assert!(idle.try_start_searching(Performance));
    }

    #[test]
    fn cancel_sleep_reports_whether_a_notifier_won() {
        let idle = Idle::new();
        idle.prepare_sleep(0, Performance, false);
        assert!(!idle.cancel_sleep(0, Performance));
        assert_eq!(idle.searching(Performance), 1);
        assert!(idle.stop_searching(Performance));
        idle.prepare_sleep(0, Performance, false);
        assert_eq!(
            idle.worker_to_notify(Lane::Critical, true, || None),
            Some(0)
        );
        assert!(idle.cancel_sleep(0, Performance));
        assert_eq!(idle.searching(Performance), 1);
    }
}

#[cfg(all(test, not(loom)))]
mod prefer_tests {
    use super::*;

    #[test]
    fn a_preferred_sleeper_of_the_right_role_is_woken_first() {
        let idle = Idle::new();
        for index in [0, 1, 2] {
            idle.prepare_sleep(index, WorkerRole::Performance, false);
        }
        // Without a preference the last to sleep is woken; with one, the preferred.
        assert_eq!(
            idle.worker_to_notify(Lane::Default, false, || Some((0, WorkerRole::Performance))),
            Some(0)
        );
        assert!(idle.stop_searching(WorkerRole::Performance));
        // A preferred worker of a role that may not run the lane is passed over.
        assert_eq!(
            idle.worker_to_notify(Lane::Default, false, || Some((1, WorkerRole::Efficiency))),
            Some(2)
        );
    }
}
