//! `/api/soporte/webhooks/`: the host's subscriptions and their delivery
//! log (service key or supervisor).

use crate::edge::error::ApiError;
use crate::edge::extract::{Actor, JsonBody, QueryParams};
use crate::edge::routes;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use soporte_protocol::webhook::{DeliveryList, WebhookInput, WebhookList, WebhookView};

pub fn router() -> Router<AppState> {
    let router = routes(
        Router::new(),
        "/api/soporte/webhooks/",
        post(create).get(list),
    );
    let router = routes(
        router,
        "/api/soporte/webhooks/{id}/",
        delete(remove).get(show),
    );
    let router = routes(
        router,
        "/api/soporte/webhooks/{id}/entregas/",
        get(deliveries),
    );
    routes(
        router,
        "/api/soporte/webhooks/{id}/entregas/{entrega}/reenviar/",
        post(redeliver),
    )
}

fn id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(ApiError::NotFound)
}

/// `POST`: 201 with the subscription and its secret (shown this once).
async fn create(
    State(state): State<AppState>,
    actor: Actor,
    JsonBody(input): JsonBody<WebhookInput>,
) -> Result<(StatusCode, Json<WebhookView>), ApiError> {
    actor.admin_only()?;
    let new = crate::webhooks::new_webhook(input, &state.config.webhooks).await?;
    let view = state.store.create_webhook(new).await?;
    tracing::info!(webhook = view.id, url = %view.url, "webhook subscription created");
    Ok((StatusCode::CREATED, Json(view)))
}

async fn list(State(state): State<AppState>, actor: Actor) -> Result<Json<WebhookList>, ApiError> {
    actor.admin_only()?;
    let results = state.store.webhooks().await?;
    Ok(Json(WebhookList {
        count: results.len(),
        results,
    }))
}

/// A subscription in force (deleted ones are gone from the API).
async fn in_force(state: &AppState, raw: &str) -> Result<WebhookView, ApiError> {
    let webhooks = state.store.webhooks().await?;
    let id = id(raw)?;
    webhooks
        .into_iter()
        .find(|w| w.id == id)
        .ok_or(ApiError::NotFound)
}

async fn show(
    State(state): State<AppState>,
    actor: Actor,
    Path(raw): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    actor.admin_only()?;
    in_force(&state, &raw).await.map(Json)
}

/// `DELETE`: 204; what it was still owed is given up.
async fn remove(
    State(state): State<AppState>,
    actor: Actor,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    actor.admin_only()?;
    match state.store.delete_webhook(id(&raw)?).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::NotFound),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    limit: Option<usize>,
}

const LOG_PAGE: usize = 50;
const LOG_MAX: usize = 500;

/// `GET …/entregas/?limit=`: the newest deliveries, newest first, each with
/// its attempts.
async fn deliveries(
    State(state): State<AppState>,
    actor: Actor,
    Path(raw): Path<String>,
    QueryParams(query): QueryParams<LogQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    actor.admin_only()?;
    let limit = query.limit.unwrap_or(LOG_PAGE);
    if limit == 0 || limit > LOG_MAX {
        return Err(ApiError::BadRequest(format!("limit va de 1 a {LOG_MAX}.")));
    }
    let webhook = in_force(&state, &raw).await?;
    let results = state.store.deliveries(webhook.id, limit).await?;
    Ok(Json(DeliveryList {
        count: results.len(),
        results,
    }))
}

/// `POST …/entregas/{entrega}/reenviar/`: 202; the delivery is queued
/// again, due now (the endpoint's pause, if any, is lifted).
async fn redeliver(
    State(state): State<AppState>,
    actor: Actor,
    Path((raw, delivery)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    actor.admin_only()?;
    match state.store.redeliver(id(&raw)?, id(&delivery)?).await? {
        true => Ok(StatusCode::ACCEPTED),
        false => Err(ApiError::NotFound),
    }
}
