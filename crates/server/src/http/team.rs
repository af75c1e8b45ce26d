//! The team's endpoints: agents and their availability, canned responses,
//! and the supervisors' stats.

use crate::auth::Identity;
use crate::edge::error::ApiError;
use crate::edge::extract::{Caller, JsonBody, QueryParams};
use crate::edge::routes;
use crate::state::AppState;
use crate::store::Period;
use crate::team::{agent_views, announce_agent};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use soporte_protocol::rest::*;
use soporte_protocol::server::AgentView;
use soporte_protocol::{Role, Timestamp};

const MAX_SHORTCUT_CHARS: usize = 50;

pub fn router() -> Router<AppState> {
    let router = Router::new();
    let router = routes(router, "/api/soporte/agentes/", get(agents));
    let router = routes(
        router,
        "/api/soporte/agentes/disponibilidad/",
        post(set_availability),
    );
    let router = routes(router, "/api/soporte/stats/", get(team_stats));
    let router = routes(
        router,
        "/api/soporte/respuestas/",
        get(list_responses).post(create_response),
    );
    routes(
        router,
        "/api/soporte/respuestas/{id}/",
        get(show_response)
            .put(update_response)
            .delete(delete_response),
    )
}

fn staff_only(caller: &Identity) -> Result<(), ApiError> {
    if caller.user.role.is_staff() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Solo para el equipo de soporte.".into(),
        ))
    }
}

async fn agents(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Vec<AgentView>>, ApiError> {
    staff_only(&caller)?;
    Ok(Json(agent_views(&state).await?))
}

async fn set_availability(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<AvailabilityRequest>,
) -> Result<Json<AgentView>, ApiError> {
    if caller.user.role != Role::Agent {
        return Err(ApiError::Forbidden(
            "Solo los agentes tienen disponibilidad.".into(),
        ));
    }
    state.store.upsert_user(caller.user.clone()).await?;
    state
        .store
        .set_availability(caller.user.id, body.availability)
        .await?;
    announce_agent(&state, caller.user.id).await;
    let me = agent_views(&state)
        .await?
        .into_iter()
        .find(|a| a.id == caller.user.id)
        .ok_or(ApiError::NotFound)?;
    Ok(Json(me))
}

#[derive(Deserialize)]
struct RangeParams {
    #[serde(default)]
    desde: Option<String>,
    #[serde(default)]
    hasta: Option<String>,
}

pub(crate) fn instant(name: &str, value: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    value
        .map(|v| {
            Timestamp::parse(v)
                .ok_or_else(|| ApiError::BadRequest(format!("{name} debe ser una fecha RFC 3339.")))
        })
        .transpose()
}

async fn team_stats(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(range): QueryParams<RangeParams>,
) -> Result<Json<TeamStats>, ApiError> {
    if caller.user.role != Role::Supervisor {
        return Err(ApiError::Forbidden("Solo para supervisores.".into()));
    }
    let from = instant("desde", range.desde.as_deref())?;
    let to = instant("hasta", range.hasta.as_deref())?;
    Ok(Json(state.store.team_stats(Period::new(from, to)).await?))
}

fn validate(input: &CannedResponseInput, max_text: usize) -> Result<CannedResponseInput, ApiError> {
    let shortcut = input.shortcut.trim().to_string();
    let ok = !shortcut.is_empty()
        && shortcut.chars().count() <= MAX_SHORTCUT_CHARS
        && !shortcut.chars().any(char::is_whitespace);
    if !ok {
        return Err(ApiError::BadRequest(format!(
            "El atajo tiene entre 1 y {MAX_SHORTCUT_CHARS} caracteres, sin espacios."
        )));
    }
    soporte_protocol::client::validate_text(&input.text, max_text)
        .map_err(|e| ApiError::BadRequest(e.detail))?;
    Ok(CannedResponseInput {
        shortcut,
        text: input.text.clone(),
    })
}

fn response_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

async fn list_responses(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Vec<CannedResponse>>, ApiError> {
    staff_only(&caller)?;
    Ok(Json(state.store.canned_responses().await?))
}

async fn create_response(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<CannedResponseInput>,
) -> Result<(StatusCode, Json<CannedResponse>), ApiError> {
    staff_only(&caller)?;
    let input = validate(&body, state.config.max_message_length)?;
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .store
                .save_canned_response(None, input, caller.user.id)
                .await?,
        ),
    ))
}

async fn show_response(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<CannedResponse>, ApiError> {
    staff_only(&caller)?;
    state
        .store
        .canned_response(response_id(&id)?)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

async fn update_response(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CannedResponseInput>,
) -> Result<Json<CannedResponse>, ApiError> {
    staff_only(&caller)?;
    let input = validate(&body, state.config.max_message_length)?;
    Ok(Json(
        state
            .store
            .save_canned_response(Some(response_id(&id)?), input, caller.user.id)
            .await?,
    ))
}

async fn delete_response(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    staff_only(&caller)?;
    if state
        .store
        .delete_canned_response(response_id(&id)?)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
