//! Task memory, recycled: freed task blocks go to the freeing thread's cache and travel
//! back to allocating threads in batches.
//!
//! Why: the common pattern is one thread spawning and others running and freeing. With
//! glibc's malloc the spawner's thread cache then never refills, and every task comes from
//! the arena's bins: a remote no-op spawn measured 392–437 ns with glibc against 231–238 ns
//! with jemalloc, whose thread caches hand memory back in batches (BENCHMARKS.md, "Per-task
//! cost"). This module does the same for task blocks only, so the runtime does not depend on
//! the application's choice of allocator.
//!
//! Blocks come in size classes of [`CLASS_BYTES`] up to [`MAX_POOLED`] bytes, aligned to
//! [`CLASS_ALIGN`]; a block of a class has one layout whoever frees it, so any thread may free
//! any block. Each thread keeps up to [`LOCAL_MAX`] free blocks per class; a thread whose
//! list is full hands [`BATCH`] of them to the class's shared pool (one lock per batch), and a
//! thread whose list is empty takes a batch from there before it asks the allocator. The shared
//! pool holds at most [`SHARED_MAX_BYTES`] over all classes; beyond that blocks go back to
//! the allocator, as do a thread's blocks when it exits. Larger tasks (or over-aligned ones)
//! use the global allocator directly.
//!
//! A thread spawning onto another runtime's workers gets its blocks back from them, still
//! in their caches: [`prefetch_next`] starts bringing the next one over one spawn ahead.
//!
//! Under loom every block comes from the global allocator: the models check the task
//! protocol, not this cache (a plain mutex hand-off).
// Under loom only `allocate` / `release`, the block count and `prefetch_next` (a no-op there)
// are used.
#![cfg_attr(loom, allow(dead_code))]

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;

/// The size step of the classes: one cache line.
pub(crate) const CLASS_BYTES: usize = 64;
/// The alignment of every pooled block: what the allocator gives without asking (glibc's
/// `memalign` for a cache-line alignment cost more than the whole pool saved).
pub(crate) const CLASS_ALIGN: usize = 16;
/// The largest pooled block.
pub(crate) const MAX_POOLED: usize = 1024;
const CLASSES: usize = MAX_POOLED / CLASS_BYTES;
/// Free blocks a thread keeps per class before it hands a batch on.
pub(crate) const LOCAL_MAX: usize = 128;
/// Blocks per hand-off between a thread and the shared pool.
pub(crate) const BATCH: usize = 64;
/// The most the shared pool keeps, over all classes (never trimmed; what a burst of tasks
/// left behind, up to this, serves the next burst without the allocator). One budget for
/// all classes, not a count per class: an application's tasks fall in a few classes, and a
/// burst of 16,384 small tasks (2 MiB of 128-byte blocks) should come back whole, where a
/// per-class count that also bounds the 1 KiB class would cut it at a few thousand (it was
/// 4,096 blocks, and the 12,288 others of such a burst went through glibc's malloc and free
/// at every round: about 350 instructions per task). A thread keeps at most `LOCAL_MAX`
/// blocks per class (about 1.1 MiB at worst) until it exits.
pub(crate) const SHARED_MAX_BYTES: usize = 32 << 20;

/// The class of `layout`, if it is pooled.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > CLASS_ALIGN || layout.size() > MAX_POOLED || layout.size() == 0 {
        return None;
    }
    Some((layout.size() - 1) / CLASS_BYTES)
}

/// The layout every block of `class` has.
#[inline]
fn class_layout(class: usize) -> Layout {
    // Cannot fail: at most MAX_POOLED bytes, aligned to a power of two.
    Layout::from_size_align((class + 1) * CLASS_BYTES, CLASS_ALIGN)
        .unwrap_or_else(|_| unreachable!("class layouts are valid"))
}

/// Memory for a task of `layout` (never null: allocation failure ends the process, as
/// `Box::new` does).
#[inline]
pub(crate) fn allocate(layout: Layout) -> NonNull<u8> {
    #[cfg(loom)]
    LIVE.with(|live| live.set(live.get() + 1));
    #[cfg(not(loom))]
    if let Some(class) = class_of(layout) {
        if let Some(block) = pool::take(class) {
            return block;
        }
        return fresh(class_layout(class));
    }
    fresh(layout)
}

/// Start fetching the memory the next [`allocate`] of `layout` on this thread will return,
/// for a thread whose blocks come back from other threads: a block freed by a worker is
/// in that worker's cache, and the spawner's first write to it waits for the line to come
/// over, while its next locked instruction waits for that write (perf: the foreign
/// spawner's largest stalls, BENCHMARKS.md "Under 600"; the gain, 7%, in "The hand-off
/// bound"). Fetched one spawn ahead, the lines arrive while this spawn goes on. A hint: it
/// changes no memory. Only the lines of `layout.size()` bytes are fetched, not the whole
/// block, so that a large class does not pull a neighbour's lines over for nothing.
/// Out of line, so that the allocation paths it is called from stay small enough to be
/// inlined into every spawn.
#[inline(never)]
pub(crate) fn prefetch_next(layout: Layout) {
    #[cfg(not(loom))]
    if let Some(class) = class_of(layout) {
        pool::prefetch_next(class, layout.size());
    }
    #[cfg(loom)]
    let _ = layout;
}

/// Give back memory from [`allocate`] with the same `layout`.
///
/// # Safety
/// `block` came from `allocate(layout)` and is not used afterwards.
#[inline]
pub(crate) unsafe fn release(block: NonNull<u8>, layout: Layout) {
    #[cfg(loom)]
    LIVE.with(|live| live.set(live.get() - 1));
    #[cfg(not(loom))]
    if let Some(class) = class_of(layout) {
        pool::give(class, block);
        return;
    }
    // SAFETY: `block` was allocated by `fresh(layout)` (the caller's contract).
    unsafe { dealloc(block.as_ptr(), layout) }
}

#[cfg(loom)]
std::thread_local! {
    /// Blocks allocated less blocks freed, on this OS thread (a loom model's threads all run
    /// on its test's thread), so that the models can check every task is freed.
    static LIVE: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

/// Blocks allocated less blocks freed on this thread (loom models).
#[cfg(loom)]
pub(crate) fn live_blocks() -> isize {
    LIVE.with(|live| live.get())
}

fn fresh(layout: Layout) -> NonNull<u8> {
    // SAFETY: every task layout has a non-zero size (it holds at least the state word).
    NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout))
}

#[cfg(not(loom))]
mod prefetch {
    //! The one CPU-specific hint of the pool.

    /// Ask the CPU to bring the cache lines of `len` bytes at `start` into this core's
    /// cache, ready to be written (x86-64's `prefetchw`, which older CPUs run as a no-op;
    /// elsewhere, and under Miri, nothing).
    #[inline(always)]
    pub(super) fn for_write(start: *const u8, len: usize) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        {
            /// The cache line size the hint steps by (x86-64's).
            const LINE: usize = 64;
            let mut line = start as usize & !(LINE - 1);
            let end = start as usize + len;
            while line < end {
                // SAFETY: a prefetch is a hint, not a memory access: it reads nothing the
                // program sees, writes nothing and faults on no address, so the lines
                // rounded out past the block (a neighbour's) are as harmless as its own.
                unsafe {
                    std::arch::asm!(
                        "prefetchw [{line}]",
                        line = in(reg) line,
                        options(nostack, preserves_flags, nomem)
                    );
                }
                line += LINE;
            }
        }
        #[cfg(not(all(target_arch = "x86_64", not(miri))))]
        let _ = (start, len);
    }
}

#[cfg(not(loom))]
mod pool {
    //! The free lists. Each free block holds the next free block's address in its first
    //! word (an intrusive list: no `Vec` to grow or bounds-check), and a thread's lists are a
    //! thread-local without a destructor, so that reaching them is one address computation
    //! with no "is it initialised / destroyed yet" check (`thread_local!` makes that check
    //! for every value that needs a drop). What a destructor must do (give a thread's
    //! blocks back when it exits) is done by a second thread-local, [`ExitGuard`], entered
    //! on the slow path: a thread holds blocks only after a slow path ran (see `limit`).

    use super::{class_layout, BATCH, CLASSES, LOCAL_MAX, SHARED_MAX_BYTES};
    use std::cell::UnsafeCell;
    use std::ptr::{self, NonNull};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::Mutex;

    /// The first word of a free block: the next free block (null: the end of the list).
    struct FreeBlock {
        next: *mut FreeBlock,
    }

    /// A chain of free blocks of one class, owned by whoever holds the value.
    struct Chain {
        head: *mut FreeBlock,
        len: usize,
    }

    // SAFETY: a chain's blocks are free memory that nothing else points to; whoever holds
    // the `Chain` owns all of them, on any thread.
    unsafe impl Send for Chain {}

    impl Chain {
        const EMPTY: Chain = Chain {
            head: ptr::null_mut(),
            len: 0,
        };

        /// The chain of `block` alone (a free block, whose link this overwrites).
        fn of_one(block: NonNull<FreeBlock>) -> Chain {
            let mut chain = Chain::EMPTY;
            // SAFETY: the block is free and the caller's to link (its contract).
            unsafe { chain.push(block) };
            chain
        }

        /// Put `block` at the head.
        ///
        /// # Safety
        /// `block` is a free block of this chain's class that nothing else points to; its
        /// first word is overwritten.
        #[inline]
        unsafe fn push(&mut self, block: NonNull<FreeBlock>) {
            // SAFETY: the caller's contract.
            unsafe { (*block.as_ptr()).next = self.head };
            self.head = block.as_ptr();
            self.len += 1;
        }

        /// Take the head block, if any (it is the taker's, its link no longer meaningful).
        #[inline]
        fn pop(&mut self) -> Option<NonNull<FreeBlock>> {
            let block = NonNull::new(self.head)?;
            // SAFETY: a chain's blocks are free blocks only it points to (see `Chain`), so
            // the head's link is ours to read.
            self.head = unsafe { (*block.as_ptr()).next };
            self.len -= 1;
            Some(block)
        }

        /// Back to the global allocator, every block.
        fn free(self, class: usize) {
            let mut next = self.head;
            while let Some(block) = NonNull::new(next) {
                // SAFETY: every block of the chain is a free block of `class`, allocated with
                // `class_layout(class)` (`allocate`), that only this chain points to; its
                // link is read before it is freed.
                unsafe {
                    next = (*block.as_ptr()).next;
                    std::alloc::dealloc(block.as_ptr().cast(), class_layout(class));
                }
            }
        }
    }

    /// The shared pool: per class, chains of [`BATCH`] free blocks.
    static SHARED: [Mutex<Vec<Chain>>; CLASSES] = [const { Mutex::new(Vec::new()) }; CLASSES];
    /// Chains in `SHARED[class]`, read without its lock: a thread whose list is empty
    /// while the pool is too asks the allocator without locking (a burst bigger than the
    /// pool would otherwise take the lock once per task). Written under the lock.
    static SHARED_CHAINS: [AtomicUsize; CLASSES] = [const { AtomicUsize::new(0) }; CLASSES];
    /// Bytes in the shared pool over all classes (at most [`SHARED_MAX_BYTES`]).
    static SHARED_BYTES: AtomicUsize = AtomicUsize::new(0);

    fn shared(class: usize) -> std::sync::MutexGuard<'static, Vec<Chain>> {
        // A panic while the lock was held left the list itself intact (push / pop only).
        SHARED[class].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A chain of `class` from the shared pool, if it has one.
    fn take_chain(class: usize) -> Option<Chain> {
        if SHARED_CHAINS[class].load(Relaxed) == 0 {
            return None;
        }
        let mut shared = shared(class);
        let chain = shared.pop()?;
        SHARED_CHAINS[class].store(shared.len(), Relaxed);
        drop(shared);
        SHARED_BYTES.fetch_sub(chain.len * class_layout(class).size(), Relaxed);
        Some(chain)
    }

    /// Hand `chain` (of `class`) to the shared pool, or back to the allocator if the pool
    /// is full.
    fn give_chain(class: usize, chain: Chain) {
        let bytes = chain.len * class_layout(class).size();
        let reserved = SHARED_BYTES
            .fetch_update(Relaxed, Relaxed, |held| {
                (held + bytes <= SHARED_MAX_BYTES).then_some(held + bytes)
            })
            .is_ok();
        if !reserved {
            chain.free(class);
            return;
        }
        let mut shared = shared(class);
        shared.push(chain);
        SHARED_CHAINS[class].store(shared.len(), Relaxed);
    }

    /// A thread's free blocks.
    struct Local {
        lists: [Chain; CLASSES],
        /// How many blocks a list may hold before `give` takes the slow path: 0 until the
        /// thread's [`ExitGuard`] is entered (so the first `give` enters it), [`LOCAL_MAX`]
        /// after, 0 again once the guard has run (the thread is exiting: blocks go straight
        /// back to the allocator).
        limit: usize,
        /// The thread's [`ExitGuard`] has run (or could not be entered): keep nothing.
        closed: bool,
    }

    std::thread_local! {
        // No destructor (`Chain` and `Local` need no drop): see the module comment.
        static LOCAL: UnsafeCell<Local> = const {
            UnsafeCell::new(Local {
                lists: [const { Chain::EMPTY }; CLASSES],
                limit: 0,
                closed: false,
            })
        };
        static EXIT_GUARD: ExitGuard = const { ExitGuard };
    }

    /// Gives the thread's free blocks back to the allocator when the thread exits, and
    /// closes its lists (a block freed by a later thread-local destructor goes straight back).
    struct ExitGuard;

    impl Drop for ExitGuard {
        fn drop(&mut self) {
            // `try_with`: never panic in a thread-local destructor (where thread-locals sit
            // behind an OS key, `LOCAL` may be gone already; its blocks then stay with it).
            let _ = LOCAL.try_with(|local| {
                let local = local.get();
                // SAFETY: this thread's lists, touched by nobody else; each borrow ends
                // before the blocks are freed (no `&mut` is held across a call out).
                unsafe {
                    (*local).limit = 0;
                    (*local).closed = true;
                }
                for class in 0..CLASSES {
                    // SAFETY: as above.
                    let chain =
                        unsafe { std::mem::replace(&mut (*local).lists[class], Chain::EMPTY) };
                    chain.free(class);
                }
            });
        }
    }

    /// A free block of `class`: from this thread's list, else a batch from the shared pool.
    #[inline]
    pub(super) fn take(class: usize) -> Option<NonNull<u8>> {
        // `try_with`: where thread-locals are native (Linux, macOS, Windows) a thread-local
        // without a destructor is never gone and this is one address computation; where
        // they sit behind an OS key it may be gone while other thread-local destructors run,
        // and the caller then asks the allocator.
        LOCAL
            .try_with(|local| {
                // SAFETY: this thread's lists; no other reference to them lives (every
                // function of this module ends its borrows before calling anything else).
                let popped = unsafe { (*local.get()).lists[class].pop() };
                match popped {
                    Some(block) => Some(block.cast()),
                    None => take_slow(local, class),
                }
            })
            .ok()
            .flatten()
    }

    /// Ask the CPU to fetch, for writing, the cache lines of the first `len` bytes of the
    /// block the next `take` of `class` on this thread returns (if this thread's list has
    /// one).
    #[inline]
    pub(super) fn prefetch_next(class: usize, len: usize) {
        let _ = LOCAL.try_with(|local| {
            // SAFETY: this thread's lists (see `take`); the head is only read.
            let head = unsafe { (*local.get()).lists[class].head };
            if !head.is_null() {
                super::prefetch::for_write(head.cast(), len);
            }
        });
    }

    /// `take` with this thread's list of `class` empty: a batch from the shared pool, or
    /// `None` (the caller asks the allocator).
    #[cold]
    fn take_slow(local: &UnsafeCell<Local>, class: usize) -> Option<NonNull<u8>> {
        if !open(local) {
            return None;
        }
        let mut chain = take_chain(class)?;
        let block = chain.pop()?;
        // SAFETY: this thread's lists (see `take`), whose list of `class` is empty (the one
        // caller, `take`, found it so): replacing it with the rest of the chain, whose
        // blocks are ours now, loses nothing.
        unsafe { (*local.get()).lists[class] = chain };
        Some(block.cast())
    }

    /// `block` (of `class`) is free: keep it on this thread, handing a batch on when the
    /// list is full.
    #[inline]
    pub(super) fn give(class: usize, block: NonNull<u8>) {
        let block = block.cast::<FreeBlock>();
        // `try_with` as in `take`: where the lists are gone the block goes straight back.
        let kept = LOCAL.try_with(|local| {
            // SAFETY: this thread's lists (see `take`); `block` is a free block of `class`
            // and ours (the caller's contract), so linking it in is ours to do.
            unsafe {
                let local_ptr = local.get();
                let list = &mut (*local_ptr).lists[class];
                if list.len < (*local_ptr).limit {
                    list.push(block);
                    return;
                }
            }
            give_slow(local, class, block);
        });
        if kept.is_err() {
            Chain::of_one(block).free(class);
        }
    }

    /// `give` with this thread's list of `class` at its limit: enter the exit guard (the
    /// thread's first `give`), hand a batch to the shared pool (a full list), or free the
    /// block at once (the thread is exiting).
    #[cold]
    fn give_slow(local: &UnsafeCell<Local>, class: usize, block: NonNull<FreeBlock>) {
        if !open(local) {
            Chain::of_one(block).free(class);
            return;
        }
        // SAFETY: this thread's lists (see `take`); the blocks walked are free blocks of this
        // list, only it points to them, and the borrow ends before the shared pool is locked.
        let batch = unsafe {
            let list = &mut (*local.get()).lists[class];
            let batch = if list.len >= LOCAL_MAX {
                // The first BATCH blocks go: cut the list after the BATCH-th.
                let head = list.head;
                let mut last = head;
                for _ in 1..BATCH {
                    last = (*last).next;
                }
                list.head = (*last).next;
                list.len -= BATCH;
                (*last).next = ptr::null_mut();
                Some(Chain { head, len: BATCH })
            } else {
                None
            };
            list.push(block);
            batch
        };
        if let Some(batch) = batch {
            give_chain(class, batch);
        }
    }

    /// Make sure this thread's blocks go back when it exits (its [`ExitGuard`] entered) and
    /// say whether the thread may keep blocks: false once the guard has run (the thread is
    /// exiting; a thread-local destructor freed a task) or could not be entered.
    fn open(local: &UnsafeCell<Local>) -> bool {
        // SAFETY: this thread's lists (see `take`); plain fields, no borrow held across the
        // guard's entry (which may run nothing of ours but registers a destructor).
        unsafe {
            if (*local.get()).closed {
                return false;
            }
            if (*local.get()).limit != 0 {
                return true;
            }
        }
        let entered = EXIT_GUARD.try_with(|_| ()).is_ok();
        // SAFETY: as above.
        unsafe {
            if entered {
                (*local.get()).limit = LOCAL_MAX;
            } else {
                (*local.get()).closed = true;
            }
        }
        entered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_block_is_reused_by_the_same_thread() {
        let layout = Layout::from_size_align(100, 8).unwrap();
        let first = allocate(layout);
        // SAFETY: from `allocate(layout)`, unused afterwards.
        unsafe { release(first, layout) };
        let second = allocate(layout);
        assert_eq!(first, second);
        // SAFETY: as above.
        unsafe { release(second, layout) };
    }

    #[test]
    fn a_prefetch_changes_nothing_the_next_allocation_sees() {
        let layout = Layout::from_size_align(200, 8).unwrap();
        // An empty list (a fresh thread's) and a list with blocks: neither is touched.
        std::thread::spawn(move || prefetch_next(layout))
            .join()
            .unwrap();
        let blocks: Vec<NonNull<u8>> = (0..3).map(|_| allocate(layout)).collect();
        for &block in blocks.iter().rev() {
            // SAFETY: from `allocate(layout)`, unused afterwards.
            unsafe { release(block, layout) };
        }
        // The list is now blocks[0], blocks[1], blocks[2] (the last freed is taken first).
        prefetch_next(layout);
        let first = allocate(layout);
        prefetch_next(layout);
        let second = allocate(layout);
        prefetch_next(layout);
        let third = allocate(layout);
        assert_eq!([first, second, third], [blocks[0], blocks[1], blocks[2]]);
        // A layout the pool does not serve is no error either.
        prefetch_next(Layout::from_size_align(MAX_POOLED * 2, 8).unwrap());
        for block in [first, second, third] {
            // SAFETY: each from `allocate(layout)` and not freed since, unused afterwards.
            unsafe { release(block, layout) };
        }
    }

    #[test]
    fn blocks_freed_on_one_thread_come_back_to_another_in_batches() {
        // The largest class, which no task of the other unit tests running in parallel uses
        // (they could take the batch first).
        let layout = Layout::from_size_align(MAX_POOLED - 8, 16).unwrap();
        // Enough frees on the freeing thread to push at least one batch to the shared pool.
        struct Blocks(Vec<NonNull<u8>>);
        // SAFETY: free blocks, owned by whoever holds them.
        unsafe impl Send for Blocks {}
        let freed = Blocks((0..LOCAL_MAX + BATCH).map(|_| allocate(layout)).collect());
        let blocks: Vec<usize> = freed
            .0
            .iter()
            .map(|block| block.as_ptr() as usize)
            .collect();
        std::thread::spawn(move || {
            let freed = freed;
            for block in freed.0 {
                // SAFETY: each from `allocate(layout)`, freed once, unused afterwards.
                unsafe { release(block, layout) };
            }
        })
        .join()
        .unwrap();
        // This thread's list of the class is empty; its next block comes from a batch the
        // other thread handed on (or, once that thread exited, from the allocator: its own
        // leftovers were freed, the shared batches stayed).
        let again = allocate(layout);
        assert!(
            blocks.contains(&(again.as_ptr() as usize)),
            "a block handed on by the freeing thread is reused"
        );
        // SAFETY: from `allocate(layout)`, unused afterwards.
        unsafe { release(again, layout) };
    }

    #[test]
    fn a_threads_free_blocks_go_back_to_the_allocator_when_it_exits() {
        // Class 14, which no other test of this module uses. Under Miri (CI) a block left
        // in the exited thread's list, which nothing can reach any more, is reported as a
        // leak; everywhere, the thread's blocks are freed by its exit guard, not reused.
        let layout = Layout::from_size_align(MAX_POOLED - 72, 16).unwrap();
        assert_eq!(class_of(layout), Some(14));
        std::thread::spawn(move || {
            let blocks: Vec<_> = (0..3).map(|_| allocate(layout)).collect();
            for block in blocks {
                // SAFETY: each from `allocate(layout)`, freed once, unused afterwards.
                unsafe { release(block, layout) };
            }
            // Kept by this thread until it exits.
            let again = allocate(layout);
            // SAFETY: as above.
            unsafe { release(again, layout) };
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_block_freed_after_the_threads_exit_guard_goes_straight_back() {
        // Class 13, which no other test of this module uses.
        let layout = Layout::from_size_align(MAX_POOLED - 136, 16).unwrap();
        assert_eq!(class_of(layout), Some(13));
        /// Frees, from a thread-local destructor, a block whose first word holds what a
        /// task's state word would: not a free list's link.
        struct LateFree(Option<(NonNull<u8>, Layout)>);
        impl Drop for LateFree {
            fn drop(&mut self) {
                if let Some((block, layout)) = self.0.take() {
                    // SAFETY: from `allocate(layout)` (below), freed once, unused afterwards.
                    unsafe { release(block, layout) };
                }
            }
        }
        std::thread_local! {
            static LATE: std::cell::RefCell<LateFree> =
                const { std::cell::RefCell::new(LateFree(None)) };
        }
        std::thread::spawn(move || {
            // Registered before the exit guard (this thread's first `allocate` enters it),
            // so that destructors run in reverse order of registration (glibc's, on Linux)
            // run it after the guard has closed this thread's lists.
            LATE.with(|_| ());
            let block = allocate(layout);
            // SAFETY: a fresh block of at least 8 bytes, aligned to 16, ours to write.
            unsafe { block.as_ptr().cast::<usize>().write(0xdead_0000) };
            LATE.with(|late| late.borrow_mut().0 = Some((block, layout)));
            let other = allocate(layout);
            // SAFETY: from `allocate(layout)`, freed once, unused afterwards.
            unsafe { release(other, layout) };
        })
        .join()
        .unwrap();
    }

    #[test]
    fn large_and_over_aligned_layouts_bypass_the_pool() {
        assert_eq!(
            class_of(Layout::from_size_align(MAX_POOLED + 1, 8).unwrap()),
            None
        );
        assert_eq!(class_of(Layout::from_size_align(64, 128).unwrap()), None);
        assert_eq!(class_of(Layout::from_size_align(64, 32).unwrap()), None);
        assert_eq!(class_of(Layout::from_size_align(64, 16).unwrap()), Some(0));
        assert_eq!(class_of(Layout::from_size_align(65, 8).unwrap()), Some(1));
        for layout in [
            Layout::from_size_align(MAX_POOLED * 2, 8).unwrap(),
            Layout::from_size_align(64, 128).unwrap(),
        ] {
            let block = allocate(layout);
            assert_eq!(block.as_ptr() as usize % layout.align(), 0);
            // SAFETY: from `allocate(layout)`, unused afterwards.
            unsafe { release(block, layout) };
        }
    }
}
