//! `soporte ws-echo` (a hidden subcommand): a WebSocket echo on
//! `127.0.0.1`, for protocol conformance runs (`scripts/autobahn`, the
//! Autobahn|Testsuite fuzzing client, which needs an echo to judge).
//!
//! The chat endpoints speak JSON and cannot echo, so this route stands in
//! for them with the same stack and the same handling: the socket settings
//! of [`super::limited`] (one `--max-frame-size` flag, as `serve` has), every
//! read sorted by [`super::incoming`] (pings answered by the library, the
//! close codes of [`super::read_failure`]), every send through
//! [`super::send`], every goodbye through [`super::finish`]. What differs
//! is what becomes of a message (here it goes back as it came) and so how
//! large a frame may be sent (`write_cap`).

use super::{finish, incoming, limited, send, ws_message_limit, Incoming, MAX_WRITE_BUFFER_BYTES};
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

/// The echo, at `/` (any path the client asks for: the fuzzing client asks
/// for `/`), with the socket limits every Soporte WebSocket gets for an
/// application frame limit of `max_frame`.
pub fn router(max_frame: usize) -> Router {
    Router::new()
        .route("/", get(upgrade))
        .fallback(get(upgrade))
        .with_state(max_frame)
}

async fn upgrade(State(max_frame): State<usize>, ws: WebSocketUpgrade) -> Response {
    limited(ws, max_frame)
        .max_write_buffer_size(write_cap(max_frame))
        .on_upgrade(echo)
}

/// The one setting that differs from [`limited`]'s: an echo sends back
/// messages as large as it reads, while the server itself never sends a
/// frame over [`MAX_WRITE_BUFFER_BYTES`]. With the default frame limit this
/// is that same 1 MiB; it grows only with a raised `--max-frame-size`.
fn write_cap(max_frame: usize) -> usize {
    /// A frame's header: 2 bytes, 8 of length, 4 of mask.
    const FRAME_HEADER: usize = 14;
    MAX_WRITE_BUFFER_BYTES.max(ws_message_limit(max_frame) + FRAME_HEADER)
}

/// Sends every text and binary message back until the peer leaves or breaks
/// the protocol.
async fn echo(mut socket: WebSocket) {
    let end = loop {
        match incoming(socket.recv().await) {
            Incoming::Message(message) => {
                if send(&mut socket, message).await.is_err() {
                    break None;
                }
            }
            Incoming::Control => {}
            Incoming::Closed => break None,
            Incoming::Fail(close) => break Some(close),
        }
    };
    finish(&mut socket, end).await;
}

/// Serves the echo on `127.0.0.1:port` until Ctrl-C or SIGTERM; `bound` is
/// told the address (the port, when `port` is 0).
pub async fn serve(
    port: u16,
    max_frame: usize,
    bound: impl FnOnce(std::net::SocketAddr),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).await?;
    bound(listener.local_addr()?);
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            crate::edge::serve::shutdown_signal().await;
            shutdown.cancel();
        }
    });
    crate::edge::serve::serve(
        listener,
        router(max_frame),
        std::time::Duration::from_secs(crate::config::HTTP_HEADER_TIMEOUT_SECS),
        // A conformance tool, not a service: no per-address limit.
        crate::edge::per_ip::PerIp::new(0, 0),
        shutdown,
    )
    .await;
    Ok(())
}
