//! The agents' inbox: `/ws/soporte/agentes/?token=JWT` for AGENTE and
//! SUPERVISOR tokens. On open, `inbox` with the agent's tickets and the
//! unassigned queue (a supervisor: every ticket) and the team; then live
//! `ticket_actualizado`, `inbox_mensaje` previews, `chat_transferred`,
//! `inbox_escribiendo` and `agente_disponibilidad`. The only frame a client
//! sends is `heartbeat`.

use super::rate::TokenBucket;
use super::{authenticate, limited, send, take_slot, user_record, Incoming};
use crate::app::AppState;
use crate::auth::Identity;
use crate::http::error::ApiError;
use crate::http::team::{agent_views, announce_agent};
use crate::hub::inbox::InboxMember;
use crate::hub::{Encoded, Outbound};
use crate::metrics::METRICS;
use crate::store::{TicketScope, Viewer};
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
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

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
    let admitted = authenticate(&state, params.token.as_deref(), &headers).and_then(|identity| {
        if !identity.role.is_staff() {
            return Err(ApiError::Forbidden(
                "La bandeja es solo para agentes y supervisores.".into(),
            ));
        }
        Ok((take_slot(&state, identity.id)?, identity))
    });
    let (slot, identity) = match admitted {
        Ok(admitted) => admitted,
        Err(error) => {
            METRICS.connections_refused.fetch_add(1, Ordering::Relaxed);
            return error.into_response();
        }
    };
    if let Err(error) = state.store.upsert_user(user_record(&identity)).await {
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
    let (queue, mut events) = mpsc::channel::<Outbound>(INBOX_QUEUE);
    let evicted = CancellationToken::new();
    // Join before the snapshot: what changes in between arrives as an event
    // (clients apply them by ticket id, so seeing a change twice is harmless).
    let first_here = state.inboxes.join(InboxMember {
        conn,
        user: identity.id,
        role: identity.role,
        queue,
        evicted: evicted.clone(),
    });
    if first_here {
        state
            .presence
            .inbox_opened(identity.id, identity.role == Role::Agente)
            .await;
    }
    if identity.role == Role::Agente {
        announce_agent(&state, identity.id).await;
    }
    let end = match snapshot(&state, &identity).await {
        Ok(frame) => match send(&mut socket, WsMessage::Text(frame.encode().into())).await {
            Ok(()) => serve(&state, &identity, &mut socket, &mut events, &evicted).await,
            Err(()) => None,
        },
        Err(error) => {
            tracing::error!(?error, "cannot build the inbox snapshot");
            Some((1011, "error interno"))
        }
    };
    super::finish(&mut socket, end).await;
    if state.inboxes.leave(conn) {
        state.presence.inbox_closed(identity.id).await;
    }
    if identity.role == Role::Agente {
        announce_agent(&state, identity.id).await;
    }
    METRICS.connections_open.fetch_sub(1, Ordering::Relaxed);
}

async fn snapshot(state: &AppState, identity: &Identity) -> Result<ServerFrame, ApiError> {
    let scope = match identity.role {
        Role::Supervisor => TicketScope::All,
        _ => TicketScope::AgentQueue(identity.id),
    };
    let tickets = state
        .store
        .list_tickets(
            scope,
            Viewer::new(identity.id, identity.role),
            SNAPSHOT_TICKETS,
        )
        .await?;
    Ok(ServerFrame::Inbox(InboxSnapshot {
        usuario: identity.person(),
        tickets,
        agentes: agent_views(state).await?,
    }))
}

/// Forwards events until the client leaves; `Some` is how to close.
async fn serve(
    state: &AppState,
    identity: &Identity,
    socket: &mut WebSocket,
    events: &mut mpsc::Receiver<Outbound>,
    evicted: &CancellationToken,
) -> Option<(u16, &'static str)> {
    let heartbeat = state.config.heartbeat_interval;
    let mut ping = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    let expiry = tokio::time::sleep(Duration::from_millis(
        (identity.expires_at.millis() - Timestamp::now().millis()).max(0) as u64,
    ));
    tokio::pin!(expiry);
    let mut last_heard = Instant::now();
    // An inbox only sends heartbeats: anything like a flood is a misbehaving client.
    let mut frames = TokenBucket::new(10, 50);
    loop {
        let outgoing = tokio::select! {
            biased;
            _ = state.shutdown.cancelled() => return Some((1001, "el servidor se está reiniciando")),
            _ = evicted.cancelled() => return Some((1013, "no se leen los mensajes a tiempo; reconecta")),
            event = events.recv() => match event.as_deref() {
                None => return None,
                Some(Encoded::Close { code, reason }) => return Some((*code, reason)),
                Some(Encoded::Frame { text, .. }) => WsMessage::Text(text.clone()),
            },
            incoming = socket.recv() => {
                last_heard = Instant::now();
                match super::incoming(incoming) {
                    Incoming::Closed => return None,
                    Incoming::Fail(code, reason) => return Some((code, reason)),
                    Incoming::Message(WsMessage::Text(_)) if !frames.try_take() => return Some((1008, "demasiados mensajes")),
                    Incoming::Message(WsMessage::Text(text)) => reply(&text),
                    Incoming::Message(_) | Incoming::Control => continue,
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > heartbeat * 2 {
                    return Some((1001, "conexión inactiva"));
                }
                WsMessage::Ping(Default::default())
            }
            _ = &mut expiry => return Some((1008, "el token ha expirado")),
        };
        if send(socket, outgoing).await.is_err() {
            return None;
        }
    }
}

/// The answer to a client frame: `heartbeat` is the only one an inbox takes.
fn reply(text: &str) -> WsMessage {
    let frame = match ClientFrame::parse(text) {
        Ok(ClientFrame::Heartbeat) => ServerFrame::Heartbeat(Heartbeat {
            timestamp: Timestamp::now(),
        }),
        Ok(other) => ServerFrame::Error(ErrorFrame {
            codigo: ErrorCode::TipoDesconocido,
            detalle: "La bandeja solo acepta heartbeat; escribe en el socket del ticket.".into(),
            tipo: Some(other.tipo().into()),
            client_id: None,
        }),
        Err(error) => ServerFrame::Error(ErrorFrame {
            codigo: error.code,
            detalle: error.detail,
            tipo: None,
            client_id: None,
        }),
    };
    WsMessage::Text(frame.encode().into())
}
