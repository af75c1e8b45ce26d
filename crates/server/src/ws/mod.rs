//! The WebSocket endpoint `/ws/soporte/ticket/{id}/?token=JWT[&since=SEQ]`.
//!
//! Everything that can refuse a connection is checked here, before the
//! upgrade, and answered with an HTTP status and a JSON `detalle`: the
//! browser's `Origin`, the token, the ticket, the caller's right to it, and
//! the connection limits. Only then does [`session`] take over the socket.

pub mod echo;
pub mod inbox;
pub mod keepalive;
pub mod session;

use crate::auth::Identity;
use crate::domain::access::{self, Access};
use crate::edge::error::ApiError;
use crate::edge::extract::{bearer_token, identify};
use crate::edge::routes;
use crate::metrics::METRICS;
use crate::slots::{self, SlotRefused};
use crate::state::AppState;
use crate::store::{Claimed, Newest};
use axum::extract::ws::{
    rejection::WebSocketUpgradeRejection, CloseFrame, Message as WsMessage, WebSocket,
    WebSocketUpgrade,
};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use serde::Deserialize;
use soporte_protocol::CloseReason;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Largest WebSocket message the library will assemble (at least; four times
/// `--max-frame-size` when that is larger). Anything bigger is a protocol
/// violation and closes the connection (1009); the library's default is
/// 64 MiB, far more than a chat frame needs.
pub const MAX_WS_MESSAGE_BYTES: usize = 256 * 1024;
/// Bytes read from the socket at a time. Chat frames are a few hundred bytes;
/// a larger message is still read whole (the buffer grows for it), this only
/// sets what every idle connection keeps allocated.
pub const READ_BUFFER_BYTES: usize = 512;
/// Bytes of frames fed together before the socket writes them out without
/// waiting for the flush. Only a connection that gets a burst fills it.
pub const WRITE_BUFFER_BYTES: usize = 8 * 1024;
/// Largest frame the server may send (its write buffer's cap): its largest
/// is the greeting, kept under half of this.
pub const MAX_WRITE_BUFFER_BYTES: usize = 1024 * 1024;
/// Largest frame the application reads by default (`--max-frame-size`);
/// bigger ones get an `error` frame.
pub const MAX_FRAME_BYTES: usize = 48 * 1024;

/// What the library assembles for an application limit of `max_frame`.
pub fn ws_message_limit(max_frame: usize) -> usize {
    MAX_WS_MESSAGE_BYTES.max(max_frame.saturating_mul(4))
}

#[derive(Debug, Deserialize)]
pub struct ConnectParams {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    since: Option<String>,
    /// The epoch the client's `since` counts in.
    #[serde(default)]
    epoch: Option<String>,
    /// The id of the message at `since`, as the client has it.
    #[serde(default)]
    since_id: Option<String>,
    /// The ticket's revision of edits the client's copy reflects.
    #[serde(default)]
    rev: Option<String>,
}

/// Where a client asks to resume from.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    pub since: Option<soporte_protocol::Seq>,
    pub epoch: Option<String>,
    pub since_id: Option<soporte_protocol::MessageId>,
    /// Messages at or below `since` changed after this revision are sent.
    pub rev: Option<u64>,
}

/// The ticket socket and the agents' inbox socket.
pub fn router() -> axum::Router<AppState> {
    use axum::routing::get;
    let router = routes(
        axum::Router::new(),
        "/ws/soporte/ticket/{ticket}/",
        get(upgrade),
    );
    routes(router, "/ws/soporte/agentes/", get(inbox::upgrade))
}

pub async fn upgrade(
    State(state): State<AppState>,
    Path(ticket): Path<String>,
    Query(params): Query<ConnectParams>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match admit(&state, &ticket, &params, &headers).await {
        Err(error) => {
            METRICS.connections_refused.fetch_add(1, Ordering::Relaxed);
            error.into_response()
        }
        Ok(admitted) => match ws {
            Err(rejection) => rejection.into_response(),
            Ok(ws) => {
                let sessions = state.sessions.clone();
                limited(ws, state.config.max_frame_size).on_upgrade(move |socket| {
                    sessions.track_future(session::run(state, admitted, socket))
                })
            }
        },
    }
}

/// What one read from a socket means for a connection's loop.
#[derive(Debug)]
pub enum Incoming {
    /// A text or binary message, for the application.
    Message(WsMessage),
    /// A ping or a pong: the library answers pings itself; either one only
    /// proves the peer alive.
    Control,
    /// The peer closed (the library's answer goes out in [`finish`]) or is gone.
    Closed,
    /// The connection must end, with this close.
    Fail(CloseReason),
}

/// Sorts out what `socket.recv()` returned. Every WebSocket loop of ours
/// reads through this, so they all end connections the same way.
pub fn incoming(read: Option<Result<WsMessage, axum::Error>>) -> Incoming {
    match read {
        None | Some(Ok(WsMessage::Close(_))) => Incoming::Closed,
        Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => Incoming::Control,
        Some(Ok(message)) => Incoming::Message(message),
        Some(Err(error)) => match read_failure(error) {
            Some(close) => Incoming::Fail(close),
            None => Incoming::Closed,
        },
    }
}

/// How a failed read ends a connection: a message over the size limit is
/// answered with 1009 (the rest of it is unread, so the connection cannot go
/// on), a text message that is not UTF-8 with 1007, any other breach of the
/// protocol (reserved bits or opcodes, a continuation out of place, a
/// fragmented or oversized control frame, a bad close frame) with 1002;
/// anything else means the peer is gone (`None`: nothing to send).
pub fn read_failure(error: axum::Error) -> Option<CloseReason> {
    use tokio_tungstenite::tungstenite::error::{CapacityError, Error, ProtocolError};
    match error.into_inner().downcast_ref::<Error>() {
        Some(Error::Capacity(CapacityError::MessageTooLong { .. })) => Some(CloseReason {
            code: 1009,
            reason: "mensaje demasiado grande",
        }),
        Some(Error::Utf8(_)) => Some(CloseReason {
            code: 1007,
            reason: "texto que no es UTF-8",
        }),
        // The peer went away mid-handshake or mid-frame: nobody to tell.
        Some(Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => None,
        Some(Error::Protocol(_)) => Some(CloseReason {
            code: 1002,
            reason: "error de protocolo",
        }),
        _ => None,
    }
}

/// A send that takes longer than this means a dead or stuck peer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends one message; `Err` when the peer is gone or stuck (the connection
/// is over).
pub async fn send(socket: &mut WebSocket, message: WsMessage) -> Result<(), ()> {
    match tokio::time::timeout(WRITE_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Queues one message in the socket's write buffer, to go out with the next
/// [`flush`]: what is ready together leaves in one write, not one each.
pub async fn feed(socket: &mut WebSocket, message: WsMessage) -> Result<(), ()> {
    match tokio::time::timeout(WRITE_TIMEOUT, socket.feed(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Writes out what [`feed`] queued.
pub async fn flush(socket: &mut WebSocket) -> Result<(), ()> {
    match tokio::time::timeout(WRITE_TIMEOUT, socket.flush()).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Most frames written out together: a connection with an endless stream of
/// events still reads its socket between writes.
pub const MAX_FRAMES_PER_WRITE: usize = 64;

/// How long the goodbye may take: our close frame, then the peer's answer.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Ends a connection. With a code: sends our close frame and waits (at most
/// `CLOSE_TIMEOUT`) for the peer's answer, so the closing handshake
/// completes and the server is the one to drop the TCP connection, as
/// RFC 6455 asks. Without one (the peer closed, or is gone): sends the
/// library's answer to the peer's close frame, if there is one to send.
pub async fn finish(socket: &mut WebSocket, close: Option<CloseReason>) {
    let code = close.as_ref().map(|close| close.code.to_string());
    crate::metrics::WS_CLOSES.add(&[code.as_deref().unwrap_or("peer")]);
    let goodbye = async {
        match close {
            Some(close) => {
                let frame = WsMessage::Close(Some(CloseFrame {
                    code: close.code,
                    reason: close.reason.into(),
                }));
                if socket.send(frame).await.is_ok() {
                    // Whatever still arrives is dropped; the answer ends it.
                    while let Some(Ok(_)) = socket.recv().await {}
                }
            }
            None => {
                let _ = socket.flush().await;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, goodbye).await;
}

/// The socket settings every WebSocket of ours uses.
pub fn limited(ws: WebSocketUpgrade, max_frame: usize) -> WebSocketUpgrade {
    let limit = ws_message_limit(max_frame);
    ws.max_message_size(limit)
        .max_frame_size(limit)
        // Small buffers: memory per idle connection matters more than a few
        // extra reads for the rare large frame.
        .read_buffer_size(READ_BUFFER_BYTES)
        // Frames fed together (see `feed`) leave in one write; a frame
        // larger than this goes out at once.
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
}

/// Who is connecting: the browser's `Origin` must be on the list, and the
/// token (query `token`, or `Authorization: Bearer`) must verify.
pub async fn authenticate(
    state: &AppState,
    token: Option<&str>,
    headers: &HeaderMap,
) -> Result<Identity, ApiError> {
    // A browser always sends Origin; it must be on the list exactly (no
    // prefix or wildcard matching), which stops cross-site WebSocket hijacking.
    // Non-browser clients send none and are judged by their token alone.
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .map(|o| state.allowed_origins.iter().any(|a| a == o))
            .unwrap_or(false);
        if !allowed {
            return Err(ApiError::Forbidden("Origen no permitido.".into()));
        }
    }
    let token = token.or_else(|| bearer_token(headers)).unwrap_or("");
    identify(state, token).await
}

/// A connection slot for `user`, or the refusal to answer with.
pub fn take_slot(
    state: &AppState,
    user: soporte_protocol::UserId,
) -> Result<slots::Slot, ApiError> {
    state.slots.acquire(user).map_err(|refused| match refused {
        SlotRefused::UserLimit => {
            ApiError::TooManyRequests("Demasiadas conexiones abiertas para este usuario.".into())
        }
        SlotRefused::ServerFull => {
            ApiError::Unavailable("El servidor no admite más conexiones ahora.".into())
        }
    })
}

/// A connection that passed every check, ready to become a session.
pub struct Admitted {
    pub identity: crate::auth::Identity,
    pub ticket: soporte_protocol::Ticket,
    pub resume: Resume,
    pub slot: slots::Slot,
    /// A fresh connection's newest messages, read with the ticket.
    pub greeting: Option<Greeting>,
}

/// Messages read for a greeting before joining the room, and the hub's mark
/// taken before the read (they serve only if the room stayed quiet).
pub struct Greeting {
    pub mark: crate::hub::Mark,
    pub messages: Vec<soporte_protocol::Message>,
}

async fn admit(
    state: &AppState,
    ticket: &str,
    params: &ConnectParams,
    headers: &HeaderMap,
) -> Result<Admitted, ApiError> {
    let identity = authenticate(state, params.token.as_deref(), headers).await?;
    let since = match params.since.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .filter(|s| *s >= 0)
                .ok_or_else(|| {
                    ApiError::BadRequest("since debe ser un número entero no negativo.".into())
                })?,
        ),
    };
    let since_id = match params.since_id.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<i64>()
                .map_err(|_| ApiError::BadRequest("since_id debe ser un número entero.".into()))?,
        ),
    };
    let rev = match params.rev.as_deref() {
        None | Some("") => None,
        Some(text) => Some(text.parse::<u64>().map_err(|_| {
            ApiError::BadRequest("rev debe ser un número entero no negativo.".into())
        })?),
    };
    let resume = Resume {
        since,
        epoch: params.epoch.clone().filter(|e| !e.is_empty()),
        since_id,
        rev,
    };
    let ticket_id: i64 = ticket.parse().map_err(|_| ApiError::NotFound)?;
    // A fresh connection reads what it will be greeted with now, in the same
    // trip; the mark comes first, so that the session can tell whether the
    // read is still whole once it has joined the room.
    let newest = resume.since.is_none().then(|| {
        let staff = identity.user.role.is_staff();
        Newest::new(ticket_id, session::HISTORY_IN_HELLO, staff)
    });
    let mark = state.hub.mark(ticket_id);
    let admission = state
        .store
        .admission(ticket_id, identity.user.id, newest)
        .await?;
    let stored_user = admission.user;
    let mut greeting = admission.recent.map(|messages| Greeting { mark, messages });
    let mut ticket = admission.ticket.ok_or(ApiError::NotFound)?;
    let mut saved = false;
    // Take a slot before anything changes state (a claim), so a refused
    // connection leaves the ticket as it was.
    let slot = take_slot(state, identity.user.id)?;
    match access::access(&identity.user, &ticket) {
        Access::Granted => {}
        Access::Denied => {
            return Err(ApiError::Forbidden(
                "No tienes acceso a este ticket.".into(),
            ))
        }
        Access::ClaimOnOpen => {
            // An agent opening an unassigned ticket takes it, atomically: of
            // two agents opening it at once, one gets it and the other a 403.
            match state
                .store
                .claim_ticket(ticket.id, identity.user.clone())
                .await?
            {
                Claimed::Assigned(claimed) => {
                    crate::bus::announce_assignment(state.bus.as_ref(), &claimed);
                    ticket = claimed;
                    // The claim changed the ticket after the read.
                    greeting = None;
                    // The claim saved the agent as their token names them.
                    saved = true;
                }
                Claimed::Closed(_) => {
                    return Err(ApiError::Forbidden("El ticket está cerrado.".into()))
                }
                Claimed::HeldBy(_) => {
                    return Err(ApiError::Forbidden(
                        "El ticket ya está asignado a otro agente.".into(),
                    ))
                }
            }
        }
    }

    // A reconnecting user is usually stored as their token describes them:
    // no write (a storm of reconnections would queue one each).
    if !saved && identity.user.changes(stored_user.as_ref()) {
        state.store.upsert_user(identity.user.clone()).await?;
        // The ticket read names them as they were.
        greeting = None;
    }
    Ok(Admitted {
        identity,
        ticket,
        resume,
        slot,
        greeting,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::error::{CapacityError, Error, ProtocolError};

    fn failure(error: Error) -> Option<u16> {
        read_failure(axum::Error::new(error)).map(|close| close.code)
    }

    #[test]
    fn a_failed_read_closes_with_the_code_of_its_cause() {
        let too_long = CapacityError::MessageTooLong {
            size: 2,
            max_size: 1,
        };
        assert_eq!(failure(Error::Capacity(too_long)), Some(1009));
        assert_eq!(failure(Error::Utf8("bad".into())), Some(1007));
        for breach in [
            ProtocolError::NonZeroReservedBits,
            ProtocolError::UnknownControlFrameType(11),
            ProtocolError::UnexpectedContinueFrame,
            ProtocolError::FragmentedControlFrame,
            ProtocolError::InvalidCloseSequence,
        ] {
            assert_eq!(failure(Error::Protocol(breach)), Some(1002));
        }
        // A peer that is gone is not told anything.
        assert_eq!(
            failure(Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)),
            None
        );
        assert_eq!(failure(Error::ConnectionClosed), None);
        assert_eq!(
            failure(Error::Io(std::io::ErrorKind::ConnectionReset.into())),
            None
        );
    }

    #[test]
    fn control_frames_and_closes_never_reach_the_application() {
        assert!(matches!(
            incoming(Some(Ok(WsMessage::Ping(Default::default())))),
            Incoming::Control
        ));
        assert!(matches!(
            incoming(Some(Ok(WsMessage::Pong(Default::default())))),
            Incoming::Control
        ));
        assert!(matches!(
            incoming(Some(Ok(WsMessage::Close(None)))),
            Incoming::Closed
        ));
        assert!(matches!(incoming(None), Incoming::Closed));
        assert!(matches!(
            incoming(Some(Ok(WsMessage::Binary(vec![1].into())))),
            Incoming::Message(WsMessage::Binary(_))
        ));
        assert!(matches!(
            incoming(Some(Err(axum::Error::new(Error::Utf8("bad".into()))))),
            Incoming::Fail(CloseReason { code: 1007, .. })
        ));
    }
}
