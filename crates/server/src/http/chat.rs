//! `/api/soporte/tickets/{id}/chat/…`: the seed's `ChatSync` endpoints.

use super::tickets::{readable, visible_ticket};
use crate::bus::Event;
use crate::chat;
use crate::domain::access::{self, Access};
use crate::edge::error::ApiError;
use crate::edge::extract::{ticket_id, Caller, JsonBody, QueryParams};
use crate::edge::routes;
use crate::hub::{Audience, Except, TicketEvent};
use crate::metrics::METRICS;
use crate::state::AppState;
use crate::store::{PageAt, Span};
use crate::store::{TicketCommand, Viewer};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use soporte_protocol::rest::*;
use soporte_protocol::server::MessagesRead;
use soporte_protocol::{ErrorCode, SendMessage, Seq, ServerFrame, Timestamp};
use std::sync::atomic::Ordering;

const DEFAULT_PAGE_SIZE: i64 = 50;
const MAX_PAGE_SIZE: i64 = 100;
const MAX_SYNC_MESSAGES: usize = 100;
const MAX_MARK_READ: usize = 1000;

pub fn router() -> Router<AppState> {
    let router = Router::new();
    let router = routes(
        router,
        "/api/soporte/tickets/{id}/chat/historial/",
        get(history),
    );
    let router = routes(router, "/api/soporte/tickets/{id}/chat/sync/", post(sync));
    let router = routes(
        router,
        "/api/soporte/tickets/{id}/chat/mark-read/",
        post(mark_read),
    );
    let router = routes(
        router,
        "/api/soporte/tickets/{id}/chat/transfer/",
        post(transfer),
    );
    routes(router, "/api/soporte/tickets/{id}/chat/stats/", get(stats))
}

#[derive(Deserialize)]
struct HistoryParams {
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    size: Option<i64>,
    #[serde(default)]
    before: Option<Seq>,
}

/// Which `seq` range a history page covers. `seq` has no gaps, so a page is
/// plain arithmetic on it (no OFFSET scan, no COUNT), and deep pages cost the
/// same as the newest.
#[derive(Debug, PartialEq, Eq)]
pub struct Window {
    /// Messages before the cursor (all of them without `before`).
    pub count: i64,
    /// The page holds `after < seq <= up_to`.
    pub after: Seq,
    pub up_to: Seq,
}

pub fn window(last_seq: Seq, before: Option<Seq>, page: i64, size: i64) -> Window {
    let top = match before {
        Some(before) => before.saturating_sub(1).clamp(0, last_seq),
        None => last_seq,
    };
    let up_to = (top - (page - 1).saturating_mul(size)).max(0);
    let after = (up_to - size).max(0);
    Window {
        count: top,
        after,
        up_to,
    }
}

async fn history(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    QueryParams(params): QueryParams<HistoryParams>,
) -> Result<Json<HistoryPage>, ApiError> {
    let page = params.page.unwrap_or(1);
    let size = params.size.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&size) {
        return Err(ApiError::BadRequest(format!(
            "size debe estar entre 1 y {MAX_PAGE_SIZE}."
        )));
    }
    // Bounded so that page arithmetic cannot wrap (a wrapped page returned
    // the whole history), and a cursor below 1 would act as no cursor.
    let last_page = i64::MAX / size - 1;
    if !(1..=last_page).contains(&page) {
        return Err(ApiError::BadRequest(format!(
            "page debe estar entre 1 y {last_page}."
        )));
    }
    if params.before.is_some_and(|before| before < 1) {
        return Err(ApiError::BadRequest("before debe ser 1 o más.".into()));
    }
    // The page a console opens most: staff, newest first. The ticket and its
    // page come in one trip to the store; the page is shown only once the
    // ticket proves readable.
    let newest_for_staff = caller.user.role.is_staff() && page == 1 && params.before.is_none();
    let (ticket, mut newest) = if newest_for_staff {
        let found = state
            .store
            .ticket_with_newest_page(ticket_id(&id)?, size as usize)
            .await?;
        let (ticket, page) = found.unzip();
        (readable(&caller, ticket)?, page)
    } else {
        (visible_ticket(&state, &caller, &id).await?, None)
    };
    let w = window(ticket.last_seq, params.before, page, size);
    let (count, results, has_older) = if caller.user.role.is_staff() {
        let results = if let Some(newest) = newest.take() {
            newest
        } else if w.up_to > w.after {
            state
                .store
                .messages_between(Span::new(ticket.id, w.after, w.up_to, size as usize, true))
                .await?
        } else {
            Vec::new()
        };
        (w.count, results, w.after > 0)
    } else {
        // Customers do not see internal notes, so their pages are counted
        // over what they see (with `before`, still a stable cursor).
        let offset = ((page - 1) * size) as usize;
        let visible = state
            .store
            .visible_page(PageAt::new(ticket.id, w.count, offset, size as usize))
            .await?;
        let older = visible.count > page * size;
        (visible.count, visible.messages, older)
    };
    let base = format!(
        "{}/api/soporte/tickets/{}/chat/historial/",
        state.public_url, ticket.id
    );
    let cursor = params
        .before
        .map(|b| format!("&before={b}"))
        .unwrap_or_default();
    let link = |page: i64| format!("{base}?page={page}&size={size}{cursor}");
    Ok(Json(HistoryPage {
        count,
        next: has_older.then(|| link(page + 1)),
        previous: (page > 1 && (page - 1) * size < count).then(|| link(page - 1)),
        results,
    }))
}

async fn sync(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SyncRequest>,
) -> Result<Json<SyncResponse>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    if body.messages.len() > MAX_SYNC_MESSAGES {
        return Err(ApiError::BadRequest(format!(
            "Como máximo {MAX_SYNC_MESSAGES} mensajes por sincronización."
        )));
    }
    // The messages spend the sender's budget as they would over a socket.
    // Those past it are refused, the tail of the request, so what is stored
    // stays in request order; the client sends them again a moment later.
    // A caller who may not write here spends nothing: each message gets its
    // own lasting refusal (sin_permiso, ticket_cerrado), not one to retry.
    let mut messages = body.messages;
    let wanted = messages.len();
    let allowed = if access::check_write(&caller.user, &ticket).is_ok() {
        state
            .message_budgets
            .take_up_to(caller.user.id, wanted as u32)
            .await as usize
    } else {
        wanted
    };
    let over_budget = messages.split_off(allowed);
    if !over_budget.is_empty() {
        METRICS
            .rate_limited
            .fetch_add(over_budget.len() as u64, Ordering::Relaxed);
    }
    // Each message goes the same way as one sent over the WebSocket; they are
    // submitted together so the writer commits them in one batch, and their
    // order in the request is their order in the ticket.
    let posts = messages.into_iter().map(|m| {
        let (state, caller, ticket) = (&state, &caller, &ticket);
        async move {
            let client_id = m.client_id.clone();
            let message = SendMessage {
                text: m.content,
                timestamp: m.timestamp,
                client_id: m.client_id,
                metadata: m.metadata,
                reply_to: m.reply_to,
            };
            (
                client_id,
                chat::post_text(state, caller, ticket.into(), message, None).await,
            )
        }
    });
    let mut response = SyncResponse {
        results: Vec::new(),
        errors: Vec::new(),
    };
    for (client_id, outcome) in futures_util::future::join_all(posts).await {
        match outcome {
            Ok(appended) => response.results.push(SyncResult {
                client_id,
                message_id: appended.message.id,
                seq: appended.message.seq,
                timestamp: appended.message.timestamp,
                duplicate: appended.duplicate,
            }),
            Err(error) => response.errors.push(SyncError {
                client_id,
                code: error.code,
                detail: error.detail,
            }),
        }
    }
    response
        .errors
        .extend(over_budget.into_iter().map(|m| SyncError {
            client_id: m.client_id,
            code: ErrorCode::RateLimited,
            detail: chat::USER_RATE_REFUSAL.into(),
        }));
    Ok(Json(response))
}

async fn mark_read(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MarkReadRequest>,
) -> Result<Json<MarkReadResponse>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    if body.message_ids.len() > MAX_MARK_READ {
        return Err(ApiError::BadRequest(format!(
            "Como máximo {MAX_MARK_READ} mensajes por llamada."
        )));
    }
    // Reading for the record takes a seat in the conversation: an agent
    // looking at the unassigned queue does not mark the customer's messages read.
    let viewer = Viewer::new(caller.user.id, caller.user.role);
    if access::access(&caller.user, &ticket) != Access::Granted {
        return Err(ApiError::Forbidden(
            "Asígnate el ticket antes de marcar mensajes como leídos.".into(),
        ));
    }
    let outcome = state
        .store
        .mark_read(ticket.id, viewer, caller.user.role, body.message_ids)
        .await?;
    if !outcome.unknown.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "Estos mensajes no pertenecen a este ticket: {:?}",
            outcome.unknown
        )));
    }
    if !outcome.marked.is_empty() {
        let frame = ServerFrame::MessagesRead(MessagesRead {
            reader: caller.user.person(),
            message_ids: outcome.marked.clone(),
            timestamp: Timestamp::now(),
        });
        state.bus.publish(Event::Room(TicketEvent {
            ticket: ticket.id,
            seq: None,
            audience: Audience::Everyone,
            except: Except::Nobody,
            text: frame.encode().into(),
        }));
    }
    let no_leidos = state.store.unread_count(ticket.id, viewer).await?;
    Ok(Json(MarkReadResponse {
        marked: outcome.marked,
        unread: no_leidos,
    }))
}

async fn stats(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<ChatStats>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let viewer = Viewer::new(caller.user.id, caller.user.role);
    Ok(Json(state.store.stats(ticket.id, viewer).await?))
}

/// `POST .../chat/transfer/ {agente_id, motivo}`: the assigned agent or a
/// supervisor hands the conversation to another agent.
async fn transfer(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TransferRequest>,
) -> Result<Json<soporte_protocol::Ticket>, ApiError> {
    if !caller.user.role.is_staff() {
        return Err(ApiError::Forbidden(
            "Solo el equipo de soporte transfiere conversaciones.".into(),
        ));
    }
    let ticket = visible_ticket(&state, &caller, &id).await?;
    if body.reason.chars().count() > 500 {
        return Err(ApiError::BadRequest(
            "El motivo tiene como máximo 500 caracteres.".into(),
        ));
    }
    let command = TicketCommand::Transfer {
        agent: body.agent_id,
        reason: body.reason,
    };
    Ok(Json(
        state
            .store
            .change_ticket(ticket.id, caller.user.clone(), command, state.config.csat)
            .await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-trip first page reads the same messages as page 1's window.
    #[test]
    fn the_staff_first_page_is_page_one_of_the_window() {
        for (last_seq, size) in [(0, 50), (3, 50), (50, 50), (120, 50), (120, 1)] {
            let w = window(last_seq, None, 1, size);
            let span = Span::newest(7, last_seq, size as usize);
            assert_eq!((span.after, span.up_to), (w.after, w.up_to));
            assert_eq!((span.ticket, span.limit), (7, size as usize));
            assert!(span.sees_internal);
        }
    }

    #[test]
    fn page_one_holds_the_newest() {
        assert_eq!(
            window(120, None, 1, 50),
            Window {
                count: 120,
                after: 70,
                up_to: 120
            }
        );
        assert_eq!(
            window(120, None, 2, 50),
            Window {
                count: 120,
                after: 20,
                up_to: 70
            }
        );
        assert_eq!(
            window(120, None, 3, 50),
            Window {
                count: 120,
                after: 0,
                up_to: 20
            }
        );
        assert_eq!(
            window(120, None, 4, 50),
            Window {
                count: 120,
                after: 0,
                up_to: 0
            }
        );
    }

    #[test]
    fn before_pins_the_pages_while_new_messages_arrive() {
        // Page 2 under `before=71` is the same range whatever last_seq grows to.
        assert_eq!(
            window(120, Some(71), 1, 50),
            Window {
                count: 70,
                after: 20,
                up_to: 70
            }
        );
        assert_eq!(window(5000, Some(71), 1, 50), window(120, Some(71), 1, 50));
        // A cursor past the end means everything.
        assert_eq!(
            window(10, Some(1000), 1, 50),
            Window {
                count: 10,
                after: 0,
                up_to: 10
            }
        );
        assert_eq!(
            window(10, Some(1), 1, 50),
            Window {
                count: 0,
                after: 0,
                up_to: 0
            }
        );
    }

    #[test]
    fn an_empty_ticket_has_an_empty_page() {
        assert_eq!(
            window(0, None, 1, 50),
            Window {
                count: 0,
                after: 0,
                up_to: 0
            }
        );
    }
}
