//! # Soporte wire protocol
//!
//! The types every frame and REST body is made of, shared by the server, its
//! tests and the load generator. No I/O lives here.
//!
//! The wire keeps the Spanish field names of the seed's JavaScript client
//! (`tipo`, `mensaje`, `autor`, …); inside Rust the names are English and serde
//! maps them at the edge.
//!
//! ## Layout
//! - [`model`]: the values frames carry: messages, people, tickets, timestamps.
//! - [`client`]: frames a client sends, parsed once into [`ClientFrame`].
//! - [`close`]: why the server closes a socket, as a code clients switch on.
//! - [`server`]: frames the server sends, [`ServerFrame`].
//! - [`error`]: the `codigo` values of an `error` frame and their Spanish texts.
//! - [`rest`]: request and response bodies of the REST API.
//! - [`webhook`]: subscriptions, their delivery log, and the events posted.

pub mod client;
pub mod close;
pub mod error;
pub mod hours;
pub mod model;
pub mod rest;
pub mod server;
pub mod webhook;

pub use client::{ClientFrame, SendMessage};
pub use close::CloseReason;
pub use error::{ErrorCode, FrameError};
pub use model::*;
pub use server::ServerFrame;
