//! The agents' inbox: `/ws/soporte/agentes/?token=JWT` for AGENTE and
//! SUPERVISOR tokens. On open, `inbox` with the agent's tickets and the
//! unassigned queue (a supervisor: every ticket) and the team; then live
//! `ticket_actualizado`, `inbox_mensaje` previews, `chat_transferred`,
//! `inbox_escribiendo` and `agente_disponibilidad`. The only frame a client
//! sends is `heartbeat`.

use super::keepalive::{self, Due, Keepalive};
use super::{authenticate, feed, flush, limited, send, take_slot, Incoming};
use crate::auth::Identity;
use crate::edge::error::ApiError;
use crate::hub::inbox::InboxMember;
use crate::hub::{outbox, Encoded, Next, OutboxReader};
use crate::metrics::METRICS;
use crate::rate::TokenBucket;
use crate::state::AppState;
use crate::store::TicketQuery;
use crate::store::{TicketScope, Viewer};
use crate::team::{agent_views, announce_agent};
use axum::extract::ws::{
    rejection::WebSocketUpgradeRejection, Message as WsMessage, WebSocket, WebSocketUpgrade,
};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use soporte_protocol::server::{ErrorFrame, Heartbeat, InboxSnapshot};
use soporte_protocol::*;
use std::sync::atomic::Ordering;
use tokio::time::Instant;

/// Events an inbox may have waiting: busier than a ticket's socket.
const INBOX_QUEUE: usize = 1024;
/// Tickets in the opening snapshot.
const SNAPSHOT_TICKETS: usize = 200;

#[derive(Deserialize)]
pub struct InboxParams {
    #[serde(default)]
    token: Option<String>,
}

pub async fn upgrade(
    State(state): State<AppState>,
    Query(params): Query<InboxParams>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let identity = authenticate(&state, params.token.as_deref(), &headers).await;
    let admitted = identity.and_then(|identity| {
        if !identity.user.role.is_staff() {
            return Err(ApiError::Forbidden(
                "La bandeja es solo para agentes y supervisores.".into(),
            ));
        }
        Ok((take_slot(&state, identity.user.id)?, identity))
    });
    let (slot, identity) = match admitted {
        Ok(admitted) => admitted,
        Err(error) => {
            METRICS.connections_refused.fetch_add(1, Ordering::Relaxed);
            return error.into_response();
        }
    };
    if let Err(error) = state.store.upsert_user(identity.user.clone()).await {
        return ApiError::from(error).into_response();
    }
    match ws {
        Err(rejection) => rejection.into_response(),
        Ok(ws) => {
            let sessions = state.sessions.clone();
            limited(ws, state.config.max_frame_size).on_upgrade(move |socket| {
                sessions.track_future(async move {
                    run(state, identity, socket).await;
                    drop(slot);
                })
            })
        }
    }
}

async fn run(state: AppState, identity: Identity, mut socket: WebSocket) {
    let conn = state.next_conn_id();
    METRICS.connections_total.fetch_add(1, Ordering::Relaxed);
    METRICS.connections_open.fetch_add(1, Ordering::Relaxed);
    let (outbox, mut events) = outbox(INBOX_QUEUE);
    // Join before the snapshot: what changes in between arrives as an event
    // (clients apply them by ticket id, so seeing a change twice is harmless).
    let first_here = state.inboxes.join(InboxMember {
        conn,
        user: identity.user.id,
        role: identity.user.role,
        outbox,
    });
    if first_here {
        state
            .presence
            .inbox_opened(identity.user.id, identity.user.role == Role::Agent)
            .await;
    }
    if identity.user.role == Role::Agent {
        announce_agent(&state, identity.user.id).await;
    }
    let end = match snapshot(&state, &identity).await {
        Ok(frame) => match send(&mut socket, WsMessage::Text(frame.encode().into())).await {
            Ok(()) => serve(&state, &identity, &mut socket, &mut events).await,
            Err(()) => None,
        },
        Err(error) => {
            tracing::error!(?error, "cannot build the inbox snapshot");
            Some(CloseReason::INTERNAL_ERROR)
        }
    };
    super::finish(&mut socket, end).await;
    if state.inboxes.leave(conn) {
        state.presence.inbox_closed(identity.user.id).await;
    }
    if identity.user.role == Role::Agent {
        announce_agent(&state, identity.user.id).await;
    }
    METRICS.connections_open.fetch_sub(1, Ordering::Relaxed);
}

async fn snapshot(state: &AppState, identity: &Identity) -> Result<ServerFrame, ApiError> {
    let scope = match identity.user.role {
        Role::Supervisor => TicketScope::All,
        _ => TicketScope::AgentQueue(identity.user.id),
    };
    let tickets = state
        .store
        .list_tickets(TicketQuery::new(
            scope,
            Viewer::new(identity.user.id, identity.user.role),
            SNAPSHOT_TICKETS,
        ))
        .await?;
    // The rest is paged over REST, from where the snapshot ends.
    let next = (tickets.len() == SNAPSHOT_TICKETS).then(|| {
        let last = &tickets[SNAPSHOT_TICKETS - 1].ticket;
        soporte_protocol::rest::next_tickets_url(&state.public_url, SNAPSHOT_TICKETS, last)
    });
    Ok(ServerFrame::Inbox(InboxSnapshot {
        user: identity.user.person(),
        tickets,
        agents: agent_views(state).await?,
        next,
    }))
}

/// Forwards events until the client leaves; `Some` is how to close.
async fn serve(
    state: &AppState,
    identity: &Identity,
    socket: &mut WebSocket,
    events: &mut OutboxReader,
) -> Option<CloseReason> {
    let mut keepalive = Keepalive::new(state.config.heartbeat_interval, identity.expires_at);
    let timer = tokio::time::sleep_until(keepalive.wake_at(None));
    tokio::pin!(timer);
    // An inbox only sends heartbeats: anything like a flood is a misbehaving client.
    let mut frames = TokenBucket::new(10, 50);
    loop {
        keepalive::arm(timer.as_mut(), keepalive.wake_at(None));
        let outgoing = tokio::select! {
            biased;
            _ = state.shutdown.cancelled() => return Some(CloseReason::SHUTTING_DOWN),
            next = events.next() => match write_out(socket, next, events).await {
                Ok(()) => continue,
                Err(end) => return end,
            },
            incoming = socket.recv() => {
                keepalive.heard();
                match super::incoming(incoming) {
                    Incoming::Closed => return None,
                    Incoming::Fail(close) => return Some(close),
                    // Every frame the peer sends spends the budget: a ping
                    // costs a pong as a text frame costs a reply.
                    Incoming::Message(_) | Incoming::Control if !frames.try_take() => return Some(CloseReason::TOO_MANY_MESSAGES),
                    Incoming::Message(WsMessage::Text(text)) => reply(&text),
                    Incoming::Message(_) | Incoming::Control => continue,
                }
            }
            _ = &mut timer => match keepalive.due(Instant::now()) {
                None => continue,
                Some(Due::Expired) => return Some(CloseReason::TOKEN_EXPIRED),
                Some(Due::Silent) => return Some(CloseReason::IDLE),
                Some(Due::Ping) => WsMessage::Ping(Default::default()),
            },
        };
        if send(socket, outgoing).await.is_err() {
            return None;
        }
    }
}

/// Writes `first` and every event already waiting behind it in one go (a
/// burst of previews leaves in one write); `Err` is how the loop ends.
async fn write_out(
    socket: &mut WebSocket,
    first: Next,
    events: &mut OutboxReader,
) -> Result<(), Option<CloseReason>> {
    let mut next = Some(first);
    let mut written = 0;
    while let Some(item) = next.take() {
        let event = match item {
            Next::Evicted => return Err(Some(CloseReason::INBOX_TOO_SLOW)),
            Next::Closed => return Err(None),
            Next::Event(event) => event,
        };
        match &*event {
            Encoded::Close(close) => return Err(Some(*close)),
            Encoded::Frame { text, .. } => {
                if feed(socket, WsMessage::Text(text.clone())).await.is_err() {
                    return Err(None);
                }
            }
        }
        written += 1;
        if written < super::MAX_FRAMES_PER_WRITE {
            next = events.try_next();
        }
    }
    flush(socket).await.map_err(|()| None)
}

/// The answer to a client frame: `heartbeat` is the only one an inbox takes.
fn reply(text: &str) -> WsMessage {
    let frame = match ClientFrame::parse(text) {
        Ok(ClientFrame::Heartbeat) => ServerFrame::Heartbeat(Heartbeat {
            timestamp: Timestamp::now(),
        }),
        Ok(other) => ServerFrame::Error(ErrorFrame {
            code: ErrorCode::UnknownType,
            detail: "La bandeja solo acepta heartbeat; escribe en el socket del ticket.".into(),
            frame_type: Some(other.tipo().into()),
            client_id: None,
            message_id: None,
        }),
        Err(error) => ServerFrame::Error(ErrorFrame {
            code: error.code,
            detail: error.detail,
            frame_type: None,
            client_id: None,
            message_id: None,
        }),
    };
    WsMessage::Text(frame.encode().into())
}
