//! Connections per client address, counted while they are plain HTTP: one
//! address holding thousands of idle TCP connections exhausted the process's
//! file handles. Upgraded WebSocket sockets leave this count and are bounded
//! by the per-user and server-wide slots (`slots`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// How many connections each address holds; `limit` 0 counts nothing.
#[derive(Clone)]
pub struct PerIp {
    limit: u32,
    held: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

/// One connection of an address; it is counted until this is dropped
/// (nothing is counted without a limit).
pub struct Held {
    ip: IpAddr,
    held: Option<Arc<Mutex<HashMap<IpAddr, u32>>>>,
}

impl PerIp {
    pub fn new(limit: u32) -> PerIp {
        PerIp {
            limit,
            held: Arc::default(),
        }
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
        let per_ip = PerIp::new(2);
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
        let off = PerIp::new(0);
        let held: Vec<Held> = (0..1000).map_while(|_| off.take(a)).collect();
        assert_eq!(held.len(), 1000);
        assert!(off.held.lock().unwrap().is_empty());
    }
}
