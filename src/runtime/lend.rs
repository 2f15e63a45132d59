//! CPU lending: an idle performance worker moves an efficiency worker that is stuck in a
//! long poll onto the P worker's CPUs (under [`Pin::Spill`](super::Pin::Spill)).
//!
//! Why: a long job that an E worker started on a slow CPU cannot be stolen (it is being
//! polled), so when the fast CPUs go idle it would finish on the slow one, long after the
//! rest (the straggler). A spilling E worker may already run anywhere, and where the kernel
//! knows the CPUs are unequal (`cpu_capacity`, ITMT, real-time pressure) its misfit
//! balancing moves such a thread by itself, some milliseconds late; where it does not (a
//! kernel that sees equal CPUs, classes declared by the operator), nothing would. So the P
//! worker going idle does it: it narrows the E thread's affinity to the P worker's CPU set
//! (under `Spill`, all P CPUs; the thread
//! keeps its lowest OS priority, so the P worker still preempts it the moment it has work
//! again), and gives the thread its wide set back when it wakes, or the E worker takes it
//! back itself when that poll ends. When to lend is the policy's decision
//! ([`policy::borrower`](super::policy::borrower), [`policy::LEND_AFTER`](super::policy::LEND_AFTER),
//! [`policy::lending_pays`](super::policy::lending_pays)).
//!
//! The protocol (one [`Loan`] per E worker; loom model `loom-tests/tests/lend.rs`):
//! - the E worker bumps `polls` to odd when a poll starts and to even when it ends; at the
//!   end it stores (SeqCst) and then reads `lent` (SeqCst);
//! - a lender takes the `lender` lock, checks the poll it saw is still running, stores
//!   `lent` (SeqCst), narrows the thread, then reads `polls` (SeqCst) once more and undoes the
//!   loan if that poll has ended meanwhile;
//! - with a SeqCst fence between each side's store and load, one side always sees the
//!   other (Dekker; fences, not only SeqCst accesses, as in `idle.rs`, and what loom
//!   checks): an E worker never stays narrowed after the poll it was lent for (in the
//!   undo path for a few µs at most).
//!
//! Narrowing and widening happen only under the `lender` lock, so its state *is* the state
//! of the thread's affinity: `Some(lender)` exactly while the thread is narrowed (a move the
//! OS refuses is no loan). A worker whose thread leaves its loop is retired under the same
//! lock and never placed again: Linux reuses thread ids.
//!
//! Watching costs an idle P worker one timed wake-up per `LEND_AFTER` while any E worker is
//! awake, and nothing while they all sleep: a P worker that goes to sleep with every E
//! worker asleep sleeps *blind* (no timeout, [`Lender`]), and the first E worker to wake
//! nudges it to start watching (the same Dekker pair: `blind` against `awake`). A lost nudge
//! would only cost a missed loan, never a task.

use crate::loom::sync::atomic::{fence, AtomicBool, AtomicUsize};
use crate::loom::sync::Mutex;
use crate::sys::{self, OsThread};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::OnceLock;

/// The state behind a [`Loan`]'s lock.
#[derive(Default)]
struct LoanState {
    /// The lending worker's index while the thread is narrowed to the P CPUs.
    lender: Option<usize>,
    /// The worker's thread has left its loop: its id may soon name another thread (Linux
    /// reuses thread ids), so it is never placed again.
    exited: bool,
}

/// One E worker's side of the protocol.
pub(crate) struct Loan {
    /// Odd while the worker is polling a task; written only by the worker.
    polls: AtomicUsize,
    /// A lender has narrowed (or is narrowing) this thread: the poll's end must look.
    lent: AtomicBool,
    /// Who has narrowed the thread, and whether it has exited.
    lender: Mutex<LoanState>,
    /// The worker's OS thread, once it has started (unknown: it is never lent to).
    thread: OnceLock<OsThread>,
    /// The worker is not asleep (it may be polling, or about to).
    awake: AtomicBool,
}

impl Default for Loan {
    fn default() -> Self {
        Loan {
            polls: AtomicUsize::new(0),
            lent: AtomicBool::new(false),
            lender: Mutex::new(LoanState::default()),
            thread: OnceLock::new(),
            // A worker starts awake.
            awake: AtomicBool::new(true),
        }
    }
}

impl Loan {
    /// Called by the E worker's thread when it starts.
    pub(crate) fn set_thread(&self, thread: OsThread) {
        let _ = self.thread.set(thread);
    }

    /// The E worker starts polling a task.
    pub(crate) fn begin_poll(&self) {
        self.polls
            .store(self.polls.load(Relaxed).wrapping_add(1), Relaxed);
    }

    /// The E worker's poll has ended: if it was lent CPUs, take its own set `wide` back.
    pub(crate) fn end_poll(&self, wide: &[usize]) {
        self.polls
            .store(self.polls.load(Relaxed).wrapping_add(1), SeqCst);
        fence(SeqCst);
        if self.lent.load(SeqCst) {
            self.take_back(None, wide);
        }
    }

    /// What a would-be lender sees: the number of the poll running now, or `None` if the
    /// worker is not polling, is lent already, or its thread is unknown.
    pub(crate) fn running_poll(&self) -> Option<usize> {
        if self.thread.get().is_none() || self.lent.load(SeqCst) {
            return None;
        }
        let polls = self.polls.load(SeqCst);
        (polls % 2 == 1).then_some(polls)
    }

    /// Lend the CPUs `cpus` of worker `lender` to this worker's poll number `poll`, if that
    /// poll is still running and nobody lent to it yet; `wide` is the worker's own set (to
    /// undo the loan if the poll ends meanwhile). Returns whether the loan stands.
    pub(crate) fn lend(&self, poll: usize, lender: usize, cpus: &[usize], wide: &[usize]) -> bool {
        let Some(&thread) = self.thread.get() else {
            return false;
        };
        let mut state = self.lender.lock();
        if state.exited || state.lender.is_some() || self.polls.load(SeqCst) != poll {
            return false;
        }
        self.lent.store(true, SeqCst);
        fence(SeqCst);
        // A refused move moved nothing: no loan (and none counted).
        if !(place(thread, cpus).is_applied() || cfg!(loom)) {
            self.lent.store(false, SeqCst);
            return false;
        }
        state.lender = Some(lender);
        if !crate::loom::mutation!("lend_no_recheck") && self.polls.load(SeqCst) != poll {
            // The poll ended between the check and `lent`: its end may not have seen the
            // flag, so undo here.
            let _ = place(thread, wide);
            state.lender = None;
            self.lent.store(false, SeqCst);
            return false;
        }
        true
    }

    /// Give the thread its own set `wide` back, if it is narrowed (and, with `lender`
    /// given, only if that worker is the one who lent). Called by the lender when it wakes
    /// and by the worker itself when its poll ends.
    pub(crate) fn take_back(&self, lender: Option<usize>, wide: &[usize]) {
        let mut state = self.lender.lock();
        let Some(current) = state.lender else { return };
        if lender.is_some_and(|l| l != current) {
            return;
        }
        if let (Some(&thread), false) = (self.thread.get(), state.exited) {
            let _ = place(thread, wide);
        }
        state.lender = None;
        self.lent.store(false, SeqCst);
    }

    /// The worker's thread is leaving its loop: never place it again (see `LoanState`).
    pub(crate) fn retire(&self) {
        let mut state = self.lender.lock();
        state.exited = true;
        state.lender = None;
        self.lent.store(false, SeqCst);
    }

    /// Is the thread narrowed to `lender`'s CPUs now?
    pub(crate) fn is_lent_by(&self, lender: usize) -> bool {
        self.lender.lock().lender == Some(lender)
    }

    /// Is the thread narrowed to a lender's CPUs now?
    #[cfg_attr(not(loom), allow(dead_code))]
    pub(crate) fn is_lent(&self) -> bool {
        self.lender.lock().lender.is_some()
    }

    /// The E worker goes to sleep (`false`) or has woken (`true`); after waking it nudges
    /// every [`Lender`] that sleeps blind.
    pub(crate) fn set_awake(&self, awake: bool) {
        self.awake.store(awake, SeqCst);
        // Orders the store before the waking worker's look at the lenders' `blind`.
        fence(SeqCst);
    }
}

/// A lending P worker's side: whether it sleeps without watching the E workers.
#[derive(Default)]
pub(crate) struct Lender {
    blind: AtomicBool,
    /// How many E CPUs the runtime has (for `policy::lending_pays`).
    e_cpus: usize,
}

impl Lender {
    pub(crate) fn new(e_cpus: usize) -> Lender {
        Lender {
            blind: AtomicBool::new(false),
            e_cpus,
        }
    }

    /// Would lending add capacity now (`policy::lending_pays`)?
    pub(crate) fn pays<'a>(&self, loans: impl Iterator<Item = &'a Loan>) -> bool {
        let awake = loans.filter(|loan| loan.awake.load(Relaxed)).count();
        super::policy::lending_pays(awake, self.e_cpus)
    }

    /// Going to sleep: sleep blind (true) if no E worker among `loans` is awake, else
    /// watch them (false).
    pub(crate) fn sleeps_blind<'a>(&self, mut loans: impl Iterator<Item = &'a Loan>) -> bool {
        if crate::loom::mutation!("blind_check_first") {
            // The bug the model must catch: looking before announcing the blind sleep.
            let any_awake = loans.any(|loan| loan.awake.load(SeqCst));
            self.blind.store(!any_awake, SeqCst);
            return !any_awake;
        }
        self.blind.store(true, SeqCst);
        fence(SeqCst);
        if loans.any(|loan| loan.awake.load(SeqCst)) {
            self.blind.store(false, SeqCst);
            return false;
        }
        true
    }

    /// An E worker has woken: true if this lender slept blind and must be unparked to
    /// start watching (only one waking E worker gets true).
    pub(crate) fn needs_nudge(&self) -> bool {
        self.blind.load(SeqCst) && self.blind.swap(false, SeqCst)
    }

    /// The lender is awake again (woken for work, or nudged).
    pub(crate) fn woke(&self) {
        self.blind.store(false, Relaxed);
    }
}

/// Set `thread`'s affinity to `cpus` (best-effort: a refused move leaves the thread where
/// the kernel has it, which is what would happen without lending). Not under loom: its
/// threads are not OS threads.
fn place(thread: OsThread, cpus: &[usize]) -> sys::HintOutcome {
    if cfg!(loom) {
        return sys::HintOutcome::Disabled;
    }
    sys::pin_thread(thread, cpus)
}
