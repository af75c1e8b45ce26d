//! Connection slots: how many sockets one user, and the whole server, may hold.
//! A slot is taken before the upgrade and given back when its guard drops.
//! (How fast a user may write is not a slot's business: see `crate::rate`.)

use soporte_protocol::UserId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRefused {
    UserLimit,
    ServerFull,
}

pub struct Slots {
    max_per_user: u32,
    max_total: u32,
    held: Arc<Mutex<Held>>,
}

#[derive(Default)]
struct Held {
    total: u32,
    per_user: HashMap<UserId, u32>,
}

/// One held slot; dropping it frees it.
pub struct Slot {
    user: UserId,
    held: Arc<Mutex<Held>>,
}

impl Slots {
    /// `0` turns a limit off.
    pub fn new(max_per_user: u32, max_total: u32) -> Slots {
        Slots {
            max_per_user,
            max_total,
            held: Arc::default(),
        }
    }

    pub fn acquire(&self, user: UserId) -> Result<Slot, SlotRefused> {
        let mut held = self.held.lock().expect("slots lock");
        if self.max_total > 0 && held.total >= self.max_total {
            return Err(SlotRefused::ServerFull);
        }
        let mine = held.per_user.get(&user).copied().unwrap_or(0);
        if self.max_per_user > 0 && mine >= self.max_per_user {
            return Err(SlotRefused::UserLimit);
        }
        held.total += 1;
        *held.per_user.entry(user).or_insert(0) += 1;
        Ok(Slot {
            user,
            held: self.held.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.held.lock().expect("slots lock");
        held.total -= 1;
        if let Some(count) = held.per_user.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                held.per_user.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_may_hold_up_to_the_limit_and_slots_come_back() {
        let slots = Slots::new(2, 0);
        let a = slots.acquire(1).unwrap();
        let _b = slots.acquire(1).unwrap();
        assert_eq!(slots.acquire(1).err(), Some(SlotRefused::UserLimit));
        assert!(slots.acquire(2).is_ok());
        drop(a);
        assert!(slots.acquire(1).is_ok());
    }

    #[test]
    fn the_server_total_is_enforced() {
        let slots = Slots::new(0, 1);
        let _a = slots.acquire(1).unwrap();
        assert_eq!(slots.acquire(2).err(), Some(SlotRefused::ServerFull));
    }
}
