//! Rooms: which connections watch which ticket, and fan-out to them.
//!
//! An event is encoded once by whoever produces it; the hub only clones the
//! shared bytes into each member's bounded outgoing queue ([`outbox`](mod@outbox)), so
//! nothing here ever waits on a reader. A member whose queue is full cannot
//! keep up: it is evicted (its connection closes with a reason and the client
//! resumes with `since`), rather than letting the server buffer without end.
//!
//! Rooms are spread over a few shards, each behind its own mutex, so fan-out
//! on one ticket does not hold up another. The locks are held only to walk a
//! member list, never across an `.await`.

use crate::domain::access::TicketAccess;
use crate::metrics::METRICS;
use axum::extract::ws::Utf8Bytes;
use soporte_protocol::{CloseReason, Participant, Role, Seq, Ticket, TicketId, Timestamp, UserId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A connection's id, unique in this process.
pub type ConnId = u64;

pub mod inbox;
pub mod outbox;

pub use outbox::{outbox, Next, Outbox, OutboxReader};

const SHARDS: usize = 16;
/// Counters of offered events (see [`Mark`]): many, so that traffic on other
/// tickets (every arrival announces itself) seldom moves a ticket's count.
const MARKS: usize = 4096;

/// What a connection's outgoing queue carries, shared by every recipient.
#[derive(Debug)]
pub enum Encoded {
    Frame {
        /// `seq` of the message this frame carries, so a connection can drop
        /// what it already sent from history.
        seq: Option<Seq>,
        text: Utf8Bytes,
    },
    /// Close the connection, after what was queued before (a transfer takes
    /// the ticket away from its previous agent, for instance).
    Close(CloseReason),
}

/// One pointer per queue slot keeps each queue's memory small (the queue
/// allocates its slots in blocks).
pub type Outbound = Arc<Encoded>;

/// Who in a room an event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Everyone,
    /// Agents and supervisors only (internal notes, staff signals).
    StaffOnly,
}

/// Who in a room does not get an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Except {
    Nobody,
    /// The connection that caused it (it gets its own answer).
    Conn(ConnId),
    /// Every connection of this user (their own typing, for instance).
    User(UserId),
}

/// One encoded event for one ticket's room.
#[derive(Debug, Clone)]
pub struct TicketEvent {
    pub ticket: TicketId,
    pub seq: Option<Seq>,
    pub audience: Audience,
    pub except: Except,
    pub text: Utf8Bytes,
}

/// A connection as its room knows it.
pub struct Member {
    pub conn: ConnId,
    pub user: Participant,
    /// Its outgoing queue; a member that falls behind is evicted by it.
    pub outbox: Outbox,
}

struct Room {
    /// The ticket as last seen by this node: who owns it, who is assigned.
    /// Sessions check every action against it.
    ticket: TicketAccess,
    /// Highest `seq` delivered to this room, for in-order delivery in
    /// cluster mode ([`Hub::deliver_in_order`]).
    delivered: Seq,
    members: Vec<Member>,
}

/// The outcome of [`Hub::deliver_in_order`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InOrder {
    /// Delivered (or nobody here watches the ticket).
    Done,
    /// At or below what the room already has: dropped.
    Stale,
    /// Messages between `after` and this event's `seq` have not reached the
    /// room yet: nothing was delivered.
    Gap { after: Seq },
}

pub struct Hub {
    shards: Vec<Mutex<HashMap<TicketId, Room>>>,
    /// Events offered so far to the tickets of each slot, watched or not
    /// (see [`Mark`]).
    offered: Vec<AtomicU64>,
}

/// How many events a ticket's slot (a ticket and those that share its
/// counter) had been offered at some instant.
///
/// A connection may read its greeting before it joins its room if nothing
/// reached the slot in between ([`Hub::read_is_whole`]): an event goes out
/// after its commit, so for a change committed after the read, either the
/// count moved (read again) or its event comes after the join, to the
/// connection's queue. Changes no event announces (a rating, say) are no
/// staler than they were in a greeting read after the join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    slot: usize,
    offered: u64,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            offered: (0..MARKS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Hub {
    fn shard_of(ticket: TicketId) -> usize {
        ticket.unsigned_abs() as usize % SHARDS
    }

    fn shard(&self, ticket: TicketId) -> std::sync::MutexGuard<'_, HashMap<TicketId, Room>> {
        self.shards[Self::shard_of(ticket)]
            .lock()
            .expect("hub shard lock")
    }

    fn slot_of(ticket: TicketId) -> usize {
        ticket.unsigned_abs() as usize % MARKS
    }

    /// `ticket`'s room is offered an event: counted before the room is looked
    /// up, so an event for a room not joined yet counts too.
    fn offer(&self, ticket: TicketId) -> std::sync::MutexGuard<'_, HashMap<TicketId, Room>> {
        self.offered[Self::slot_of(ticket)].fetch_add(1, Ordering::SeqCst);
        self.shard(ticket)
    }

    /// What `ticket`'s slot has been offered so far; take it before a read
    /// that [`quiet_since`](Self::quiet_since) is to vouch for.
    pub fn mark(&self, ticket: TicketId) -> Mark {
        let slot = Self::slot_of(ticket);
        Mark {
            slot,
            offered: self.offered[slot].load(Ordering::SeqCst),
        }
    }

    /// True when no event reached the slot since `mark`.
    pub fn quiet_since(&self, mark: Mark) -> bool {
        self.offered[mark.slot].load(Ordering::SeqCst) == mark.offered
    }

    /// Called after joining `ticket`'s room: true when a read of `ticket`
    /// made after `mark` still holds all the room will not deliver. No event
    /// reached the ticket since the mark, and the room does not count itself
    /// past the read: a room another connection created from a newer read
    /// drops events at or below its `delivered` as stale (cluster mode).
    pub fn read_is_whole(&self, mark: Mark, ticket: &Ticket) -> bool {
        self.quiet_since(mark)
            && self
                .shard(ticket.id)
                .get(&ticket.id)
                .is_some_and(|room| room.delivered <= ticket.last_seq)
    }

    /// Adds a member; true when it is the user's first connection to the ticket.
    pub fn join(&self, ticket: &Ticket, member: Member) -> bool {
        let mut shard = self.shard(ticket.id);
        let room = shard.entry(ticket.id).or_insert_with(|| Room {
            ticket: TicketAccess::from(ticket),
            // What was committed before the room existed, its members read
            // from history after joining.
            delivered: ticket.last_seq,
            // Most rooms hold one or two connections: grow from one.
            members: Vec::with_capacity(1),
        });
        let first = !room.members.iter().any(|m| m.user.id == member.user.id);
        room.members.push(member);
        first
    }

    /// Removes a member; true when it was the user's last connection to the ticket.
    pub fn leave(&self, ticket: TicketId, conn: ConnId) -> bool {
        let mut shard = self.shard(ticket);
        let Some(room) = shard.get_mut(&ticket) else {
            return false;
        };
        let Some(index) = room.members.iter().position(|m| m.conn == conn) else {
            return false;
        };
        let gone = room.members.swap_remove(index);
        let last = !room.members.iter().any(|m| m.user.id == gone.user.id);
        if room.members.is_empty() {
            shard.remove(&ticket);
        }
        last
    }

    /// Queues `event` for every member it is meant for. Never blocks.
    pub fn deliver(&self, event: &TicketEvent) {
        let shard = self.offer(event.ticket);
        if let Some(room) = shard.get(&event.ticket) {
            room.deliver(event);
        }
    }

    /// Delivers a message's event only in `seq` order: the next one after
    /// what the room has. Events from several nodes arrive in any order and
    /// Redis may drop some; the caller holds back what comes early and
    /// fills gaps from the database.
    pub fn deliver_in_order(&self, event: &TicketEvent) -> InOrder {
        let Some(seq) = event.seq else {
            self.deliver(event);
            return InOrder::Done;
        };
        let mut shard = self.offer(event.ticket);
        let Some(room) = shard.get_mut(&event.ticket) else {
            return InOrder::Done;
        };
        if seq <= room.delivered {
            return InOrder::Stale;
        }
        if seq > room.delivered + 1 {
            return InOrder::Gap {
                after: room.delivered,
            };
        }
        room.delivered = seq;
        room.deliver(event);
        InOrder::Done
    }

    /// The highest `seq` the ticket's room has, while someone watches it.
    pub fn delivered(&self, ticket: TicketId) -> Option<Seq> {
        self.shard(ticket).get(&ticket).map(|room| room.delivered)
    }

    /// Every watched ticket with the highest `seq` its room has.
    pub fn watched(&self) -> Vec<(TicketId, Seq)> {
        let mut watched = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock().expect("hub shard lock");
            watched.extend(shard.iter().map(|(id, room)| (*id, room.delivered)));
        }
        watched
    }

    /// Every (ticket, user) with a connection here, one entry per pair.
    pub fn present(&self) -> Vec<(TicketId, Participant)> {
        let mut present = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock().expect("hub shard lock");
            for (id, room) in shard.iter() {
                let mut seen: Vec<UserId> = Vec::new();
                for member in &room.members {
                    if !seen.contains(&member.user.id) {
                        seen.push(member.user.id);
                        present.push((*id, member.user.clone()));
                    }
                }
            }
        }
        present
    }

    /// Closes the sockets of agents the ticket now belongs to no longer (a
    /// transfer this node learnt of late, from the database).
    pub fn revoke_reassigned(&self, ticket: TicketId, close: CloseReason) {
        let shard = self.offer(ticket);
        let Some(room) = shard.get(&ticket) else {
            return;
        };
        let Some(agent) = room.ticket.agent else {
            return;
        };
        let close = Arc::new(Encoded::Close(close));
        for member in room
            .members
            .iter()
            .filter(|m| m.user.role == Role::Agent && m.user.id != agent)
        {
            member.outbox.offer(&close, member.conn);
        }
    }
}

impl Room {
    fn deliver(&self, event: &TicketEvent) {
        let room = self;
        let mut delivered = 0;
        let shared = Arc::new(Encoded::Frame {
            seq: event.seq,
            text: event.text.clone(),
        });
        for member in &room.members {
            let excluded = match event.except {
                Except::Nobody => false,
                Except::Conn(conn) => member.conn == conn,
                Except::User(user) => member.user.id == user,
            };
            if excluded || (event.audience == Audience::StaffOnly && !member.user.role.is_staff()) {
                continue;
            }
            if member.outbox.offer(&shared, member.conn) {
                delivered += 1;
            }
        }
        METRICS
            .events_delivered
            .fetch_add(delivered, Ordering::Relaxed);
    }
}

impl Hub {
    /// Closes every connection of `user` on `ticket` once it has sent what
    /// was queued before.
    pub fn revoke(&self, ticket: TicketId, user: UserId, close: CloseReason) {
        let shard = self.offer(ticket);
        let Some(room) = shard.get(&ticket) else {
            return;
        };
        let close = Arc::new(Encoded::Close(close));
        for member in room.members.iter().filter(|m| m.user.id == user) {
            member.outbox.offer(&close, member.conn);
        }
    }

    /// The ticket as this node last saw it, while someone watches it.
    pub fn ticket(&self, id: TicketId) -> Option<TicketAccess> {
        self.shard(id).get(&id).map(|room| room.ticket)
    }

    /// Records a change of the ticket (assignment, state) for later checks.
    pub fn update_ticket(&self, ticket: &Ticket) {
        if let Some(room) = self.offer(ticket.id).get_mut(&ticket.id) {
            room.ticket = TicketAccess::from(ticket);
        }
    }

    /// Users connected to the ticket now, one entry per user.
    pub fn online(&self, ticket: TicketId) -> Vec<Participant> {
        let shard = self.shard(ticket);
        let mut people: Vec<Participant> = Vec::new();
        if let Some(room) = shard.get(&ticket) {
            for member in &room.members {
                if !people.iter().any(|p| p.id == member.user.id) {
                    people.push(Participant {
                        online: true,
                        last_seen: Some(Timestamp::now()),
                        ..member.user.clone()
                    });
                }
            }
        }
        people
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(last_seq: Seq) -> Ticket {
        Ticket {
            id: 1,
            subject: "x".into(),
            state: soporte_protocol::TicketState::Open,
            customer: soporte_protocol::Person::user(5, "Ana", Role::Customer, None),
            agent: None,
            created: Timestamp::now(),
            updated: Timestamp::now(),
            last_seq,
            external_id: None,
            metadata: None,
            public_activity: None,
            resolved_at: None,
            rev: 0,
            csat: None,
        }
    }

    /// A mark stays quiet until an event reaches its ticket, whether or not
    /// anyone watches the ticket yet.
    #[test]
    fn a_mark_is_quiet_until_its_ticket_is_offered_an_event() {
        let hub = Hub::default();
        let mark = hub.mark(1);
        assert!(hub.quiet_since(mark));
        // Another ticket's traffic does not count, even in the same shard.
        hub.deliver(&TicketEvent {
            ticket: 1 + SHARDS as TicketId,
            ..event(1)
        });
        assert!(hub.quiet_since(mark));
        // Nobody watches ticket 1: the event is dropped, and still counted.
        hub.deliver(&event(1));
        assert!(!hub.quiet_since(mark));
        let mark = hub.mark(1);
        hub.revoke(1, 5, CloseReason::TICKET_GONE);
        assert!(!hub.quiet_since(mark));
        let mark = hub.mark(1);
        hub.update_ticket(&ticket(3));
        assert!(!hub.quiet_since(mark));
        let mark = hub.mark(1);
        assert_eq!(hub.deliver_in_order(&event(4)), InOrder::Done);
        assert!(!hub.quiet_since(mark));
    }

    /// A read older than the room it joins is not whole: in cluster mode
    /// the room would drop as stale the events between the two.
    #[test]
    fn a_read_older_than_its_room_is_not_whole() {
        let hub = Hub::default();
        let (outbox, _events) = outbox(4);
        let mark = hub.mark(1);
        // Another connection read message 11 and created the room.
        hub.join(&ticket(11), member(outbox));
        assert!(hub.quiet_since(mark));
        assert!(!hub.read_is_whole(mark, &ticket(10)));
        assert!(hub.read_is_whole(mark, &ticket(11)));
        // Nobody in the room yet: nothing to vouch for.
        assert!(!hub.read_is_whole(hub.mark(2), &Ticket { id: 2, ..ticket(0) }));
    }

    /// Connection 1 of customer 5.
    fn member(outbox: Outbox) -> Member {
        Member {
            conn: 1,
            user: Participant {
                id: 5,
                name: "Ana".into(),
                role: Role::Customer,
                avatar: None,
                online: true,
                last_seen: None,
            },
            outbox,
        }
    }

    fn event(seq: Seq) -> TicketEvent {
        TicketEvent {
            ticket: 1,
            seq: Some(seq),
            audience: Audience::Everyone,
            except: Except::Nobody,
            text: format!("m{seq}").into(),
        }
    }

    #[test]
    fn in_order_delivery_takes_the_next_seq_drops_the_old_and_reports_gaps() {
        let hub = Hub::default();
        let (outbox, mut rx) = outbox(16);
        hub.join(&ticket(3), member(outbox));
        assert_eq!(hub.deliver_in_order(&event(3)), InOrder::Stale);
        assert_eq!(hub.deliver_in_order(&event(5)), InOrder::Gap { after: 3 });
        assert_eq!(hub.deliver_in_order(&event(4)), InOrder::Done);
        assert_eq!(hub.deliver_in_order(&event(5)), InOrder::Done);
        assert_eq!(hub.delivered(1), Some(5));
        let got: Vec<String> = std::iter::from_fn(|| match rx.try_next() {
            Some(Next::Event(e)) => Some(e),
            _ => None,
        })
        .map(|e| match &*e {
            Encoded::Frame { text, .. } => text.to_string(),
            Encoded::Close(_) => "close".into(),
        })
        .collect();
        assert_eq!(got, ["m4", "m5"]);
        // Nobody watches ticket 2: nothing to order.
        assert_eq!(
            hub.deliver_in_order(&TicketEvent {
                ticket: 2,
                ..event(9)
            }),
            InOrder::Done
        );
    }
}
