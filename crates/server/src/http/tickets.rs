//! `/api/soporte/tickets/`: create, list and read tickets.

use crate::auth::Identity;
use crate::bus::Event;
use crate::domain::access;
use crate::domain::integration;
use crate::domain::User;
use crate::edge::error::ApiError;
use crate::edge::extract::{ticket_id, Actor, Caller, JsonBody, QueryParams};
use crate::edge::routes;
use crate::hub::inbox::{InboxEvent, InboxRoute};
use crate::state::AppState;
use crate::store::{AgentFilter, Newest, TicketFilter, TicketQuery};
use crate::store::{NewCustomer, NewTicket, TicketCommand, TicketScope, Viewer};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use soporte_protocol::rest::{
    next_tickets_url, parse_tickets_cursor, AssignRequest, CreateTicket, CustomerField,
    StateRequest, TicketList, TicketView,
};
use soporte_protocol::server::{TicketChange, TicketUpdated};
use soporte_protocol::ServerFrame;
use soporte_protocol::{Role, Ticket, TicketId, TicketState, Timestamp};

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
    actor: Actor,
    JsonBody(body): JsonBody<CreateTicket>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    let subject = soporte_protocol::client::without_bidi_controls(body.subject)
        .trim()
        .to_string();
    if subject.is_empty() || subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err(ApiError::BadRequest(format!(
            "El asunto es obligatorio y tiene como máximo {MAX_SUBJECT_CHARS} caracteres."
        )));
    }
    let staff = staff(&actor);
    if !staff && (body.external_id.is_some() || body.metadata.is_some()) {
        return Err(ApiError::Forbidden(
            "external_id y metadata son del equipo de soporte o de una clave de API.".into(),
        ));
    }
    if body.agent.is_some() && !actor.is_admin() {
        return Err(ApiError::Forbidden(
            "Solo un supervisor o una clave de API asignan el ticket al crearlo.".into(),
        ));
    }
    let external_id = body
        .external_id
        .as_deref()
        .map(integration::external_id)
        .transpose()?;
    let metadata = body
        .metadata
        .as_ref()
        .map(integration::ticket_metadata)
        .transpose()?;
    let customer = customer_of(&actor, body.customer)?;
    if let Actor::User(caller) = &actor {
        if caller.user.role != Role::Customer {
            state.store.upsert_user(caller.user.clone()).await?;
        }
    }
    let (auto_assign, max_open) = match body.agent {
        Some(_) => (Vec::new(), 0),
        None => crate::team::auto_assign_candidates(&state).await?,
    };
    let ticket = state
        .store
        .create_ticket(NewTicket {
            subject,
            customer,
            auto_assign,
            max_open,
            agent: body.agent,
            external_id,
            metadata,
            customer_limits: state.config.customer_ticket_limits,
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
    tracing::info!(ticket = ticket.id, "ticket created");
    Ok((
        StatusCode::CREATED,
        Json(TicketView::new(ticket, 0, None, staff)),
    ))
}

/// Staff and services see the host's data on tickets; customers never.
fn staff(actor: &Actor) -> bool {
    actor
        .user()
        .is_none_or(|caller| caller.user.role.is_staff())
}

/// Who a new ticket is for: a customer opens their own; staff and services
/// name a provisioned customer by id, or describe one.
fn customer_of(actor: &Actor, named: Option<CustomerField>) -> Result<NewCustomer, ApiError> {
    if let Some(caller) = actor.user().filter(|c| c.user.role == Role::Customer) {
        let own = match &named {
            None => true,
            Some(CustomerField::Id(id)) => *id == caller.user.id,
            Some(CustomerField::Described(other)) => other.id == caller.user.id,
        };
        if !own {
            return Err(ApiError::Forbidden(
                "Un cliente solo puede abrir tickets a su nombre.".into(),
            ));
        }
        return Ok(NewCustomer::Themselves(caller.user.clone()));
    }
    match named {
        None => Err(ApiError::BadRequest(
            "Indica el cliente del ticket: {\"cliente\": id} de un cliente dado de alta, \
             o {\"cliente\": {\"id\": ..., \"nombre\": ...}}."
                .into(),
        )),
        Some(CustomerField::Id(id)) => Ok(NewCustomer::Provisioned(id)),
        Some(CustomerField::Described(customer)) => {
            let name = customer.name.trim().to_string();
            if customer.id <= 0 || name.is_empty() || name.chars().count() > 100 {
                return Err(ApiError::BadRequest(
                    "El cliente necesita un id positivo y un nombre.".into(),
                ));
            }
            let avatar = integration::avatar(customer.avatar.as_deref())?;
            Ok(NewCustomer::Described(User {
                id: customer.id,
                name,
                role: Role::Customer,
                avatar,
                email: None,
            }))
        }
    }
}

#[derive(Deserialize)]
struct ListParams {
    #[serde(default)]
    limit: Option<usize>,
    /// Where the page starts: a previous page's `next` carries it.
    #[serde(default)]
    cursor: Option<String>,
    /// The ticket with the host's id (staff and service keys).
    #[serde(default)]
    external_id: Option<String>,
    /// Only tickets in this state.
    #[serde(default)]
    estado: Option<String>,
    /// Only this agent's tickets (an id), or the unassigned queue (`ninguno`).
    #[serde(default)]
    agente: Option<String>,
}

/// `?estado=` and `?agente=` as a [`TicketFilter`], and as the query text the
/// next page's URL carries on.
fn filter_of(params: &ListParams) -> Result<(TicketFilter, String), ApiError> {
    let mut filter = TicketFilter::default();
    let mut carried = String::new();
    if let Some(text) = params.estado.as_deref().filter(|t| !t.is_empty()) {
        let state = TicketState::parse(text).ok_or_else(|| {
            ApiError::BadRequest(
                "estado no es válido: ABIERTO, EN_ESPERA, RESUELTO o CERRADO.".into(),
            )
        })?;
        filter.state = Some(state);
        carried.push_str(&format!("&estado={}", state.as_str()));
    }
    if let Some(text) = params.agente.as_deref().filter(|t| !t.is_empty()) {
        filter.agent = Some(match text {
            "ninguno" => AgentFilter::Unassigned,
            id => AgentFilter::Agent(id.parse().map_err(|_| {
                ApiError::BadRequest(
                    "agente no es válido: el id de un agente, o ninguno para la cola.".into(),
                )
            })?),
        });
        carried.push_str(&format!("&agente={text}"));
    }
    Ok((filter, carried))
}

/// Who reads: a service key reads as staff, with no unread of its own.
/// The tickets `actor` may list and search: a customer's own, an agent's
/// and the queue, everything for supervisors and services.
pub(crate) fn scope_of(actor: &Actor) -> TicketScope {
    match actor {
        Actor::Service(_) => TicketScope::All,
        Actor::User(caller) => match caller.user.role {
            Role::Customer => TicketScope::OwnedBy(caller.user.id),
            Role::Agent => TicketScope::AgentQueue(caller.user.id),
            Role::Supervisor => TicketScope::All,
        },
    }
}

pub(crate) fn viewer_of(actor: &Actor) -> Viewer {
    match actor {
        Actor::User(caller) => Viewer::new(caller.user.id, caller.user.role),
        Actor::Service(_) => Viewer {
            id: 0,
            sees_internal: true,
        },
    }
}

async fn list(
    State(state): State<AppState>,
    actor: Actor,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<TicketList>, ApiError> {
    if let Some(external_id) = params.external_id.as_deref() {
        return by_external_id(&state, &actor, external_id).await;
    }
    let scope = scope_of(&actor);
    let limit = params.limit.unwrap_or(DEFAULT_LIST).clamp(1, MAX_LIST);
    let mut query = TicketQuery::new(scope, viewer_of(&actor), limit);
    let (filter, carried) = filter_of(&params)?;
    query.filter = filter;
    query.after = params.cursor.as_deref().map(parse_cursor).transpose()?;
    let results = state.store.list_tickets(query).await?;
    let results = results
        .into_iter()
        .map(|view| staff_view(view, &actor))
        .collect::<Vec<_>>();
    // The cursor is the last ticket's activity as this viewer sees it, the
    // order the store listed them in.
    let next = (results.len() == limit)
        .then(|| next_tickets_url(&state.public_url, limit, &results[limit - 1].ticket) + &carried);
    Ok(Json(TicketList {
        count: results.len(),
        results,
        next,
    }))
}

/// `cursor` as `next` writes it.
fn parse_cursor(cursor: &str) -> Result<(Timestamp, TicketId), ApiError> {
    parse_tickets_cursor(cursor)
        .ok_or_else(|| ApiError::BadRequest("cursor no es válido: usa el enlace next.".into()))
}

/// A view as the actor may see it: the host's data for staff only.
fn staff_view(view: TicketView, actor: &Actor) -> TicketView {
    TicketView::new(view.ticket, view.unread, view.last_message, staff(actor))
}

/// `?external_id=`: the ticket the host knows by that id, if the caller may
/// read it (an empty list otherwise).
async fn by_external_id(
    state: &AppState,
    actor: &Actor,
    external_id: &str,
) -> Result<Json<TicketList>, ApiError> {
    if !staff(actor) {
        return Err(ApiError::Forbidden(
            "La búsqueda por external_id es del equipo de soporte o de una clave de API.".into(),
        ));
    }
    let found = state
        .store
        .ticket_by_external_id(external_id.trim())
        .await?;
    let readable = found.filter(|ticket| match actor {
        Actor::Service(_) => true,
        Actor::User(caller) => access::may_read(&caller.user, ticket),
    });
    let mut results = Vec::new();
    if let Some(ticket) = readable {
        results.push(view_of(state, actor, ticket).await?);
    }
    Ok(Json(TicketList {
        count: results.len(),
        results,
        next: None,
    }))
}

/// A ticket with the actor's unread count and the newest message they may see.
async fn view_of(state: &AppState, actor: &Actor, ticket: Ticket) -> Result<TicketView, ApiError> {
    let viewer = viewer_of(actor);
    let unread = state.store.unread_count(ticket.id, viewer).await?;
    let last = state
        .store
        .recent_messages(Newest::new(ticket.id, 1, viewer.sees_internal))
        .await?
        .pop();
    Ok(TicketView::new(ticket, unread, last, staff(actor)))
}

async fn show(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<TicketView>, ApiError> {
    let ticket = match &actor {
        Actor::User(caller) => visible_ticket(&state, caller, &id).await?,
        Actor::Service(_) => state
            .store
            .ticket(ticket_id(&id)?)
            .await?
            .ok_or(ApiError::NotFound)?,
    };
    Ok(Json(view_of(&state, &actor, ticket).await?))
}

/// The ticket `raw_id` names, if the caller may read it: 404 when there is no
/// such ticket, 403 when it is someone else's.
pub async fn visible_ticket(
    state: &AppState,
    caller: &Identity,
    raw_id: &str,
) -> Result<Ticket, ApiError> {
    let ticket = state.store.ticket(ticket_id(raw_id)?).await?;
    readable(caller, ticket)
}

/// `ticket` if it exists and `caller` may read it, or the refusal.
pub fn readable(caller: &Identity, ticket: Option<Ticket>) -> Result<Ticket, ApiError> {
    let ticket = ticket.ok_or(ApiError::NotFound)?;
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
        .change_ticket(ticket.id, caller.user.clone(), command, state.config.csat)
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
            .change_ticket(ticket.id, caller.user.clone(), command, state.config.csat)
            .await?,
    ))
}
