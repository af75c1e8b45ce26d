//! `/api/soporte/tickets/`: create, list and read tickets.

use super::error::ApiError;
use super::extract::{ticket_id, Caller, JsonBody, QueryParams};
use super::routes;
use crate::access;
use crate::app::AppState;
use crate::auth::Identity;
use crate::store::{NewTicket, TicketScope, UserRecord};
use crate::ws::user_record;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use soporte_protocol::rest::{CreateTicket, TicketList, TicketView};
use soporte_protocol::{Role, Ticket};

const MAX_SUBJECT_CHARS: usize = 200;
const DEFAULT_LIST: usize = 100;
const MAX_LIST: usize = 500;

pub fn router() -> Router<AppState> {
    let router = Router::new();
    let router = routes(router, "/api/soporte/tickets/", get(list).post(create));
    routes(router, "/api/soporte/tickets/{id}/", get(show))
}

async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<CreateTicket>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    let subject = body.asunto.trim().to_string();
    if subject.is_empty() || subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err(ApiError::BadRequest(format!(
            "El asunto es obligatorio y tiene como máximo {MAX_SUBJECT_CHARS} caracteres."
        )));
    }
    let customer = match (caller.role, body.cliente) {
        (Role::Cliente, None) => user_record(&caller),
        (Role::Cliente, Some(other)) if other.id == caller.id => user_record(&caller),
        (Role::Cliente, Some(_)) => {
            return Err(ApiError::Forbidden(
                "Un cliente solo puede abrir tickets a su nombre.".into(),
            ))
        }
        (_, None) => {
            return Err(ApiError::BadRequest(
                "Indica el cliente del ticket: {\"cliente\": {\"id\": ..., \"nombre\": ...}}."
                    .into(),
            ))
        }
        (_, Some(customer)) => {
            let name = customer.nombre.trim().to_string();
            if customer.id <= 0 || name.is_empty() || name.chars().count() > 100 {
                return Err(ApiError::BadRequest(
                    "El cliente necesita un id positivo y un nombre.".into(),
                ));
            }
            UserRecord {
                id: customer.id,
                name,
                role: Role::Cliente,
                avatar: customer.avatar,
            }
        }
    };
    if caller.role != Role::Cliente {
        state.store.upsert_user(user_record(&caller)).await?;
    }
    let ticket = state
        .store
        .create_ticket(NewTicket { subject, customer })
        .await?;
    tracing::info!(ticket = ticket.id, by = caller.id, "ticket created");
    Ok((
        StatusCode::CREATED,
        Json(TicketView {
            ticket,
            no_leidos: 0,
            ultimo_mensaje: None,
        }),
    ))
}

#[derive(Deserialize)]
struct ListParams {
    #[serde(default)]
    limit: Option<usize>,
}

async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<TicketList>, ApiError> {
    let scope = match caller.role {
        Role::Cliente => TicketScope::OwnedBy(caller.id),
        Role::Agente => TicketScope::AgentQueue(caller.id),
        Role::Supervisor => TicketScope::All,
    };
    let limit = params.limit.unwrap_or(DEFAULT_LIST).clamp(1, MAX_LIST);
    let results = state.store.list_tickets(scope, caller.id, limit).await?;
    Ok(Json(TicketList {
        count: results.len(),
        results,
    }))
}

async fn show(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<TicketView>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let no_leidos = state.store.unread_count(ticket.id, caller.id).await?;
    let ultimo_mensaje = state
        .store
        .messages_between(ticket.id, ticket.last_seq - 1, ticket.last_seq, 1)
        .await?
        .pop();
    Ok(Json(TicketView {
        ticket,
        no_leidos,
        ultimo_mensaje,
    }))
}

/// The ticket `raw_id` names, if the caller may read it: 404 when there is no
/// such ticket, 403 when it is someone else's.
pub async fn visible_ticket(
    state: &AppState,
    caller: &Identity,
    raw_id: &str,
) -> Result<Ticket, ApiError> {
    let ticket = state
        .store
        .ticket(ticket_id(raw_id)?)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !access::may_read(caller, &ticket) {
        return Err(ApiError::Forbidden(
            "No tienes acceso a este ticket.".into(),
        ));
    }
    Ok(ticket)
}
