//! A global allocator that counts live bytes, so the harness can measure each case's peak.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Live bytes past which an allocation is refused, so a reader that asks for terabytes ends the
/// run with Rust's "memory allocation of N bytes failed" instead of taking the machine down.
pub const HARD_CAP: usize = 3 << 30;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// [`System`], counting the bytes it hands out.
pub struct Counting;

fn take(bytes: usize) -> bool {
    let live = LIVE.fetch_add(bytes, Relaxed) + bytes;
    if live > HARD_CAP {
        LIVE.fetch_sub(bytes, Relaxed);
        return false;
    }
    PEAK.fetch_max(live, Relaxed);
    true
}

fn give(bytes: usize) {
    LIVE.fetch_sub(bytes, Relaxed);
}

// SAFETY: every call is forwarded to `System` with the caller's arguments; the counters only
// decide whether to forward an allocation at all.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !take(layout.size()) {
            return null_mut();
        }
        let ptr = unsafe { System.alloc(layout) };
        if ptr.is_null() {
            give(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !take(layout.size()) {
            return null_mut();
        }
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if ptr.is_null() {
            give(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        give(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old_size = layout.size();
        if new_size > old_size && !take(new_size - old_size) {
            return null_mut();
        }
        let new_ptr = unsafe { System.realloc(ptr, layout, new_size) };
        match (new_ptr.is_null(), new_size > old_size) {
            (true, true) => give(new_size - old_size),
            (false, false) => give(old_size - new_size),
            _ => {}
        }
        new_ptr
    }
}

/// Starts a measurement: the peak restarts from the bytes live now, which are returned.
pub fn start_measuring() -> usize {
    let live = LIVE.load(Relaxed);
    PEAK.store(live, Relaxed);
    live
}

/// The most bytes live at once since [`start_measuring`] returned `baseline`, above it.
pub fn peak_above(baseline: usize) -> usize {
    PEAK.load(Relaxed).saturating_sub(baseline)
}
