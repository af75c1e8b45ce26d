//! `POST /api/soporte/tickets/{id}/csat/`: the ticket's customer rates how
//! it was handled (the rules: `domain::csat`).

use crate::edge::error::ApiError;
use crate::edge::extract::{Caller, JsonBody};
use crate::edge::routes;
use crate::http::tickets::visible_ticket;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use soporte_protocol::rest::CsatRequest;
use soporte_protocol::Rating;

pub fn router() -> Router<AppState> {
    routes(Router::new(), "/api/soporte/tickets/{id}/csat/", post(rate))
}

async fn rate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CsatRequest>,
) -> Result<(StatusCode, Json<Rating>), ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let now = state.config.clock.now();
    let rated = state
        .store
        .rate_ticket(ticket.id, caller.user.clone(), body, state.config.csat, now)
        .await?;
    let rating = rated.csat.ok_or(ApiError::NotFound)?;
    Ok((StatusCode::CREATED, Json(rating)))
}
