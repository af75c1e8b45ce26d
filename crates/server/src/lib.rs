//! # Soporte
//!
//! A real-time support chat: a helpdesk's customers talk live with its agents
//! about a ticket, over WebSockets, with durable history.
//!
//! ## Layout
//! - [`config`]: flags with environment fallbacks, validated once.
//! - [`auth`]: token verification into an [`auth::Identity`]; development tokens.
//! - [`access`]: who may see and act on which ticket (pure rules).
//! - [`store`]: the [`store::Store`] interface and its implementations:
//!   SQLite (one writer thread, group commit, gapless per-ticket `seq`) and
//!   PostgreSQL (the same, for several nodes sharing one database).
//! - [`hub`]: rooms (who watches which ticket) and non-blocking fan-out.
//! - [`bus`]: how events reach the hubs: in-process on one node.
//! - [`presence`]: who is connected where, across the deployment.
//! - [`cluster`]: cluster mode on Redis: the bus to every node (with gap fill
//!   from the database), presence with expiry, the recent-history cache.
//! - [`chat`]: posting a message, the one path every message takes.
//! - [`rate`]: token buckets, and each user's message budget, spent by their
//!   sockets and REST `sync/` alike.
//! - [`files`]: attachments: content checks, safe names, local storage.
//! - [`ws`]: the WebSocket endpoint: admission before the upgrade, then one
//!   session task per connection.
//! - [`http`]: REST resources (tickets, chat, operations), one router each.
//! - [`app`]: builds the state, serves, shuts down cleanly.
//! - [`demo`]: `serve --demo` seed data and links.
//! - [`metrics`]: counters rendered at `/metrics`.
//! - [`memory`]: gives freed heap back to the system after connection bursts.
//!
//! One message, end to end: a `mensaje` frame is parsed in [`ws::session`],
//! checked by [`chat::post_text`], committed by the store's writer in a batch,
//! handed in commit order to [`bus::CommitFanout`], encoded once and queued by
//! the [`hub`] to every other connection of the ticket; the sender gets
//! `mensaje_confirmado` when its commit returns.

pub mod app;
pub mod auth;
pub mod bus;
pub mod chat;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod domain;
pub mod files;
pub mod http;
pub mod hub;
pub mod memory;
pub mod metrics;
pub mod presence;
pub mod rate;
pub mod store;
pub mod ws;

pub use app::{AppState, Application};
pub use config::Config;
