//! `/api/soporte/horario/`: the team's business hours. Everyone signed in
//! reads them (the widget says whether the team is in); supervisors and
//! service keys set them.

use crate::edge::error::ApiError;
use crate::edge::extract::{Actor, JsonBody};
use crate::edge::routes;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use soporte_protocol::hours::{BusinessHours, HoursStatus};

pub fn router() -> Router<AppState> {
    routes(
        Router::new(),
        "/api/soporte/horario/",
        get(show).put(replace).delete(remove),
    )
}

async fn show(State(state): State<AppState>, _actor: Actor) -> Result<Json<HoursStatus>, ApiError> {
    Ok(Json(crate::hours::status(&state).await?))
}

async fn replace(
    State(state): State<AppState>,
    actor: Actor,
    JsonBody(hours): JsonBody<BusinessHours>,
) -> Result<Json<HoursStatus>, ApiError> {
    actor.admin_only()?;
    Ok(Json(crate::hours::set(&state, Some(hours)).await?))
}

async fn remove(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<HoursStatus>, ApiError> {
    actor.admin_only()?;
    Ok(Json(crate::hours::set(&state, None).await?))
}
