//! # Soporte
//!
//! A real-time support chat: a helpdesk's customers talk live with its agents
//! about a ticket, over WebSockets, with durable history.
//!
//! ## Layout
//! Layers, from the bottom; each uses only those below it (the tests of `layers.rs` check it):
//! - [`domain`]: the rules, with no I/O: access, a ticket's life, what a
//!   message does, uploads, canned responses, stats, the texts people read.
//! - [`store`]: the [`store::Store`] interface; every write once
//!   ([`store::writes`]) over the rows of SQLite (one writer thread, group
//!   commit) or PostgreSQL (the same, for several nodes on one database).
//! - [`auth`] (tokens into an [`auth::Identity`]), [`clock`], [`config`], [`hub`] (rooms
//!   and non-blocking fan-out), [`bus`] (how events reach the hubs),
//!   [`presence`], [`cluster`] (Redis: the bus to every node, presence, the
//!   recent-history cache, shared budgets), [`rate`], [`slots`], [`files`]
//!   (content checks, storage), [`metrics`], [`memory`].
//! - [`state`]: what every request and session shares.
//! - Services: [`chat`] (posting a message, the one path every message
//!   takes), [`team`] (agents as inboxes see them), [`uploads`] (grants),
//!   [`webhooks`] (subscriptions checked, the delivery worker),
//!   [`data_rights`] (a person's data exported or erased), [`lifecycle`]
//!   (idle resolved tickets closed), [`hours`] (business hours now).
//! - [`edge`]: what REST and WebSocket endpoints share (errors, extractors,
//!   the accept loop, CORS, the request log).
//! - [`http`] (REST resources) and [`ws`] (the ticket and inbox sockets),
//!   side by side, never using each other.
//! - [`app`]: builds the state, routes, serves, shuts down; [`demo`].
//!
//! One message, end to end: a `mensaje` frame is parsed in [`ws::session`],
//! checked by [`chat::post_text`], committed by the store's writer in a batch,
//! handed in commit order to [`bus::CommitFanout`], encoded once and queued by
//! the [`hub`] to every other connection of the ticket; the sender gets
//! `mensaje_confirmado` when its commit returns.

pub mod api_keys;
pub mod app;
pub mod auth;
pub mod bus;
pub mod chat;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod data_rights;
pub mod demo;
pub mod domain;
pub mod edge;
pub mod edits;
pub mod email;
pub mod files;
pub mod hours;
pub mod http;
pub mod hub;
pub mod lifecycle;
pub mod mail;
pub mod memory;
pub mod metrics;
pub mod presence;
pub mod queue;
pub mod rate;
pub mod slots;
pub mod state;
pub mod store;
pub mod team;
pub mod uploads;
pub mod webhooks;
pub mod ws;

#[cfg(test)]
mod layers;

pub use app::Application;
pub use config::Config;
pub use state::AppState;
