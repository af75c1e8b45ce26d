//! `/api/soporte/tickets/`: create, list and read tickets.

use crate::auth::Identity;
use crate::bus::Event;
use crate::domain::access;
use crate::domain::User;
use crate::edge::error::ApiError;
use crate::edge::extract::{ticket_id, Caller, JsonBody, QueryParams};
use crate::edge::routes;
use crate::hub::inbox::{InboxEvent, InboxRoute};
use crate::state::AppState;
use crate::store::{NewTicket, TicketCommand, TicketScope, Viewer};
use crate::store::{Newest, TicketQuery};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use soporte_protocol::rest::{AssignRequest, CreateTicket, StateRequest, TicketList, TicketView};
use soporte_protocol::server::{TicketChange, TicketUpdated};
use soporte_protocol::ServerFrame;
use soporte_protocol::{Role, Ticket};

const MAX_SUBJECT_CHARS: usize = 200;
const DEFAULT_LIST: usize = 100;
const MAX_LIST: usize = 500;

pub fn router() -> Router<AppState> {
    let router = Router::new();
    let router = routes(router, "/api/soporte/tickets/", get(list).post(create));
    let router = routes(router, "/api/soporte/tickets/{id}/", get(show));
    let router = routes(router, "/api/soporte/tickets/{id}/assign/", post(assign));
    routes(router, "/api/soporte/tickets/{id}/estado/", post(set_state))
}

async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<CreateTicket>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    let subject = body.subject.trim().to_string();
    if subject.is_empty() || subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err(ApiError::BadRequest(format!(
            "El asunto es obligatorio y tiene como máximo {MAX_SUBJECT_CHARS} caracteres."
        )));
    }
    let customer = match (caller.user.role, body.customer) {
        (Role::Customer, None) => caller.user.clone(),
        (Role::Customer, Some(other)) if other.id == caller.user.id => caller.user.clone(),
        (Role::Customer, Some(_)) => {
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
            let name = customer.name.trim().to_string();
            if customer.id <= 0 || name.is_empty() || name.chars().count() > 100 {
                return Err(ApiError::BadRequest(
                    "El cliente necesita un id positivo y un nombre.".into(),
                ));
            }
            User {
                id: customer.id,
                name,
                role: Role::Customer,
                avatar: customer.avatar,
            }
        }
    };
    if caller.user.role != Role::Customer {
        state.store.upsert_user(caller.user.clone()).await?;
    }
    let (auto_assign, max_open) = crate::team::auto_assign_candidates(&state).await?;
    let ticket = state
        .store
        .create_ticket(NewTicket {
            subject,
            customer,
            auto_assign,
            max_open,
        })
        .await?;
    // Inboxes learn of it at once: the queue, or the agent it went to.
    let agent = ticket.agent.as_ref().and_then(|a| a.id);
    let frame = ServerFrame::TicketUpdated(TicketUpdated {
        change: TicketChange::Created,
        ticket: ticket.clone(),
    });
    state.bus.publish(Event::Inbox(InboxEvent {
        route: InboxRoute::Ticket { agent },
        text: frame.encode().into(),
    }));
    tracing::info!(ticket = ticket.id, by = caller.user.id, "ticket created");
    Ok((
        StatusCode::CREATED,
        Json(TicketView {
            ticket,
            unread: 0,
            last_message: None,
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
    let scope = match caller.user.role {
        Role::Customer => TicketScope::OwnedBy(caller.user.id),
        Role::Agent => TicketScope::AgentQueue(caller.user.id),
        Role::Supervisor => TicketScope::All,
    };
    let limit = params.limit.unwrap_or(DEFAULT_LIST).clamp(1, MAX_LIST);
    let viewer = Viewer::new(caller.user.id, caller.user.role);
    let results = state
        .store
        .list_tickets(TicketQuery::new(scope, viewer, limit))
        .await?;
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
    let viewer = Viewer::new(caller.user.id, caller.user.role);
    let no_leidos = state.store.unread_count(ticket.id, viewer).await?;
    let ultimo_mensaje = state
        .store
        .recent_messages(Newest::new(ticket.id, 1, viewer.sees_internal))
        .await?
        .pop();
    Ok(Json(TicketView {
        ticket,
        unread: no_leidos,
        last_message: ultimo_mensaje,
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
    if !access::may_read(&caller.user, &ticket) {
        return Err(ApiError::Forbidden(
            "No tienes acceso a este ticket.".into(),
        ));
    }
    Ok(ticket)
}

/// `POST .../assign/`: an agent takes an unassigned ticket; a supervisor
/// assigns it to `agente_id`.
async fn assign(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<Ticket>, ApiError> {
    // Over the body limit (or unreadable): the API's own JSON answer.
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::BadBody(
            StatusCode::PAYLOAD_TOO_LARGE,
            "El cuerpo de la petición es demasiado grande.".into(),
        ),
        _ => ApiError::BadRequest("No se pudo leer el cuerpo de la petición.".into()),
    })?;
    let ticket = visible_ticket(&state, &caller, &id).await?;
    // No body (an agent taking the ticket) or `{"agente_id": N}`.
    let request: AssignRequest = if body.iter().all(u8::is_ascii_whitespace) {
        AssignRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("Cuerpo JSON inválido: {e}")))?
    };
    let target = match (caller.user.role, request.agent_id) {
        (Role::Customer, _) => {
            return Err(ApiError::Forbidden(
                "Solo el equipo de soporte asigna tickets.".into(),
            ))
        }
        (Role::Supervisor, Some(agent)) => agent,
        (Role::Supervisor, None) => {
            return Err(ApiError::BadRequest(
                "Indica el agente: {\"agente_id\": ...}.".into(),
            ))
        }
        (_, Some(agent)) if agent != caller.user.id => {
            return Err(ApiError::Forbidden(
                "Un agente solo puede asignarse tickets a sí mismo.".into(),
            ))
        }
        _ => caller.user.id,
    };
    let command = TicketCommand::Assign { agent: target };
    let assigned = state
        .store
        .change_ticket(ticket.id, caller.user.clone(), command)
        .await?;
    crate::bus::announce_assignment(state.bus.as_ref(), &assigned);
    Ok(Json(assigned))
}

/// `POST .../estado/ {estado}`: the ticket's lifecycle.
async fn set_state(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StateRequest>,
) -> Result<Json<Ticket>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let command = TicketCommand::SetState { state: body.state };
    Ok(Json(
        state
            .store
            .change_ticket(ticket.id, caller.user.clone(), command)
            .await?,
    ))
}
