//! What one client address may hold and ask: connections, counted while
//! they are plain HTTP (one address holding thousands of idle TCP
//! connections exhausted the process's file handles; upgraded WebSocket
//! sockets leave this count and are bounded by the per-user and server-wide
//! slots, `slots`), and requests per second over all its connections.

use crate::rate::KeyedBuckets;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// An address's burst of requests: five seconds' worth (a page's assets and
/// a history full of thumbnails load at once).
const REQUEST_BURST_SECONDS: u32 = 5;

/// How many connections each address holds (`limit` 0 counts nothing) and
/// how fast it may send requests (0: no limit).
#[derive(Clone)]
pub struct PerIp {
    limit: u32,
    held: Arc<Mutex<HashMap<IpAddr, u32>>>,
    requests: Arc<KeyedBuckets<IpAddr>>,
}

/// One connection of an address; it is counted until this is dropped
/// (nothing is counted without a limit).
pub struct Held {
    ip: IpAddr,
    held: Option<Arc<Mutex<HashMap<IpAddr, u32>>>>,
}

impl PerIp {
    pub fn new(limit: u32, requests_per_second: u32) -> PerIp {
        let burst = requests_per_second.saturating_mul(REQUEST_BURST_SECONDS);
        PerIp {
            limit,
            held: Arc::default(),
            requests: Arc::new(KeyedBuckets::new(requests_per_second, burst)),
        }
    }

    /// Whether `ip` may send one more request now.
    pub fn request(&self, ip: IpAddr) -> bool {
        self.requests.try_take(ip)
    }

    /// A place for one more connection of `ip`, or `None` when it holds its
    /// limit already.
    pub fn take(&self, ip: IpAddr) -> Option<Held> {
        if self.limit == 0 {
            return Some(Held { ip, held: None });
        }
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let count = held.entry(ip).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Held {
            ip,
            held: Some(self.held.clone()),
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(held) = &self.held else {
            return;
        };
        let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = held.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_up_to_its_limit_and_places_come_back() {
        let per_ip = PerIp::new(2, 0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = per_ip.take(a).unwrap();
        let _second = per_ip.take(a).unwrap();
        assert!(per_ip.take(a).is_none());
        // Another address has its own.
        assert!(per_ip.take(b).is_some());
        drop(first);
        assert!(per_ip.take(a).is_some());
        // Forgotten once an address holds nothing.
        drop(_second);
        assert!(per_ip.held.lock().unwrap().is_empty());
        // 0: no limit, nothing counted.
        let off = PerIp::new(0, 0);
        let held: Vec<Held> = (0..1000).map_while(|_| off.take(a)).collect();
        assert_eq!(held.len(), 1000);
        assert!(off.held.lock().unwrap().is_empty());
    }

    #[test]
    fn an_address_sends_its_burst_then_waits_and_others_have_their_own() {
        let per_ip = PerIp::new(0, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let sent = (0..100).take_while(|_| per_ip.request(a)).count();
        assert_eq!(sent, 2 * REQUEST_BURST_SECONDS as usize);
        assert!(per_ip.request(b));
        let off = PerIp::new(0, 0);
        assert!((0..10_000).all(|_| off.request(a)));
    }
}
