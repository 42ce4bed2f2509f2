//! A counting global allocator with a per-input cap.
//!
//! Every binary that links this crate (the fuzz driver and its tests) allocates through
//! [`Counting`]: it counts the bytes live and the peak since the last [`reset_peak`], and while a
//! cap is armed ([`arm`]) an allocation that would take the live bytes past it is a failure: the
//! input being run is written to its crash file and the process aborts. Aborting is the only
//! choice: the standard library cannot unwind out of an allocation failure on stable, and
//! returning null would abort anyway, without saying which input did it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The system allocator, counted.
#[derive(Debug)]
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Live bytes allowed while armed (absolute, baseline included).
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);
static ARMED: AtomicBool = AtomicBool::new(false);

/// Live bytes now.
pub fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Sets the peak to the live bytes now, and returns them: the baseline of the next input.
pub fn reset_peak() -> usize {
    let now = LIVE.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// The most bytes live at once since the last [`reset_peak`].
pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// From now on an allocation taking the live bytes past `limit` is fatal (see the module docs).
pub fn arm(limit: usize) {
    LIMIT.store(limit, Ordering::Relaxed);
    ARMED.store(true, Ordering::SeqCst);
}

/// Allocations are counted but never fatal.
pub fn disarm() {
    ARMED.store(false, Ordering::SeqCst);
}

#[cold]
#[inline(never)]
fn over_limit(size: usize, live: usize) -> ! {
    // Allocations made while reporting must not come back here.
    disarm();
    crate::report_fatal(&format!(
        "an allocation of {size} bytes took live memory to {live} bytes, past the cap of {} bytes",
        LIMIT.load(Ordering::Relaxed)
    ));
}

fn count(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
    if live > LIMIT.load(Ordering::Relaxed) && ARMED.load(Ordering::Relaxed) {
        over_limit(size, live);
    }
}

// SAFETY (all four methods): every call is forwarded unchanged to the system allocator; the
// counters are plain atomics and never touch the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's contract is the one `System::alloc` requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            count(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
