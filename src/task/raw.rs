//! The raw task: one allocation holding a state word, the runtime's [`TaskHeader`], the
//! join handle's waker and the future (later its output), and the three kinds of handle
//! to it: [`Runnable`] (the right to poll it once), its wakers, and [`RawJoin`] (the
//! right to its output).
//!
//! hetsched used async-task until the per-task-cost work measured what it cost here: 234
//! instructions of a 1,133-instruction spawned task, a separate awaiter protocol every task
//! pays for, and memory from the global allocator, which with glibc is most of the gap
//! between a remote spawn and a plain pool's job (BENCHMARKS.md, "Per-task cost"). This
//! task keeps async-task's interface ideas (a metadata slot, `woken_while_running`) and
//! tokio's state-word design (one word: lifecycle bits plus a reference count; a join
//! waker guarded by a bit the handle owns), and takes its memory from
//! `memory`, which recycles blocks between threads.
//!
//! # The state word
//!
//! | bit | meaning |
//! |---|---|
//! | `RUNNING` | a poll is under way (the poller holds the task's runnable reference) |
//! | `SCHEDULED` | a `Runnable` exists (queued), or the task was woken during its poll and the poller will schedule it again |
//! | `COMPLETE` | the future is gone (finished, or dropped unpolled): the stage holds the output or nothing, and belongs to the join handle if it is still interested |
//! | `JOIN_INTEREST` | a `RawJoin` exists and has not detached |
//! | `JOIN_WAKER` | the join waker slot holds the handle's waker; only the handle sets it, and only while not `COMPLETE`; it is cleared by the handle (re-registering or detaching before completion) or by the completer once it has woken the waker; whichever of the handle and the completer is done second drops the waker |
//! | `REF_ONE` and up | the reference count: every waker, the join handle, and the runnable (one reference for a `Runnable` or a running poll) |
//!
//! Invariants (each transition below keeps them; the loom models in
//! `loom-tests/tests/raw_task.rs` check them with bugs planted):
//! 1. The stage is touched only by whoever holds `SCHEDULED` without `RUNNING` (a
//!    `Runnable`: poll or drop it), by the poller (`RUNNING`), by the completer until it
//!    sets `COMPLETE`, after that by the join handle if its interest survived the
//!    completing transition (else by the completer, which drops the output), and by the
//!    last reference (destroy).
//! 2. The memory is freed once, by whoever drops the count to zero; nobody touches it after
//!    giving up their reference.
//! 3. A wake is never lost: a wake while idle makes a `Runnable`; one during a poll sets
//!    `SCHEDULED`, and the poll's end sees it and schedules the task again.

use super::memory;
use super::TaskHeader;
use crate::loom::task_state::{AtomicUsize, Slot};
use std::alloc::Layout;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

const RUNNING: usize = 1 << 0;
const SCHEDULED: usize = 1 << 1;
const COMPLETE: usize = 1 << 2;
const JOIN_INTEREST: usize = 1 << 3;
const JOIN_WAKER: usize = 1 << 4;
const REF_ONE: usize = 1 << 6;
/// More references than this is a leak of wakers gone wrong: abort, as `Arc` does.
const MAX_REFS: usize = isize::MAX as usize;

#[inline]
fn refs(state: usize) -> usize {
    state / REF_ONE
}

/// What the schedule function learns about a wake-up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ScheduleInfo {
    /// The task was woken during its own poll (by itself, or by another thread meanwhile),
    /// or asked to be polled again without a wake (a yield: [`Runnable::run_with`]).
    pub(crate) woken_while_running: bool,
}

/// Puts a runnable task in a queue; chosen per task at spawn (a plain function: whatever it
/// needs, it finds through the task's [`TaskHeader`]).
pub(crate) type Schedule = fn(Runnable, ScheduleInfo);

/// The typed operations of one future type.
struct Vtable {
    /// Poll the future once (the caller holds the runnable reference and has set
    /// `RUNNING`); `Ready` once the future is gone, with what became of its output.
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<Output>,
    /// Drop whatever the stage holds (the future or the output); it holds nothing after.
    consume: unsafe fn(NonNull<Header>),
    /// Move the output out of the stage into `*mut Option<Output>` (`None`: it holds none).
    take_output: unsafe fn(NonNull<Header>, *mut ()),
    /// The last reference is gone: drop everything and free the memory.
    destroy: unsafe fn(NonNull<Header>),
}

/// The untyped front of every task allocation (`repr(C)`: a pointer to the `Cell` is a
/// pointer to its `Header`).
#[repr(C)]
struct Header {
    state: AtomicUsize,
    vtable: &'static Vtable,
    schedule: Schedule,
    /// The join handle's waker (see `JOIN_WAKER`).
    join_waker: Slot<Option<Waker>>,
    meta: TaskHeader,
}

/// What a poll that finished did with the future's output.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Output {
    /// In the stage, for the join handle.
    Stored,
    /// Dropped at once: the task was detached (its interest is never regained), so nobody
    /// will take it, and the stage holds nothing.
    Dropped,
}

enum Stage<F: Future> {
    Running(F),
    Finished(F::Output),
    Consumed,
}

#[repr(C)]
struct Cell<F: Future> {
    header: Header,
    stage: Slot<Stage<F>>,
}

/// The header behind `ptr`, for the length of one operation: never held across the
/// release of the caller's reference (the memory may be freed right after).
///
/// # Safety
/// The caller holds a reference to the task.
#[inline]
unsafe fn header<'a>(ptr: NonNull<Header>) -> &'a Header {
    // SAFETY: the caller's reference keeps the allocation alive; the header is only ever
    // shared (its mutable parts are atomics and the `UnsafeCell`).
    unsafe { ptr.as_ref() }
}

/// The stage of the task behind `ptr`.
///
/// # Safety
/// `ptr` is a task whose future is `F`, the caller holds a reference to it, and it has the
/// stage to itself (invariant 1) while it uses the slot.
unsafe fn stage<'a, F: Future>(ptr: NonNull<Header>) -> &'a Slot<Stage<F>> {
    let cell = ptr.cast::<Cell<F>>().as_ptr();
    // SAFETY: `ptr` points to a live `Cell<F>` (the caller's contract); the reference is to
    // the stage's field only, never to the whole cell.
    unsafe { &*std::ptr::addr_of!((*cell).stage) }
}

/// Allocate a task running the future `make` builds around a reference to its own header,
/// with one runnable reference (`SCHEDULED`) and, if `joinable`, a join handle's.
///
/// # Safety
/// - The header reference given to `make` is valid only while the future lives (the stage
///   is always dropped before the header): neither the future nor its output may keep it
///   beyond that (the block is recycled for another task afterwards).
/// - The future's and the output's destructors must not unwind (the runtime's
///   `TaskFuture` and `TaskOutput` catch every panic): an unwinding `consume` would leave
///   the task scheduled forever.
// Always inlined into the spawn that calls it (through `task::allocate`, from `spawn_raw`
// and `spawn_raw_detached`): out of line it cost a spawn about 10 instructions of call and
// lost constant folding (batch mode, 2026-12-06).
#[inline(always)]
pub(crate) unsafe fn allocate<F, M>(
    meta: TaskHeader,
    make: M,
    schedule: Schedule,
    joinable: bool,
) -> NonNull<()>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    M: FnOnce(&'static TaskHeader) -> F,
{
    let layout = Layout::new::<Cell<F>>();
    let ptr = memory::allocate(layout).cast::<Cell<F>>();
    if meta.spawned_from_outside() {
        memory::prefetch_next(layout);
    }
    let state = if joinable {
        SCHEDULED | JOIN_INTEREST | (2 * REF_ONE)
    } else {
        SCHEDULED | REF_ONE
    };
    // SAFETY: `ptr` is fresh memory for a `Cell<F>`. The header is written first, then the
    // future, built with a reference to the header in place: the cell is never moved, and
    // the stage is dropped (`consume` or `destroy`) before the header, so the reference
    // outlives every use the future can make of it.
    unsafe {
        let cell = ptr.as_ptr();
        std::ptr::addr_of_mut!((*cell).header).write(Header {
            state: AtomicUsize::new(state),
            vtable: &Typed::<F>::VTABLE,
            schedule,
            join_waker: Slot::new(None),
            meta,
        });
        let meta: &'static TaskHeader = &*std::ptr::addr_of!((*cell).header.meta);
        std::ptr::addr_of_mut!((*cell).stage).write(Slot::new(Stage::Running(make(meta))));
    }
    ptr.cast()
}

/// The typed halves of the vtable.
struct Typed<F>(PhantomData<F>);

impl<F: Future> Typed<F> {
    const VTABLE: Vtable = Vtable {
        poll: Self::poll,
        consume: Self::consume,
        take_output: Self::take_output,
        destroy: Self::destroy,
    };

    /// # Safety
    /// As `Vtable::poll`: the caller polls (holds `RUNNING`), so the stage is its own.
    unsafe fn poll(ptr: NonNull<Header>, cx: &mut Context<'_>) -> Poll<Output> {
        // SAFETY: the stage is the poller's (invariant 1) and holds the future while the
        // task is not complete; it is pinned: the cell never moves and the future is
        // dropped in place. The header lives as long as the caller's reference.
        unsafe {
            stage::<F>(ptr).with_mut(|stage| {
                let Stage::Running(future) = &mut *stage else {
                    // Not reachable: a complete task is never polled (no `Runnable` exists).
                    return Poll::Ready(Output::Stored);
                };
                match Pin::new_unchecked(future).poll(cx) {
                    Poll::Ready(output) => {
                        // Detached (interest is never regained): nobody will take the
                        // output, drop it here rather than store it for `complete` to drop.
                        // (Inside the poll as the runtime sees it: a slow destructor counts
                        // toward the long-poll watchdog and a critical worker's demotion.)
                        if header(ptr).state.load(Acquire) & JOIN_INTEREST == 0 {
                            *stage = Stage::Consumed;
                            drop(output);
                            return Poll::Ready(Output::Dropped);
                        }
                        *stage = Stage::Finished(output);
                        Poll::Ready(Output::Stored)
                    }
                    Poll::Pending => Poll::Pending,
                }
            })
        }
    }

    /// # Safety
    /// As `Vtable::consume`: the caller has the stage to itself.
    unsafe fn consume(ptr: NonNull<Header>) {
        // SAFETY: the stage is the caller's; assigning drops what it held, in place.
        unsafe { stage::<F>(ptr).with_mut(|stage| *stage = Stage::Consumed) }
    }

    /// # Safety
    /// As `Vtable::take_output`: the caller has the stage to itself and `out` points to an
    /// `Option<F::Output>`.
    unsafe fn take_output(ptr: NonNull<Header>, out: *mut ()) {
        // SAFETY: the stage is the caller's; `out` is an `Option<F::Output>` (the caller's
        // contract), which the assignment overwrites (dropping its old value, `None`).
        unsafe {
            let value = stage::<F>(ptr).with_mut(|stage| {
                if let Stage::Running(_) = &*stage {
                    // Not reachable (only complete tasks are asked): leave the pinned
                    // future where it is.
                    return None;
                }
                match std::mem::replace(&mut *stage, Stage::Consumed) {
                    Stage::Finished(output) => Some(output),
                    _ => None,
                }
            });
            *out.cast::<Option<F::Output>>() = value;
        }
    }

    /// # Safety
    /// As `Vtable::destroy`: the reference count is zero, so the task is the caller's alone.
    unsafe fn destroy(ptr: NonNull<Header>) {
        let cell = ptr.cast::<Cell<F>>().as_ptr();
        // SAFETY: nobody else holds a reference (count zero): drop the stage first (the
        // future may use the header until then), then the header, then free the block with
        // the layout it was allocated with.
        unsafe {
            std::ptr::drop_in_place(std::ptr::addr_of_mut!((*cell).stage));
            std::ptr::drop_in_place(std::ptr::addr_of_mut!((*cell).header));
            memory::release(ptr.cast(), Layout::new::<Cell<F>>());
        }
    }
}

/// Drop one reference; the last frees the task.
///
/// # Safety
/// The caller holds a reference and gives it up (does not touch the task afterwards).
#[inline]
unsafe fn drop_ref(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the task alive until the decrement.
    let prev = unsafe { header(ptr) }.state.fetch_sub(REF_ONE, AcqRel);
    // SAFETY: the decrement gave up our reference.
    unsafe { free_if_last(ptr, prev) }
}

/// Free the task if the update that returned `prev` gave up its last reference. Reads
/// nothing of the task otherwise: once the count is down, another thread may free it.
///
/// # Safety
/// `prev` is the state before an update by which the caller gave up its reference.
#[inline]
unsafe fn free_if_last(ptr: NonNull<Header>, prev: usize) {
    if refs(prev) == 1 {
        // SAFETY: that was the last reference: the task is ours alone.
        unsafe { (header(ptr).vtable.destroy)(ptr) }
    }
}

/// Hand the task to its schedule function as a `Runnable`.
///
/// # Safety
/// The caller holds the task's runnable reference (`SCHEDULED` is its) and gives it to
/// the `Runnable`.
unsafe fn schedule(ptr: NonNull<Header>, woken_while_running: bool) {
    // SAFETY: the runnable reference keeps the task alive.
    let schedule = unsafe { header(ptr) }.schedule;
    schedule(
        Runnable { ptr },
        ScheduleInfo {
            woken_while_running,
        },
    );
}

/// The task will never be polled again (its `Runnable` is dropped unpolled, or its poll
/// unwound): drop the future now and complete the task (the handle resolves to no output).
///
/// # Safety
/// The caller holds the runnable reference and the stage, and gives both up.
unsafe fn cancel(ptr: NonNull<Header>) {
    // SAFETY: the caller's contract; `complete` gives up the reference.
    unsafe {
        (header(ptr).vtable.consume)(ptr);
        complete(ptr, Output::Stored);
    }
}

/// Drop the waker in the join waker slot, if any.
///
/// # Safety
/// The caller holds a reference to the task and owns the slot (see `JOIN_WAKER`): nobody
/// else reads or writes it meanwhile.
unsafe fn drop_join_waker(header: &Header) {
    // SAFETY: the caller's contract.
    let waker = header.join_waker.with_mut(|slot| unsafe { (*slot).take() });
    drop(waker);
}

/// The future is gone (finished: the stage holds the output, or the poll dropped it,
/// `output`; or dropped: it holds nothing): mark the task complete, hand the output to the
/// join handle or drop it, wake the handle, and give up the runnable reference.
///
/// # Safety
/// The caller holds the runnable reference (as poller, or as an unpolled `Runnable`) and
/// the stage, which no longer holds the future (nor the output, if `Output::Dropped`).
unsafe fn complete(ptr: NonNull<Header>, output: Output) {
    // SAFETY: the runnable reference keeps the task alive until `drop_ref` below.
    let header = unsafe { header(ptr) };
    let done = |state: usize| (state & !(RUNNING | SCHEDULED)) | COMPLETE;
    if output == Output::Dropped || header.state.load(Acquire) & JOIN_INTEREST == 0 {
        // Detached (interest is never regained): nobody wants the output, drop it now (if
        // the poll did not) and finish in one step.
        if output == Output::Stored {
            // SAFETY: the stage is ours until `COMPLETE` is set.
            unsafe { (header.vtable.consume)(ptr) };
        }
        // Our reference the only one left, and no wake pending: nobody else can reach the
        // task (as at the poll's start), so it is freed with no locked update. The acquire
        // load orders every other holder's last use (its release decrement) before the free.
        let lone = header.state.load(Acquire);
        if lone == RUNNING | REF_ONE {
            // SAFETY: the last reference is ours and we give it up: the task is freed.
            unsafe { free_if_last(ptr, lone) };
            return;
        }
        let prev = header
            .state
            .fetch_update(AcqRel, Acquire, |s| Some(done(s) - REF_ONE))
            .unwrap_or_else(|s| s);
        // SAFETY: the update gave up the runnable reference.
        unsafe { free_if_last(ptr, prev) };
        return;
    }
    let prev = header
        .state
        .fetch_update(AcqRel, Acquire, |s| Some(done(s)))
        .unwrap_or_else(|s| s);
    if prev & JOIN_INTEREST == 0 {
        // The handle detached meanwhile: the output is still ours to drop.
        // SAFETY: a detached handle never touches the stage again.
        unsafe { (header.vtable.consume)(ptr) };
    } else if prev & JOIN_WAKER != 0 {
        if !crate::loom::mutation!("raw_task_no_join_wake") {
            // SAFETY: with `COMPLETE` set the handle no longer changes its waker (it may
            // only while `COMPLETE` is clear), and our reference keeps the slot alive.
            // A waker that panics must not cost the task its reference (it would never be
            // freed): the panic has nowhere to go and is dropped.
            let woken = header.join_waker.with(|waker| {
                // SAFETY: as above.
                let waker = unsafe { &*waker };
                catch_unwind(AssertUnwindSafe(|| waker.as_ref().map(Waker::wake_by_ref)))
            });
            if let Err(payload) = woken {
                super::wrapper::drop_payload(payload);
            }
        }
        // Done with the slot: hand it back. If the handle detached meanwhile it saw
        // `JOIN_WAKER` still set and left the waker to us; drop it now, so that the waiting
        // task (and its runtime) is not kept alive by this one's remaining wakers.
        let prev = header.state.fetch_and(!JOIN_WAKER, AcqRel);
        if prev & JOIN_INTEREST == 0 && !crate::loom::mutation!("raw_task_keeps_join_waker") {
            // SAFETY: neither side will read the slot again, and our reference keeps it.
            unsafe { drop_join_waker(header) };
        }
    }
    // SAFETY: we give up the runnable reference and touch the task no more.
    unsafe { drop_ref(ptr) }
}

/// What the poller learns when a poll returns ([`Runnable::run_with`]).
pub(crate) struct PollEnd<'a> {
    /// The runtime's per-task state.
    pub(crate) task: &'a TaskHeader,
    /// The task's own waker (to clone, for a task that waits).
    pub(crate) waker: &'a Waker,
    /// The future is gone (returned `Ready`, or was cancelled): the task completes now.
    pub(crate) finished: bool,
}

/// The right to poll a task once (or, dropped unpolled, to cancel it: its future is
/// dropped and its join handle resolves to "no output").
pub(crate) struct Runnable {
    ptr: NonNull<Header>,
}

// SAFETY: the task's future and output are `Send` (required by `allocate`), the header is
// `Sync`, and the state word arbitrates every access (see the module's invariants).
unsafe impl Send for Runnable {}
// SAFETY: `&Runnable` only reads the header (`metadata`) and clones a waker.
unsafe impl Sync for Runnable {}

impl Runnable {
    /// The runnable of a task just made by [`allocate`].
    ///
    /// # Safety
    /// `ptr` is from `allocate`, and its runnable reference is not claimed elsewhere.
    pub(crate) unsafe fn from_new(ptr: NonNull<()>) -> Runnable {
        Runnable { ptr: ptr.cast() }
    }

    /// The runtime's per-task state.
    pub(crate) fn metadata(&self) -> &TaskHeader {
        // SAFETY: the runnable reference keeps the task alive while `self` is borrowed.
        unsafe { &header(self.ptr).meta }
    }

    /// A waker of this task (the unit tests compare it with the task).
    #[cfg(test)]
    pub(crate) fn waker(&self) -> Waker {
        // SAFETY: the runnable reference keeps the task alive while the count rises, and
        // the reference `waker_clone` takes is the new waker's.
        unsafe { Waker::from_raw(waker_clone(data_of(self.ptr))) }
    }

    /// Hand the task to its schedule function (a new task's first scheduling).
    pub(crate) fn schedule(self) {
        let ptr = ManuallyDrop::new(self).ptr;
        // SAFETY: the runnable reference was `self`'s and goes to the new `Runnable`.
        unsafe { schedule(ptr, false) };
    }

    /// Which task this is (compared with a waker by [`is_waker_of`]).
    pub(crate) fn id(&self) -> TaskId {
        TaskId(data_of(self.ptr))
    }

    /// Poll the task once. If it is woken during the poll it is scheduled again (with
    /// `woken_while_running`); if it finishes, its join handle is woken.
    pub(crate) fn run(self) {
        self.run_with(|_| false);
    }

    /// [`run`](Self::run), with `poll_ended` called as soon as the poll returns, while the
    /// task is surely alive (before it completes or is scheduled again): whoever polls it
    /// learns there what it needs about the poll ([`PollEnd`]). When the poll returned
    /// `Pending`, `poll_ended` may also say that the task wants another poll without having
    /// woken itself: it is then scheduled again as if woken during the poll. A yield on its
    /// own worker takes this way (`runtime::context::request_yield`): one state transition
    /// instead of a wake's and the poll end's.
    #[inline]
    pub(crate) fn run_with(self, poll_ended: impl FnOnce(PollEnd<'_>) -> bool) {
        let ptr = ManuallyDrop::new(self).ptr;
        // SAFETY: the runnable reference is now this poll's (it was `self`'s).
        let header = unsafe { header(ptr) };
        // SCHEDULED -> RUNNING in one subtraction: a `Runnable` means SCHEDULED is set and
        // RUNNING clear. A task whose only reference is this `Runnable` (detached, no waker
        // alive, not in the registry, which holds a waker) is unreachable from any other
        // thread: a plain store does, with no locked instruction. The acquire load makes
        // every earlier holder's last use (its release decrement) happen before the poll.
        let state = header.state.load(Acquire);
        let lone = if crate::loom::mutation!("raw_task_lone_start_ignores_refs") {
            state & (REF_ONE - 1) == SCHEDULED // planted bug: other references ignored
        } else {
            state == SCHEDULED | REF_ONE
        };
        if lone {
            header.state.store(RUNNING | REF_ONE, Relaxed);
        } else {
            header.state.fetch_sub(SCHEDULED - RUNNING, AcqRel);
        }
        // If the poll unwinds (the task wrapper catches the future's panics, so only the
        // runtime's own code could, here or in `poll_ended`), the task is cancelled rather
        // than left running.
        let guard = CancelOnUnwind(ptr);
        // SAFETY: the waker borrows the poll's reference (never dropped: ManuallyDrop);
        // clones take their own.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw_waker(data_of(ptr))) });
        let mut cx = Context::from_waker(&waker);
        // SAFETY: we hold RUNNING, so the stage is ours.
        let poll = unsafe { (header.vtable.poll)(ptr, &mut cx) };
        let yielded = poll_ended(PollEnd {
            task: &header.meta,
            waker: &waker,
            finished: poll.is_ready(),
        });
        std::mem::forget(guard);
        match poll {
            // SAFETY: we hold the runnable reference and the stage, which holds the output
            // or, if the poll dropped it (`Output::Dropped`), nothing.
            Poll::Ready(output) => unsafe { complete(ptr, output) },
            Poll::Pending => {
                // Planted bug: the yield keeps the runnable reference but sets no `SCHEDULED`.
                let forgets = yielded && crate::loom::mutation!("raw_task_yield_forgets_scheduled");
                let prev = header
                    .state
                    .fetch_update(AcqRel, Acquire, |s| {
                        Some(if forgets {
                            s & !RUNNING
                        } else if yielded || s & SCHEDULED != 0 {
                            // A yield sets `SCHEDULED` here, as its wake would have during
                            // the poll: a wake from elsewhere after this sees it and makes no
                            // second `Runnable`. The reference goes with the new one.
                            (s | SCHEDULED) & !RUNNING
                        } else {
                            (s & !RUNNING) - REF_ONE
                        })
                    })
                    .unwrap_or_else(|s| s);
                if (yielded || prev & SCHEDULED != 0)
                    && !crate::loom::mutation!("raw_task_drops_wake_while_running")
                {
                    // SAFETY: the runnable reference stayed with `SCHEDULED`.
                    unsafe { schedule(ptr, true) };
                } else {
                    // With the last reference gone nothing can wake it again (no waker,
                    // no runnable, no handle): it is freed.
                    // SAFETY: the update gave up the runnable reference.
                    unsafe { free_if_last(ptr, prev) };
                }
            }
        }
    }
}

impl Drop for Runnable {
    fn drop(&mut self) {
        // SAFETY: an unpolled `Runnable` holds the stage and the runnable reference.
        unsafe { cancel(self.ptr) }
    }
}

/// Cancels the task if a poll unwinds out of the vtable (see `Runnable::run`).
struct CancelOnUnwind(NonNull<Header>);

impl Drop for CancelOnUnwind {
    fn drop(&mut self) {
        // SAFETY: the unwinding poll held RUNNING (so the stage) and the runnable reference.
        unsafe { cancel(self.0) }
    }
}

/// Which task a [`Runnable`] is: an address, compared and never dereferenced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskId(*const ());

impl TaskId {
    /// No task (a thread that polls none).
    pub(crate) const NONE: TaskId = TaskId(std::ptr::null());
}

/// Is `waker` a waker of the task `id`? Compares the waker's data and vtable with the
/// task's (`Waker::will_wake`; our vtable is one static, so a waker of the task always
/// compares equal, and any other waker never does).
pub(crate) fn is_waker_of(waker: &Waker, id: TaskId) -> bool {
    if id == TaskId::NONE {
        return false;
    }
    // SAFETY: this waker is only compared: never woken, cloned or dropped (ManuallyDrop),
    // so it needs no reference to the task, which may be gone.
    let task = ManuallyDrop::new(unsafe { Waker::from_raw(raw_waker(id.0)) });
    waker.will_wake(&task)
}

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

/// # Safety
/// `data` is a task the caller holds a reference to.
#[inline]
unsafe fn waker_clone(data: *const ()) -> RawWaker {
    let ptr = task_of(data);
    // SAFETY: the caller's reference keeps the task alive.
    let prev = unsafe { header(ptr) }.state.fetch_add(REF_ONE, Relaxed);
    if refs(prev) >= MAX_REFS / REF_ONE {
        std::process::abort();
    }
    raw_waker(data)
}

/// The raw waker of the task whose waker data is `data` (see [`data_of`]); it owns no
/// reference by itself: whoever builds one says whose it is.
#[inline]
fn raw_waker(data: *const ()) -> RawWaker {
    RawWaker::new(data, &WAKER_VTABLE)
}

/// # Safety
/// `data` is a waker's task, and this consumes the waker's reference.
unsafe fn waker_wake(data: *const ()) {
    let ptr = task_of(data);
    // SAFETY: the waker's reference keeps the task alive until it is given up below.
    let header = unsafe { header(ptr) };
    let prev = header
        .state
        .fetch_update(AcqRel, Acquire, |s| {
            Some(if s & (COMPLETE | SCHEDULED) != 0 {
                s - REF_ONE
            } else if s & RUNNING != 0 {
                // The poll's end schedules it; the poll holds a reference, so ours is not
                // the last.
                (s | SCHEDULED) - REF_ONE
            } else {
                s | SCHEDULED // our reference becomes the runnable's
            })
        })
        .unwrap_or_else(|s| s);
    if prev & (COMPLETE | SCHEDULED | RUNNING) == 0 {
        // SAFETY: our reference became the runnable's.
        unsafe { schedule(ptr, false) };
    } else {
        // SAFETY: the update gave up our reference.
        unsafe { free_if_last(ptr, prev) };
    }
}

/// # Safety
/// `data` is a task the caller holds a reference to.
unsafe fn waker_wake_by_ref(data: *const ()) {
    let ptr = task_of(data);
    // SAFETY: the caller's reference keeps the task alive throughout.
    let header = unsafe { header(ptr) };
    let mut state = header.state.load(Acquire);
    loop {
        if state & COMPLETE != 0 {
            return; // final: a load cannot show it early
        }
        if state & SCHEDULED != 0 && crate::loom::mutation!("raw_task_wake_trusts_a_load") {
            return;
        }
        let next = if state & SCHEDULED != 0 {
            // Already scheduled, but a plain load may show a `SCHEDULED` that a poll
            // already took (and then miss the wake-up's cause, such as an abort flag set
            // just before): confirm it with a write of the same value, which reads the
            // latest state and orders this wake before that poll's end.
            state
        } else if state & RUNNING != 0 {
            state | SCHEDULED
        } else {
            (state | SCHEDULED) + REF_ONE // the new `Runnable`'s reference
        };
        match header
            .state
            .compare_exchange_weak(state, next, AcqRel, Acquire)
        {
            Ok(_) => break,
            Err(actual) => state = actual,
        }
    }
    if state & (SCHEDULED | RUNNING) == 0 {
        // SAFETY: the reference just added is the runnable's.
        unsafe { schedule(ptr, false) };
    }
}

/// # Safety
/// `data` is a waker's task, and this consumes the waker's reference.
#[inline]
unsafe fn waker_drop(data: *const ()) {
    // SAFETY: the waker's reference is given up here.
    unsafe { drop_ref(task_of(data)) }
}

/// A task's pointer as its wakers' data pointer (the inverse of [`task_of`]).
#[inline]
fn data_of(ptr: NonNull<Header>) -> *const () {
    ptr.as_ptr().cast_const().cast()
}

/// A waker's data pointer back to its task.
#[inline]
fn task_of(data: *const ()) -> NonNull<Header> {
    // Never null: every waker's data is a task pointer (`Runnable::waker`, `Runnable::run`).
    NonNull::new(data.cast_mut()).map_or_else(|| unreachable!("a waker of no task"), NonNull::cast)
}

/// The join handle's side: the right to the task's output (`Output` is the future's).
pub(crate) struct RawJoin<Output> {
    ptr: NonNull<Header>,
    _output: PhantomData<Output>,
}

// SAFETY: the handle only moves the output (which is `Send`) out of the task, and reads the
// header (`Sync`).
unsafe impl<Output: Send> Send for RawJoin<Output> {}
// SAFETY: `&RawJoin` only reads the header.
unsafe impl<Output: Send> Sync for RawJoin<Output> {}

impl<Output> RawJoin<Output> {
    /// The join handle of a task just made by [`allocate`] with `joinable`, whose future's
    /// output is `Output`.
    ///
    /// # Safety
    /// As above; the handle's reference is not claimed elsewhere.
    pub(crate) unsafe fn from_new(ptr: NonNull<()>) -> Self {
        RawJoin {
            ptr: ptr.cast(),
            _output: PhantomData,
        }
    }

    /// The runtime's per-task state.
    pub(crate) fn metadata(&self) -> &TaskHeader {
        // SAFETY: the handle's reference keeps the task alive while `self` is borrowed.
        unsafe { &header(self.ptr).meta }
    }

    /// Wake the task, as its waker's `wake_by_ref` would (an aborted task is polled, and
    /// notices).
    pub(crate) fn wake(&self) {
        // SAFETY: the handle's reference keeps the task alive throughout the wake, and the
        // handle's pointer is the task's, as a waker's data is.
        unsafe { waker_wake_by_ref(data_of(self.ptr)) }
    }

    /// Has the future gone (finished or dropped)?
    pub(crate) fn is_finished(&self) -> bool {
        // SAFETY: the handle's reference keeps the task alive.
        unsafe { header(self.ptr) }.state.load(Acquire) & COMPLETE != 0
    }

    /// The output once the task is complete (`None`: its future was dropped unfinished);
    /// until then, `cx`'s waker is woken when it completes.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Output>> {
        // SAFETY: the handle's reference keeps the task alive.
        let header = unsafe { header(self.ptr) };
        let state = header.state.load(Acquire);
        if state & COMPLETE != 0 {
            return Poll::Ready(self.take_output());
        }
        if state & JOIN_WAKER != 0 {
            // SAFETY: the completer reads the slot only after `COMPLETE`, and only we write it.
            let same = header.join_waker.with(|waker| {
                // SAFETY: as just said.
                unsafe { &*waker }
                    .as_ref()
                    .is_some_and(|waker| waker.will_wake(cx.waker()))
            });
            if same {
                return Poll::Pending;
            }
            // Take the slot back before changing it.
            if !crate::loom::mutation!("raw_task_rewrites_a_published_waker")
                && header
                    .state
                    .fetch_update(AcqRel, Acquire, |s| {
                        (s & COMPLETE == 0).then_some(s & !JOIN_WAKER)
                    })
                    .is_err()
            {
                return Poll::Ready(self.take_output());
            }
        }
        let waker = cx.waker().clone();
        header.join_waker.with_mut(|slot| {
            // SAFETY: `JOIN_WAKER` is clear, so the slot is ours (invariant: only the handle
            // sets it, and the completer reads it only when set).
            unsafe { *slot = Some(waker) }
        });
        let published = if crate::loom::mutation!("raw_task_waker_after_complete") {
            // Planted bug: publishing without looking for `COMPLETE` misses a completion
            // that came first, and nobody wakes the handle.
            header.state.fetch_or(JOIN_WAKER, AcqRel);
            true
        } else {
            header
                .state
                .fetch_update(AcqRel, Acquire, |s| {
                    (s & COMPLETE == 0).then_some(s | JOIN_WAKER)
                })
                .is_ok()
        };
        if published {
            Poll::Pending
        } else {
            Poll::Ready(self.take_output())
        }
    }

    /// Move the output out (the task is complete and our interest survived it, so the stage
    /// is ours).
    fn take_output(&mut self) -> Option<Output> {
        let mut out: Option<Output> = None;
        // SAFETY: the stage is the interested handle's once `COMPLETE` is set (invariant 1),
        // and `out` is an `Option` of the future's output type.
        unsafe {
            (header(self.ptr).vtable.take_output)(
                self.ptr,
                (&mut out as *mut Option<Output>).cast(),
            )
        };
        out
    }
}

impl<Output> Drop for RawJoin<Output> {
    /// Detach: the task runs on, and its output is dropped when it finishes (here, if it
    /// already has).
    fn drop(&mut self) {
        // SAFETY: the handle's reference keeps the task alive until given up.
        let header = unsafe { header(self.ptr) };
        // The common case, a handle that never registered a waker (only the handle sets
        // `JOIN_WAKER`, so a clear bit is not stale) on a task still running: give up the
        // interest and the reference in one step.
        if header.state.load(Acquire) & JOIN_WAKER == 0 {
            let detached = header.state.fetch_update(AcqRel, Acquire, |s| {
                (s & (COMPLETE | JOIN_WAKER) == 0).then_some((s & !JOIN_INTEREST) - REF_ONE)
            });
            if let Ok(prev) = detached {
                // SAFETY: the update gave up the handle's reference.
                unsafe { free_if_last(self.ptr, prev) };
                return;
            }
        }
        // Give up the interest (and, before completion, the waker slot: the completer will
        // not read it once interest is gone).
        let prev = header
            .state
            .fetch_update(AcqRel, Acquire, |s| {
                Some(if s & COMPLETE == 0 {
                    s & !(JOIN_INTEREST | JOIN_WAKER)
                } else {
                    s & !JOIN_INTEREST
                })
            })
            .unwrap_or_else(|s| s);
        if prev & COMPLETE != 0 {
            // Complete, with our interest intact at that moment: the output (if not taken)
            // is ours.
            // SAFETY: as in `take_output`.
            unsafe { (header.vtable.consume)(self.ptr) };
        }
        if (prev & COMPLETE == 0 || prev & JOIN_WAKER == 0)
            && !crate::loom::mutation!("raw_task_keeps_join_waker")
        {
            // The slot is ours: before completion the completer no longer reads it; after,
            // it has handed it back (cleared `JOIN_WAKER`). Otherwise the completer is still
            // waking it and drops it itself when it sees our interest gone.
            // SAFETY: as just said; our reference keeps the slot alive.
            unsafe { drop_join_waker(header) };
        }
        if !crate::loom::mutation!("raw_task_detach_keeps_ref") {
            // SAFETY: we give up the handle's reference and touch the task no more.
            unsafe { drop_ref(self.ptr) };
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    //! Real threads against the state word (Miri runs these: `cargo miri test --lib
    //! task::`). The schedule function polls a woken task right where it was woken, so a
    //! wake from another thread races the poll for real.
    use super::*;
    use crate::task::Qos;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    use std::task::Wake;

    fn run_here(task: Runnable, _: ScheduleInfo) {
        task.run();
    }

    fn ignore(_: Runnable, _: ScheduleInfo) {}

    /// Counts drops.
    struct Token(Arc<AtomicUsize>);

    impl Drop for Token {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn joinable<F>(future: F, schedule: Schedule) -> (Runnable, RawJoin<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // SAFETY: the test futures ignore the header; their destructors do not unwind.
        let task = unsafe {
            allocate(
                TaskHeader::new(Qos::Default),
                move |_| future,
                schedule,
                true,
            )
        };
        // SAFETY: a joinable task made just now; each reference claimed once.
        unsafe { (Runnable::from_new(task), RawJoin::from_new(task)) }
    }

    /// Unparks the blocked thread.
    struct Unpark(std::thread::Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    fn join<T>(mut handle: RawJoin<T>) -> Option<T> {
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(out) = handle.poll(&mut cx) {
                return out;
            }
            std::thread::park();
        }
    }

    /// Pending until `fired`, keeping the last waker in `slot`.
    struct WaitFor {
        fired: Arc<AtomicBool>,
        slot: Arc<Mutex<Option<Waker>>>,
        _token: Token,
    }

    impl Future for WaitFor {
        type Output = Token;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Token> {
            *self.slot.lock().unwrap() = Some(cx.waker().clone());
            if self.fired.load(SeqCst) {
                Poll::Ready(Token(self._token.0.clone()))
            } else {
                Poll::Pending
            }
        }
    }

    fn detached<F>(future: F, schedule: Schedule) -> Runnable
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // SAFETY: as `joinable`, with no handle: the runnable reference is claimed once.
        unsafe {
            Runnable::from_new(allocate(
                TaskHeader::new(Qos::Default),
                move |_| future,
                schedule,
                false,
            ))
        }
    }

    /// A detached task whose only reference is its `Runnable` starts and ends its poll
    /// with no locked update (nobody else can reach it); one whose waker is alive, or was
    /// kept past the poll, goes the locked way. Either way it is freed exactly once, by
    /// the last reference (Miri checks the frees and that nothing leaks).
    #[test]
    fn a_detached_task_alone_or_not_is_freed_by_its_last_reference() {
        // Alone: done in one poll.
        let drops = Arc::new(AtomicUsize::new(0));
        let token = Token(drops.clone());
        detached(async move { drop(token) }, ignore).run();
        assert_eq!(drops.load(SeqCst), 1);
        // Its waker kept past the end: the task outlives the poll, freed with the waker.
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let (kept, token) = (slot.clone(), Token(drops.clone()));
        detached(
            std::future::poll_fn(move |cx| {
                *kept.lock().unwrap() = Some(cx.waker().clone());
                let _token = &token;
                Poll::Ready(())
            }),
            ignore,
        )
        .run();
        assert_eq!(drops.load(SeqCst), 2, "the future is dropped at the end");
        let waker = slot.lock().unwrap().take().unwrap();
        waker.wake_by_ref();
        drop(waker);
        // Pending, woken by a waker that is then gone: the second poll starts alone again.
        let fired = Arc::new(AtomicBool::new(false));
        let future = WaitFor {
            fired: fired.clone(),
            slot: slot.clone(),
            _token: Token(drops.clone()),
        };
        detached(future, run_here).run();
        fired.store(true, SeqCst);
        let waker = slot.lock().unwrap().take().unwrap();
        waker.wake();
        // The second poll kept a waker in the slot again: the task lives on with it.
        assert_eq!(drops.load(SeqCst), 4, "the future's token and the output's");
        drop(slot.lock().unwrap().take());
    }

    #[test]
    fn a_task_run_on_another_thread_hands_its_output_to_the_handle() {
        let drops = Arc::new(AtomicUsize::new(0));
        let token = Token(drops.clone());
        let (task, handle) = joinable(async move { token }, ignore);
        let runner = std::thread::spawn(move || task.run());
        let out = join(handle).expect("the output");
        runner.join().unwrap();
        assert_eq!(drops.load(SeqCst), 0);
        drop(out);
        assert_eq!(drops.load(SeqCst), 1);
    }

    #[test]
    fn a_wake_from_another_thread_during_the_poll_is_not_lost() {
        for _ in 0..if cfg!(miri) { 4 } else { 200 } {
            let drops = Arc::new(AtomicUsize::new(0));
            let fired = Arc::new(AtomicBool::new(false));
            let slot = Arc::new(Mutex::new(None::<Waker>));
            let future = WaitFor {
                fired: fired.clone(),
                slot: slot.clone(),
                _token: Token(drops.clone()),
            };
            let (task, handle) = joinable(future, run_here);
            let waker = std::thread::spawn(move || {
                fired.store(true, SeqCst);
                let waker = slot.lock().unwrap().clone();
                if let Some(waker) = waker {
                    waker.wake();
                }
            });
            task.run();
            waker.join().unwrap();
            // Fired before the first poll, during it, or after it: either way it finished.
            let out = join(handle).expect("the output");
            drop(out);
            // The future's token and the output's.
            assert_eq!(drops.load(SeqCst), 2);
        }
    }

    #[test]
    fn detaching_before_or_after_completion_drops_the_output_once() {
        for detach_first in [true, false] {
            let drops = Arc::new(AtomicUsize::new(0));
            let token = Token(drops.clone());
            let (task, handle) = joinable(async move { token }, ignore);
            if detach_first {
                drop(handle);
                task.run();
            } else {
                task.run();
                assert!(handle.is_finished());
                drop(handle);
            }
            assert_eq!(drops.load(SeqCst), 1, "detach first: {detach_first}");
        }
    }

    #[test]
    fn a_runnable_dropped_unpolled_cancels_the_task() {
        let drops = Arc::new(AtomicUsize::new(0));
        let token = Token(drops.clone());
        let (task, handle) = joinable(async move { drop(token) }, ignore);
        drop(task);
        assert_eq!(drops.load(SeqCst), 1, "the future was dropped");
        assert!(handle.is_finished());
        assert!(join(handle).is_none());
    }

    #[test]
    fn a_pending_task_nobody_can_wake_is_dropped_with_its_last_reference() {
        let drops = Arc::new(AtomicUsize::new(0));
        let token = Token(drops.clone());
        let (task, handle) = joinable(
            async move {
                let _token = token;
                std::future::pending::<()>().await
            },
            ignore,
        );
        task.run();
        assert_eq!(drops.load(SeqCst), 0, "the handle keeps it");
        drop(handle);
        assert_eq!(drops.load(SeqCst), 1, "dropped with the last reference");
    }

    #[test]
    fn a_waker_outliving_its_task_wakes_nothing_and_frees_it() {
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let kept = slot.clone();
        let (task, handle) = joinable(
            std::future::poll_fn(move |cx| {
                *kept.lock().unwrap() = Some(cx.waker().clone());
                Poll::Ready(5)
            }),
            run_here,
        );
        task.run();
        assert_eq!(join(handle), Some(5));
        let waker = slot.lock().unwrap().take().unwrap();
        waker.wake_by_ref();
        let clone = waker.clone();
        drop(waker);
        clone.wake();
    }

    /// Counts its clones' drops (through the `Arc`'s strong count) and panics when woken
    /// if asked to.
    struct CountedWaker {
        panics: bool,
    }

    impl Wake for CountedWaker {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            if self.panics {
                panic!("a join waker that panics");
            }
        }
    }

    #[test]
    fn the_join_waker_is_let_go_when_the_handle_is_done_with_it() {
        // Registered, then the handle detaches before completion, or takes the output after
        // it; either way the task's remaining waker (kept below) must not keep the join
        // waker, and with it the waiting task and its runtime, alive.
        for take_output in [false, true] {
            let kept = Arc::new(Mutex::new(None::<Waker>));
            let slot = kept.clone();
            let mut polls = 0;
            let (task, mut handle) = joinable(
                std::future::poll_fn(move |cx| {
                    polls += 1;
                    *slot.lock().unwrap() = Some(cx.waker().clone());
                    if polls == 1 {
                        Poll::Pending
                    } else {
                        Poll::Ready(())
                    }
                }),
                run_here,
            );
            let counted = Arc::new(CountedWaker { panics: false });
            let join_waker = Waker::from(counted.clone());
            let mut cx = Context::from_waker(&join_waker);
            assert!(handle.poll(&mut cx).is_pending());
            drop(join_waker);
            task.run();
            if take_output {
                // Woken and run again (the schedule function runs it right here).
                let waker = kept.lock().unwrap().clone().unwrap();
                waker.wake();
                assert!(handle.is_finished());
                let waker = Waker::from(Arc::new(CountedWaker { panics: false }));
                assert!(handle.poll(&mut Context::from_waker(&waker)).is_ready());
            }
            drop(handle);
            assert_eq!(
                Arc::strong_count(&counted),
                1,
                "join waker let go (output taken: {take_output})"
            );
            // The future holds its own waker in `slot`: drop it to free the task.
            let own = kept.lock().unwrap().take();
            drop(own);
        }
    }

    #[test]
    fn a_join_waker_that_panics_costs_the_task_nothing() {
        let drops = Arc::new(AtomicUsize::new(0));
        let token = Token(drops.clone());
        let (task, mut handle) = joinable(async move { token }, ignore);
        let waker = Waker::from(Arc::new(CountedWaker { panics: true }));
        assert!(handle.poll(&mut Context::from_waker(&waker)).is_pending());
        task.run(); // completes; its wake of the handle panics, caught
        assert!(handle.is_finished());
        drop(handle); // the output is dropped and the task freed
        assert_eq!(drops.load(SeqCst), 1);
    }

    #[test]
    fn a_task_woken_by_itself_is_told_so() {
        fn record(task: Runnable, info: ScheduleInfo) {
            assert!(info.woken_while_running);
            task.run();
        }
        let mut polls = 0;
        let (task, handle) = joinable(
            std::future::poll_fn(move |cx| {
                polls += 1;
                if polls == 3 {
                    return Poll::Ready(polls);
                }
                cx.waker().wake_by_ref();
                Poll::Pending
            }),
            record,
        );
        task.run();
        assert_eq!(join(handle), Some(3));
    }

    /// A poll whose `yielded` says so is scheduled again though nothing woke the task, as
    /// woken during its poll, and only once even if a wake came too.
    #[test]
    fn a_yield_without_a_wake_is_scheduled_again_once() {
        static SCHEDULED_AGAIN: AtomicUsize = AtomicUsize::new(0);
        fn queue(task: Runnable, info: ScheduleInfo) {
            assert!(info.woken_while_running);
            SCHEDULED_AGAIN.fetch_add(1, SeqCst);
            QUEUED.with(|q| q.borrow_mut().push(task));
        }
        thread_local! {
            static QUEUED: std::cell::RefCell<Vec<Runnable>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let mut polls = 0;
        let (task, handle) = joinable(
            std::future::poll_fn(move |cx| {
                polls += 1;
                match polls {
                    1 => Poll::Pending, // yields, no wake
                    2 => {
                        cx.waker().wake_by_ref(); // yields and wakes itself as well
                        Poll::Pending
                    }
                    n => Poll::Ready(n),
                }
            }),
            queue,
        );
        task.run_with(|_| true);
        assert_eq!(SCHEDULED_AGAIN.load(SeqCst), 1);
        let again = QUEUED
            .with(|q| q.borrow_mut().pop())
            .expect("scheduled again");
        again.run_with(|_| true);
        assert_eq!(
            SCHEDULED_AGAIN.load(SeqCst),
            2,
            "one Runnable for a yield and a wake"
        );
        let last = QUEUED
            .with(|q| q.borrow_mut().pop())
            .expect("scheduled again");
        assert!(QUEUED.with(|q| q.borrow().is_empty()));
        last.run_with(|_| false);
        assert_eq!(join(handle), Some(3));
    }

    /// A task's waker is recognised as its own; another task's, a foreign waker and no task
    /// are not.
    #[test]
    fn a_task_knows_its_own_waker() {
        let (task, handle) = joinable(async {}, ignore);
        let (other, other_handle) = joinable(async {}, ignore);
        let waker = task.waker();
        assert!(is_waker_of(&waker, task.id()));
        assert!(!is_waker_of(&waker, other.id()));
        assert!(!is_waker_of(&waker, TaskId::NONE));
        let foreign = Waker::from(Arc::new(Unpark(std::thread::current())));
        assert!(!is_waker_of(&foreign, task.id()));
        drop(waker);
        task.run();
        other.run();
        assert_eq!(join(handle), Some(()));
        assert_eq!(join(other_handle), Some(()));
    }
}
