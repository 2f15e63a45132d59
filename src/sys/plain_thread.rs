//! Plain threads: the runtime's threads that must *not* look like workers — the timer
//! thread and the blocking pool's threads. They start with the placement the process had
//! before hetsched placed any thread of its own (its *baseline*), not their creator's.
//!
//! Why this needs care: on Linux a new thread inherits its creator's CPU affinity,
//! scheduling policy, nice value and utilization clamps (on macOS, its QoS class). These
//! threads are started on demand by whichever thread needs one first — often a worker,
//! pinned to the efficiency CPUs with the efficiency hints (and perhaps a lowered OS
//! priority). A timer thread started from there would keep every Interactive timer wake
//! waiting behind batch work.
//!
//! Undoing the inheritance afterwards is not enough: an unprivileged thread may narrow its
//! affinity and widen it again, but it may not lower its nice value or leave `SCHED_IDLE`
//! (both need `CAP_SYS_NICE`, or an `RLIMIT_NICE` that allows it). So plain threads are
//! created by one helper thread, `hetsched-spawn`, started once per process by the first
//! thread that needs the baseline: [`Builder::build`](crate::Builder::build), *before* it
//! starts any worker, or the first timer or blocking thread if no runtime was built yet.
//! That thread is never a worker (no worker exists before the first `build`), so the helper
//! and every thread it creates inherit the process's own placement. The caller waits for
//! the helper's answer, so errors come back as from `std::thread::Builder::spawn`.
//!
//! Fallback: if the OS refuses the helper thread, a plain thread is spawned by its caller
//! and resets itself to the baseline captured at the same time, each part best-effort
//! (affinity always works; policy and nice as far as the OS allows).

use super::imp;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::OnceLock;

type Main = Box<dyn FnOnce() + Send + 'static>;

/// One thread to create.
struct Request {
    name: String,
    main: Main,
    reply: SyncSender<io::Result<()>>,
}

struct Spawner {
    /// The helper's queue; `None` if the helper could not be started.
    requests: Option<Sender<Request>>,
    /// The placement of the thread that started the helper.
    baseline: imp::Baseline,
}

/// The helper, started (and the baseline captured) on first use.
fn spawner() -> &'static Spawner {
    static SPAWNER: OnceLock<Spawner> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let baseline = imp::capture_baseline();
        let (requests, queue) = mpsc::channel::<Request>();
        let helper = std::thread::Builder::new()
            .name("hetsched-spawn".to_string())
            .spawn(move || serve(queue));
        Spawner {
            requests: helper.ok().map(|_| requests),
            baseline,
        }
    })
}

/// The helper's loop: create each requested thread and answer with the outcome.
fn serve(queue: Receiver<Request>) {
    for Request { name, main, reply } in queue {
        // A refused thread drops `main` here, and so whatever it owns; if that panics
        // (user code can be reached from there), only this request fails.
        let spawned = catch_unwind(AssertUnwindSafe(|| {
            std::thread::Builder::new().name(name).spawn(main).map(drop)
        }))
        .unwrap_or_else(|_| Err(io::Error::other("hetsched: panic while starting a thread")));
        let _ = reply.send(spawned);
    }
}

/// Capture the process's baseline placement now (and start the helper), if not done yet.
/// `Builder::build` calls this before it starts any worker.
pub(crate) fn capture_baseline() {
    let _ = spawner();
}

/// The CPUs of the process's baseline placement (captured at the first `Builder::build`, or
/// now); `None` where the OS does not say which CPUs a thread may use.
pub(crate) fn baseline_cpus() -> Option<Vec<usize>> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return spawner().baseline.affinity.clone();
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    return None;
}

/// Start a plain thread named `name` running `main`, with the process's baseline placement
/// whatever the calling thread's placement is (see the module docs).
pub(crate) fn spawn_plain_thread(
    name: String,
    main: impl FnOnce() + Send + 'static,
) -> io::Result<()> {
    let spawner = spawner();
    let mut main: Main = Box::new(main);
    if let Some(requests) = &spawner.requests {
        let (reply, answer) = mpsc::sync_channel(1);
        let request = Request {
            name: name.clone(),
            main,
            reply,
        };
        match requests.send(request) {
            Ok(()) => {
                return answer.recv().unwrap_or_else(|_| {
                    Err(io::Error::other("hetsched: the spawner thread is gone"))
                })
            }
            // The helper is gone (it never exits, but stay correct): start it here.
            Err(mpsc::SendError(request)) => main = request.main,
        }
    }
    let baseline = &spawner.baseline;
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let _ = imp::reset_to_baseline(baseline);
            main()
        })
        .map(drop)
}

#[cfg(all(test, any(target_os = "linux", target_os = "android"), not(miri)))]
mod tests {
    use super::super::{current_thread_affinity, current_thread_nice, HintOutcome};
    use super::*;

    fn policy() -> libc::c_int {
        // SAFETY: plain integer argument (0: the calling thread); no memory of ours.
        unsafe { libc::sched_getscheduler(0) }
    }

    /// The fallback reset, on a thread that made itself look like a lowered E worker.
    #[test]
    fn reset_to_baseline_undoes_a_workers_placement_as_far_as_allowed() {
        let baseline = imp::capture_baseline();
        let allowed = baseline.affinity.clone().expect("affinity readable");
        let expected = baseline.clone();
        let (outcomes, after) = std::thread::spawn(move || {
            assert!(super::super::pin_current_thread(&allowed[allowed.len() - 1..]).is_applied());
            let nice = current_thread_nice().unwrap();
            let _ = super::super::set_current_thread_nice((nice + 3).min(19));
            // SAFETY: all-zero bytes is a valid sched_param; the kernel only reads it; pid
            // 0 is the calling thread.
            let rc = unsafe {
                let param: libc::sched_param = std::mem::zeroed();
                libc::sched_setscheduler(0, libc::SCHED_IDLE, &param)
            };
            assert_eq!(rc, 0, "entering SCHED_IDLE is always allowed");
            let outcomes = imp::reset_to_baseline(&expected);
            (
                outcomes,
                (current_thread_affinity(), policy(), current_thread_nice()),
            )
        })
        .join()
        .unwrap();
        let [affinity, sched_policy, nice, _clamps] = outcomes;
        assert_eq!(affinity, HintOutcome::Applied);
        assert_eq!(after.0, baseline.affinity);
        let refused = |o: &HintOutcome| matches!(o.errno(), Some(libc::EPERM | libc::EACCES));
        // Leaving SCHED_IDLE and lowering nice need privilege: applied, or refused for it.
        match sched_policy {
            HintOutcome::Applied => assert_eq!(Some(after.1), baseline.policy.map(|p| p.0)),
            other => assert!(refused(&other), "policy reset: {other}"),
        }
        match nice {
            HintOutcome::Applied => assert_eq!(after.2, baseline.nice),
            other => assert!(refused(&other), "nice reset: {other}"),
        }
    }
}
