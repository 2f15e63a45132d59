//! The operating system, as far as scheduling threads on cores goes: which core a runnable
//! thread is on, how fast it runs there, and when the kernel moves it.
//!
//! - A core shares itself equally among its runnable normal-priority threads (a fluid
//!   model of CFS time slices); lowest-priority (`SCHED_IDLE`) threads run only when no
//!   normal thread is runnable there, and a waking normal thread preempts them at once.
//! - Wake-up placement: the thread's previous core if idle, else an idle allowed core
//!   (the fastest one where the kernel knows capacities: EAS / ITMT, `wake_prefers_fast`),
//!   else a core that runs only lowest-priority threads, else the previous core.
//! - Newly idle balancing: a core that goes idle pulls a runnable thread that is waiting
//!   for its core (time-shared or starved), at once.
//! - Misfit migration (Linux EAS, `misfit`): an idle core pulls a thread running alone on a
//!   slower core `misfit_delay_us` later, if both are still so. The kernel does this only
//!   where it sees the capacities: the `SCHED_FIFO` emulator lets it see them, work
//!   inflation does not, which is why the two emulations disagree on P/E-blind runtimes.
//! - Periodic balancing every `balance_period_us`: a starved lowest-priority thread moves
//!   to a core where it would get a share.
//!
//! Every move costs the moved thread `migrate_us` of extra work (cold caches).

/// The OS scheduler's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct OsModel {
    /// An idle faster core pulls a thread running alone on a slower one.
    pub misfit: bool,
    /// How long after the faster core went idle, µs.
    pub misfit_delay_us: f64,
    /// Wake-up placement picks the fastest idle core (else the lowest-numbered).
    pub wake_prefers_fast: bool,
    /// Period of the load balancer's tick, µs.
    pub balance_period_us: f64,
    /// Extra work a thread pays when moved to another core, µs.
    pub migrate_us: f64,
}

impl OsModel {
    /// A Linux kernel that knows the core capacities (EAS on Arm, ITMT on Intel hybrid,
    /// and the `SCHED_FIFO` emulator, whose RT load the kernel sees as lost capacity).
    ///
    /// Misfit delay 4 ms: CFS moves a *running* task only by active balancing, after the
    /// periodic balance of the idle CPU has failed more than `cache_nice_tries` (1) times;
    /// the idle balance interval of a 2-CPU domain is about its weight in ms, so two
    /// intervals. Measured under the emulator (tokio's straggler in `few_long_k1`, six
    /// runs): the long job moved 3-19 ms after the fast CPU went idle, median about 5 ms.
    pub fn capacity_aware() -> OsModel {
        OsModel {
            misfit: true,
            misfit_delay_us: 4_000.0,
            wake_prefers_fast: true,
            balance_period_us: 4_000.0,
            migrate_us: 20.0,
        }
    }

    /// A kernel that does not know which cores are slow (work inflation: only the
    /// benchmark's own work sees the slowdown).
    pub fn capacity_blind() -> OsModel {
        OsModel {
            misfit: false,
            wake_prefers_fast: false,
            ..OsModel::capacity_aware()
        }
    }
}

/// A thread as the OS sees it.
#[derive(Clone, Debug)]
pub struct OsThread {
    /// Cores it may run on now.
    pub allowed: Vec<usize>,
    /// Lowest priority.
    pub idle_priority: bool,
    /// The core it is on (or was last on).
    pub core: usize,
    /// Runnable (has work to execute).
    pub runnable: bool,
}

/// How many runnable threads of each priority are on each core.
pub fn occupancy(threads: &[OsThread], cores: usize) -> Vec<(usize, usize)> {
    let mut occ = vec![(0, 0); cores];
    for t in threads.iter().filter(|t| t.runnable) {
        if t.idle_priority {
            occ[t.core].1 += 1;
        } else {
            occ[t.core].0 += 1;
        }
    }
    occ
}

/// Each thread's speed now (0 for threads not runnable or starved), given core speeds.
pub fn rates(threads: &[OsThread], speeds: &[f64]) -> Vec<f64> {
    let occ = occupancy(threads, speeds.len());
    threads
        .iter()
        .map(|t| {
            if !t.runnable {
                return 0.0;
            }
            let (normal, idle) = occ[t.core];
            match (t.idle_priority, normal) {
                (false, n) => speeds[t.core] / n as f64,
                (true, 0) => speeds[t.core] / idle as f64,
                (true, _) => 0.0,
            }
        })
        .collect()
}

/// Where a thread that becomes runnable is placed (see the module docs).
pub fn wake_core(threads: &[OsThread], who: usize, speeds: &[f64], os: &OsModel) -> usize {
    let occ = occupancy(threads, speeds.len());
    let t = &threads[who];
    let allowed = &t.allowed;
    let idle = |c: usize| occ[c] == (0, 0);
    if allowed.contains(&t.core) && idle(t.core) {
        return t.core;
    }
    let pick = |ok: &dyn Fn(usize) -> bool| -> Option<usize> {
        let candidates = allowed.iter().copied().filter(|&c| ok(c));
        if os.wake_prefers_fast {
            candidates.min_by(|&a, &b| speeds[b].total_cmp(&speeds[a]).then(a.cmp(&b)))
        } else {
            candidates.min()
        }
    };
    if let Some(c) = pick(&idle) {
        return c;
    }
    if !t.idle_priority {
        if let Some(c) = pick(&|c| occ[c].0 == 0) {
            return c;
        }
    }
    if allowed.contains(&t.core) {
        return t.core;
    }
    // Fewest normal threads, then fastest.
    *allowed
        .iter()
        .min_by(|&&a, &&b| {
            occ[a]
                .0
                .cmp(&occ[b].0)
                .then(speeds[b].total_cmp(&speeds[a]))
                .then(a.cmp(&b))
        })
        .expect("a thread may run somewhere")
}

/// A thread waiting for its core (time-shared with another or starved), which an idle
/// core `to` may pull: the first normal-priority one, else the first lowest-priority one.
pub fn waiting_for(threads: &[OsThread], to: usize, speeds: &[f64]) -> Option<usize> {
    let occ = occupancy(threads, speeds.len());
    let waiting = |i: usize| {
        let t = &threads[i];
        let (normal, idle) = occ[t.core];
        t.runnable
            && t.core != to
            && t.allowed.contains(&to)
            && if t.idle_priority {
                normal > 0 || idle > 1
            } else {
                normal > 1
            }
    };
    let n = threads.len();
    (0..n)
        .find(|&i| waiting(i) && !threads[i].idle_priority)
        .or_else(|| (0..n).find(|&i| waiting(i)))
}

/// A thread running alone on a core slower than the idle core `to`, which it may use, and
/// which is not in `taken` (already pulled by another idle core's balancing: each idle core
/// balances on its own and picks a different busiest core).
pub fn misfit_for(
    threads: &[OsThread],
    to: usize,
    speeds: &[f64],
    taken: &[usize],
) -> Option<usize> {
    let occ = occupancy(threads, speeds.len());
    (0..threads.len()).find(|&i| {
        let t = &threads[i];
        !taken.contains(&i)
            && t.runnable
            && t.core != to
            && speeds[t.core] < speeds[to]
            && t.allowed.contains(&to)
            && occ[t.core].0 + occ[t.core].1 == 1
    })
}

/// A starved lowest-priority thread and a core where it would run (one with no runnable
/// normal-priority thread), for the periodic balancer.
pub fn starved_move(threads: &[OsThread], speeds: &[f64]) -> Option<(usize, usize)> {
    let occ = occupancy(threads, speeds.len());
    threads.iter().enumerate().find_map(|(i, t)| {
        let starved = t.runnable && t.idle_priority && occ[t.core].0 > 0;
        if !starved {
            return None;
        }
        t.allowed
            .iter()
            .copied()
            .filter(|&c| occ[c].0 == 0)
            .min_by(|&a, &b| {
                occ[a]
                    .1
                    .cmp(&occ[b].1)
                    .then(speeds[b].total_cmp(&speeds[a]))
            })
            .map(|c| (i, c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread(core: usize, allowed: &[usize], idle: bool) -> OsThread {
        OsThread {
            allowed: allowed.to_vec(),
            idle_priority: idle,
            core,
            runnable: true,
        }
    }

    #[test]
    fn cores_are_shared_and_idle_threads_yield_to_normal_ones() {
        let speeds = [1.0, 0.3];
        let threads = [
            thread(0, &[0], false),
            thread(0, &[0, 1], true),
            thread(1, &[0, 1], false),
            thread(1, &[0, 1], false),
        ];
        assert_eq!(rates(&threads, &speeds), vec![1.0, 0.0, 0.15, 0.15]);
    }

    #[test]
    fn a_waking_thread_takes_an_idle_core_preferring_the_fast_one_where_known() {
        let speeds = [1.0, 0.3, 1.0];
        let mut threads = [thread(0, &[0, 1, 2], false), thread(1, &[0, 1, 2], false)];
        threads[0].runnable = false;
        // Previous core idle: stay.
        assert_eq!(
            wake_core(&threads, 0, &speeds, &OsModel::capacity_aware()),
            0
        );
        // Previous core busy: the idle fast core where capacities are known, else the
        // lowest-numbered idle one.
        threads[1].core = 0;
        assert_eq!(
            wake_core(&threads, 0, &speeds, &OsModel::capacity_aware()),
            2
        );
        assert_eq!(
            wake_core(&threads, 0, &speeds, &OsModel::capacity_blind()),
            1
        );
        // A lowest-priority thread's core counts as free for a normal thread.
        let busy = [
            thread(0, &[0, 1], false),
            thread(0, &[0, 1], false),
            thread(1, &[0, 1], true),
        ];
        let mut busy = busy;
        busy[1].runnable = false;
        assert_eq!(
            wake_core(&busy, 1, &[1.0, 0.3], &OsModel::capacity_aware()),
            1
        );
    }

    #[test]
    fn an_idle_core_pulls_waiting_threads_and_misfits() {
        let speeds = [1.0, 0.3];
        let threads = [thread(1, &[0, 1], false), thread(1, &[0, 1], false)];
        assert_eq!(waiting_for(&threads, 0, &speeds), Some(0));
        let alone = [thread(1, &[0, 1], false)];
        assert_eq!(waiting_for(&alone, 0, &speeds), None);
        assert_eq!(misfit_for(&alone, 0, &speeds, &[]), Some(0));
        assert_eq!(misfit_for(&alone, 0, &speeds, &[0]), None);
        let pinned = [thread(1, &[1], false)];
        assert_eq!(misfit_for(&pinned, 0, &speeds, &[]), None);
    }
}
