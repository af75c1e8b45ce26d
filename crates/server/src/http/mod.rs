//! REST resources, one module per resource, each exposing `router()`,
//! merged here. What they share with the WebSocket endpoints (errors,
//! extractors, CORS, request logs) is in `edge`.

pub mod chat;
pub mod csat;
pub mod files;
pub mod hours;
pub mod me;
pub mod messages;
pub mod ops;
pub mod queue;
pub mod search;
pub mod team;
pub mod tickets;
pub mod transcripts;
pub mod users;
pub mod web;
pub mod webhooks;

use crate::state::AppState;
use axum::Router;

/// The REST resources and the web pages; `/metrics` among them unless it has
/// its own listener. `widget_ancestors`: who may frame the widget's panel.
pub fn router(
    max_file_size: u64,
    with_metrics: bool,
    widget_ancestors: String,
) -> Router<AppState> {
    Router::new()
        .merge(tickets::router())
        .merge(chat::router())
        .merge(messages::router())
        .merge(csat::router())
        .merge(transcripts::router())
        .merge(me::router())
        .merge(queue::router())
        .merge(search::router())
        .merge(team::router())
        .merge(hours::router())
        .merge(files::router(max_file_size))
        .merge(ops::router(with_metrics))
        .merge(users::router())
        .merge(webhooks::router())
        .merge(web::router(widget_ancestors))
}
