//! Connection slots: how many sockets one user, and the whole server, may hold.
//! A slot is taken before the upgrade and given back when its guard drops.
//!
//! The slots also carry each user's message budget on this node: a token
//! bucket shared by all of the user's sockets, so opening more sockets does
//! not multiply how fast one user may write. It lives as long as the user
//! holds a slot.

use super::rate::TokenBucket;
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
    /// Messages per second one user may send over all their sockets (0: no limit).
    user_rate: u32,
    held: Arc<Mutex<Held>>,
}

#[derive(Default)]
struct Held {
    total: u32,
    per_user: HashMap<UserId, UserSlots>,
}

struct UserSlots {
    count: u32,
    messages: TokenBucket,
}

/// One held slot; dropping it frees it.
pub struct Slot {
    user: UserId,
    held: Arc<Mutex<Held>>,
}

impl Slots {
    /// `0` turns a limit off.
    pub fn new(max_per_user: u32, max_total: u32) -> Slots {
        Slots::with_user_rate(max_per_user, max_total, 0)
    }

    /// Also limits each user to `user_rate` messages per second (burst of
    /// three seconds' worth) over all their sockets; `0` turns it off.
    pub fn with_user_rate(max_per_user: u32, max_total: u32, user_rate: u32) -> Slots {
        Slots {
            max_per_user,
            max_total,
            user_rate,
            held: Arc::default(),
        }
    }

    pub fn acquire(&self, user: UserId) -> Result<Slot, SlotRefused> {
        let mut held = self.held.lock().expect("slots lock");
        if self.max_total > 0 && held.total >= self.max_total {
            return Err(SlotRefused::ServerFull);
        }
        let mine = held.per_user.get(&user).map_or(0, |u| u.count);
        if self.max_per_user > 0 && mine >= self.max_per_user {
            return Err(SlotRefused::UserLimit);
        }
        held.total += 1;
        let rate = self.user_rate;
        held.per_user
            .entry(user)
            .or_insert_with(|| UserSlots {
                count: 0,
                messages: TokenBucket::new(rate, rate.saturating_mul(3)),
            })
            .count += 1;
        Ok(Slot {
            user,
            held: self.held.clone(),
        })
    }
}

impl Slot {
    /// Takes one message from the user's budget, shared by all their
    /// sockets; false when the user is sending too fast.
    pub fn try_take_message(&self) -> bool {
        let mut held = self.held.lock().expect("slots lock");
        held.per_user
            .get_mut(&self.user)
            .is_none_or(|user| user.messages.try_take())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.held.lock().expect("slots lock");
        held.total -= 1;
        if let Some(user) = held.per_user.get_mut(&self.user) {
            user.count -= 1;
            if user.count == 0 {
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
    fn the_message_budget_is_shared_by_a_users_sockets() {
        let slots = Slots::with_user_rate(0, 0, 2);
        let a = slots.acquire(1).unwrap();
        let b = slots.acquire(1).unwrap();
        let other = slots.acquire(2).unwrap();
        // A burst of three seconds' worth (6) for the user, whichever socket.
        let taken = (0..4).filter(|_| a.try_take_message()).count()
            + (0..4).filter(|_| b.try_take_message()).count();
        assert_eq!(taken, 6);
        assert!(
            other.try_take_message(),
            "another user has their own budget"
        );
        assert!(Slots::new(0, 0).acquire(1).unwrap().try_take_message());
    }

    #[test]
    fn the_server_total_is_enforced() {
        let slots = Slots::new(0, 1);
        let _a = slots.acquire(1).unwrap();
        assert_eq!(slots.acquire(2).err(), Some(SlotRefused::ServerFull));
    }
}
