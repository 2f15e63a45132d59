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
//! pool holds at most [`SHARED_MAX_BATCHES`] batches per class; beyond that blocks go back to
//! the allocator, as do a thread's blocks when it exits. Larger tasks (or over-aligned ones)
//! use the global allocator directly.
//!
//! Under loom every block comes from the global allocator: the models check the task
//! protocol, not this cache (a plain mutex hand-off).
// Under loom only `allocate` / `release` and the block count are used.
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
/// Batches the shared pool keeps per class: at most 4,096 blocks per class (4 MiB of the
/// largest class; about 34 MiB over all classes at worst), never trimmed. A thread keeps
/// at most `LOCAL_MAX` blocks per class (about 1.1 MiB at worst) until it exits.
pub(crate) const SHARED_MAX_BATCHES: usize = 64;

/// The class of `layout`, if it is pooled.
fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > CLASS_ALIGN || layout.size() > MAX_POOLED || layout.size() == 0 {
        return None;
    }
    Some((layout.size() - 1) / CLASS_BYTES)
}

/// The layout every block of `class` has.
fn class_layout(class: usize) -> Layout {
    // Cannot fail: at most MAX_POOLED bytes, aligned to a power of two.
    Layout::from_size_align((class + 1) * CLASS_BYTES, CLASS_ALIGN)
        .unwrap_or_else(|_| unreachable!("class layouts are valid"))
}

/// Memory for a task of `layout` (never null: allocation failure ends the process, as
/// `Box::new` does).
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

/// Give back memory from [`allocate`] with the same `layout`.
///
/// # Safety
/// `block` came from `allocate(layout)` and is not used afterwards.
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
mod pool {
    use super::{class_layout, BATCH, CLASSES, LOCAL_MAX, SHARED_MAX_BATCHES};
    use std::cell::RefCell;
    use std::ptr::NonNull;
    use std::sync::Mutex;

    /// A free block; owned by whoever holds the value.
    struct Block(NonNull<u8>);

    // SAFETY: a free block is plain memory that nothing else points to; whoever holds the
    // `Block` owns it, on any thread.
    unsafe impl Send for Block {}

    impl Block {
        /// Back to the global allocator.
        fn free(self, class: usize) {
            // SAFETY: every pooled block of `class` was allocated with `class_layout(class)`
            // (`allocate`), and holding the `Block` means nobody else uses it.
            unsafe { std::alloc::dealloc(self.0.as_ptr(), class_layout(class)) }
        }
    }

    /// The shared pool: per class, batches of free blocks.
    static SHARED: [Mutex<Vec<Vec<Block>>>; CLASSES] = [const { Mutex::new(Vec::new()) }; CLASSES];

    /// A thread's free blocks, per class; returned to the allocator when the thread exits.
    struct Local([Vec<Block>; CLASSES]);

    impl Drop for Local {
        fn drop(&mut self) {
            for (class, blocks) in self.0.iter_mut().enumerate() {
                for block in blocks.drain(..) {
                    block.free(class);
                }
            }
        }
    }

    thread_local! {
        static LOCAL: RefCell<Local> = const { RefCell::new(Local([const { Vec::new() }; CLASSES])) };
    }

    fn shared(class: usize) -> std::sync::MutexGuard<'static, Vec<Vec<Block>>> {
        // A panic while the lock was held left the list itself intact (push / pop only).
        SHARED[class].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A free block of `class`: from this thread's list, else a batch from the shared pool.
    pub(super) fn take(class: usize) -> Option<NonNull<u8>> {
        LOCAL
            .try_with(|local| {
                let mut local = local.try_borrow_mut().ok()?;
                let list = &mut local.0[class];
                if list.is_empty() {
                    *list = shared(class).pop()?;
                }
                list.pop().map(|block| block.0)
            })
            .ok()
            .flatten()
    }

    /// `block` (of `class`) is free: keep it on this thread, handing a batch on when the
    /// list is full.
    pub(super) fn give(class: usize, block: NonNull<u8>) {
        let leftover = LOCAL.try_with(|local| {
            let block = Block(block);
            // Borrowed already only if a block is freed from inside `take` or `give`, which
            // do not free tasks; a thread whose cache is gone (exiting) frees directly.
            let Ok(mut local) = local.try_borrow_mut() else {
                return Some(block);
            };
            let list = &mut local.0[class];
            if list.len() >= LOCAL_MAX {
                let batch = list.split_off(list.len() - BATCH);
                let mut shared = shared(class);
                if shared.len() < SHARED_MAX_BATCHES {
                    shared.push(batch);
                } else {
                    drop(shared);
                    batch.into_iter().for_each(|block| block.free(class));
                }
            }
            list.push(block);
            None
        });
        match leftover {
            Ok(None) => {}
            Ok(Some(block)) => block.free(class),
            // The thread's cache was destroyed (a task freed by a thread-local destructor).
            Err(_) => Block(block).free(class),
        }
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
