//! `/api/soporte/usuarios/{id}/`: the host helpdesk provisions its users
//! (service key or supervisor), so an agent can be assigned before their
//! first shift and a customer can have tickets opened for them.

use crate::domain::{erasure, integration};
use crate::edge::error::ApiError;
use crate::edge::extract::{Actor, JsonBody};
use crate::edge::routes;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use soporte_protocol::rest::{UserExport, UserInput, UserView};
use soporte_protocol::webhook::UserErasedData;
use soporte_protocol::UserId;

pub fn router() -> Router<AppState> {
    let router = routes(
        Router::new(),
        "/api/soporte/usuarios/{id}/",
        put(provision).get(show).delete(erase),
    );
    routes(router, "/api/soporte/usuarios/{id}/export/", get(export))
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    raw.parse::<UserId>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(ApiError::NotFound)
}

/// `PUT`: creates (201) or replaces (200) the user as given.
async fn provision(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UserInput>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    actor.admin_only()?;
    let user = integration::provisioned_user(user_id(&id)?, &body)?;
    let id = user.id;
    let active = body.active.unwrap_or(true);
    let created = state.store.provision_user(user, active).await?;
    if body.role == soporte_protocol::Role::Agent {
        // Transfer lists in inboxes show who may take tickets now.
        crate::team::announce_agent(&state, id).await;
    }
    let view = state.store.user_view(id).await?.ok_or(ApiError::NotFound)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

async fn show(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    actor.admin_only()?;
    state
        .store
        .user_view(user_id(&id)?)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// `GET …/export/`: everything kept about the person (data portability).
async fn export(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<UserExport>, ApiError> {
    actor.admin_only()?;
    state
        .store
        .export_user(user_id(&id)?)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// `DELETE`: erases what the person wrote and sent, and their name (the
/// right to erasure); 200 with what was erased.
async fn erase(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<UserErasedData>, ApiError> {
    actor.admin_only()?;
    let by = match &actor {
        Actor::Service(key) => erasure::requested_by_key(&key.name),
        Actor::User(identity) => erasure::requested_by_user(identity.user.id),
    };
    let erased = crate::data_rights::erase(&state, user_id(&id)?, by).await?;
    Ok(Json(erased.record))
}
