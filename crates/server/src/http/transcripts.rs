//! `POST /api/soporte/tickets/{id}/transcripcion/`: the ticket's
//! conversation emailed to its customer (who may ask, and where it goes:
//! `domain::email::transcript_to`). Queued with the request (202); the
//! email worker sends it.

use crate::domain::email::EMAIL_OFF;
use crate::edge::error::ApiError;
use crate::edge::extract::{Caller, JsonBody};
use crate::edge::routes;
use crate::http::tickets::visible_ticket;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use soporte_protocol::rest::{TranscriptQueued, TranscriptRequest};

pub fn router() -> Router<AppState> {
    routes(
        Router::new(),
        "/api/soporte/tickets/{id}/transcripcion/",
        post(request),
    )
}

async fn request(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TranscriptRequest>,
) -> Result<(StatusCode, Json<TranscriptQueued>), ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    if state.config.email.is_none() {
        return Err(ApiError::Conflict(EMAIL_OFF.into()));
    }
    let now = state.config.clock.now();
    let to = state
        .store
        .request_transcript(ticket.id, caller.user, body.email, now)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(TranscriptQueued { to })))
}
