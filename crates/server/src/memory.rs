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
    extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: malloc_trim only releases memory the allocator considers free;
    // it takes no pointers and is thread-safe in glibc.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}
