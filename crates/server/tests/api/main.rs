//! Integration tests: each starts the real server on a free port with its own
//! database and talks to it as clients do. One test binary for all of them.

mod agents;
mod auth;
mod cluster;
mod csat;
mod data_rights;
mod durability;
mod edits;
mod email;
mod faults;
mod files;
mod helpers;
mod hours;
mod integration;
mod ops;
mod postgres;
mod properties;
mod queue;
mod quotas;
mod rest_chat;
mod search;
mod security;
mod tickets;
mod transcripts;
mod webhooks;
mod websocket;
