//! The rules of the helpdesk, in one place and free of I/O: who may do what
//! to which ticket, how a ticket moves through its life, what a message does
//! to its ticket, when a customer rates it, what an upload must satisfy, the
//! texts people read when something is refused or recorded, and how stats
//! are counted.
//!
//! Each rule is a plain function of the state it judges (a ticket, a user, a
//! grant, rows of timestamps) that returns a decision or a [`Refusal`]. The
//! stores read that state inside their write transaction, ask the rule, and
//! write what it decided (`store::writes`); the edges (`ws`, `http`) ask the
//! same rules before they queue anything. Nothing here knows SQL, sockets or
//! HTTP, so every rule is tested on its own, table by table.

pub mod access;
pub mod canned;
pub mod csat;
pub mod edits;
pub mod email;
pub mod erasure;
pub mod hours;
pub mod integration;
pub mod messages;
pub mod queue;
pub mod refusal;
pub mod search;
pub mod stats;
pub mod tickets;
pub mod uploads;
pub mod user;
pub mod webhooks;

pub use refusal::Refusal;
pub use user::User;
