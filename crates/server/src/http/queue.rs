//! `GET /api/soporte/tickets/{id}/cola/`: where a ticket waiting for an
//! agent stands (its customer's widget asks while it waits).

use crate::edge::error::ApiError;
use crate::edge::extract::Caller;
use crate::edge::routes;
use crate::http::tickets::visible_ticket;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use soporte_protocol::rest::QueueStatus;

pub fn router() -> Router<AppState> {
    routes(Router::new(), "/api/soporte/tickets/{id}/cola/", get(show))
}

async fn show(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<QueueStatus>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    Ok(Json(crate::queue::status(&state, &ticket).await?))
}
