//! Giving freed heap back to the operating system.
//!
//! Opening a WebSocket costs transient memory (HTTP read buffers, the
//! handshake's request) that is freed once the upgrade is done, interleaved
//! with the small allocations a connection keeps. glibc's allocator keeps
//! such freed pages resident, so after a burst of connections the process
//! holds several KiB per connection it no longer uses. `malloc_trim` returns
//! whole free pages inside the heap to the system (glibc >= 2.8 does this for
//! the middle of the heap, not only its top).

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often to trim; cheap (it walks free lists), and only when idle enough
/// to matter is it noticeable at all.
const INTERVAL: Duration = Duration::from_secs(10);

pub async fn trim_periodically(shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => trim(),
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim() {
    // SAFETY: malloc_trim only releases memory the allocator considers free;
    // it takes no pointers and is thread-safe in glibc.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}

/// The allocator's view of the heap.
pub struct Heap {
    /// Allocated and not yet freed.
    pub in_use: u64,
    /// Freed, but still held by the allocator (in its arenas).
    pub free: u64,
}

/// What glibc's allocator holds, over all its arenas. It walks the free
/// lists under each arena's lock: fine for a scrape, not for a hot path.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn heap() -> Option<Heap> {
    // SAFETY: mallinfo2 takes nothing and returns a plain struct by value;
    // it locks each arena itself.
    let info = unsafe { libc::mallinfo2() };
    Some(Heap {
        // Chunks in use in the arenas, plus blocks mmapped on their own.
        in_use: (info.uordblks + info.hblkhd) as u64,
        free: info.fordblks as u64,
    })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn heap() -> Option<Heap> {
    None
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    #[test]
    fn the_heap_count_follows_an_allocation_and_its_release() {
        const BIG: usize = 64 << 20;
        let before = heap().unwrap().in_use;
        let block = vec![1u8; BIG];
        let during = heap().unwrap().in_use;
        assert!(during >= before + BIG as u64, "{before} -> {during}");
        drop(std::hint::black_box(block));
        let after = heap().unwrap().in_use;
        assert!(after + (BIG as u64) / 2 < during, "{during} -> {after}");
    }
}
