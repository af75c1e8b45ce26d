//! The baseline: a bare WebSocket relay that speaks just enough of the
//! protocol for the `throughput` scenario (tickets, `connection_established`,
//! `mensaje` -> `mensaje_confirmado` to the sender and `mensaje_recibido` to
//! the others, with a per-ticket `seq`) and stores nothing, checks nothing.
//! Built on the same stack as the server (axum, tokio-tungstenite), it shows
//! what sockets and the generator alone cost on this machine, so the
//! server's numbers can be read against it. It runs as its own process
//! (`soporte-bench relay-server`), like the server.

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

#[derive(Default)]
struct Room {
    seq: i64,
    members: Vec<(u64, mpsc::UnboundedSender<Utf8Bytes>)>,
}

#[derive(Default)]
struct Relay {
    tickets: AtomicI64,
    connections: AtomicI64,
    rooms: Mutex<HashMap<i64, Room>>,
}

/// Serves on 127.0.0.1 until killed; prints the address like the server.
pub async fn serve() -> Result<(), String> {
    let relay = Arc::new(Relay::default());
    let router = Router::new()
        .route("/api/soporte/tickets/", post(create_ticket))
        .route("/ws/soporte/ticket/{ticket}/", get(upgrade))
        .route("/metrics", get(|| async { "" }))
        .with_state(relay);
    // The server's own listening socket (its backlog).
    let listener = soporte_server::edge::serve::listen(([127, 0, 0, 1], 0).into())
        .map_err(|e| e.to_string())?;
    println!(
        "listening on http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router)
        .await
        .map_err(|e| e.to_string())
}

async fn create_ticket(State(relay): State<Arc<Relay>>) -> impl IntoResponse {
    let id = relay.tickets.fetch_add(1, Ordering::Relaxed) + 1;
    (axum::http::StatusCode::CREATED, Json(json!({"id": id})))
}

async fn upgrade(
    State(relay): State<Arc<Relay>>,
    Path(ticket): Path<i64>,
    ws: WebSocketUpgrade,
) -> impl IntoResponse {
    // The server's own socket settings (buffer sizes, limits).
    soporte_server::ws::limited(ws, soporte_server::ws::MAX_FRAME_BYTES)
        .on_upgrade(move |socket| session(relay, ticket, socket))
}

async fn session(relay: Arc<Relay>, ticket: i64, socket: WebSocket) {
    let conn = relay.connections.fetch_add(1, Ordering::Relaxed) as u64;
    let (queue, mut outgoing) = mpsc::unbounded_channel::<Utf8Bytes>();
    relay
        .rooms
        .lock()
        .unwrap()
        .entry(ticket)
        .or_default()
        .members
        .push((conn, queue.clone()));
    let (mut sink, mut stream) = socket.split();
    let hello = json!({"tipo": "connection_established", "data": {"historial_reciente": [], "last_seq": 0}});
    let _ = queue.send(hello.to_string().into());
    let writer = tokio::spawn(async move {
        // Like the server: what is ready together leaves in one write.
        while let Some(text) = outgoing.recv().await {
            if sink.feed(Message::Text(text)).await.is_err() {
                return;
            }
            while let Ok(text) = outgoing.try_recv() {
                if sink.feed(Message::Text(text)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(frame)) = stream.next().await {
        let Message::Text(text) = frame else {
            continue;
        };
        let Ok(frame) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if frame["tipo"] != "mensaje" {
            continue;
        }
        let data = &frame["data"];
        let mut rooms = relay.rooms.lock().unwrap();
        let room = rooms.get_mut(&ticket).expect("joined");
        room.seq += 1;
        let seq = room.seq;
        let confirmed = json!({"tipo": "mensaje_confirmado", "data": {"client_id": data["client_id"], "mensaje_id": seq, "seq": seq}});
        let received: Utf8Bytes = json!({"tipo": "mensaje_recibido", "data": {"id": seq, "seq": seq, "client_id": data["client_id"], "contenido": data["mensaje"]}})
            .to_string()
            .into();
        for (member, member_queue) in &room.members {
            if *member == conn {
                let _ = member_queue.send(confirmed.to_string().into());
            } else {
                let _ = member_queue.send(received.clone());
            }
        }
    }
    if let Some(room) = relay.rooms.lock().unwrap().get_mut(&ticket) {
        room.members.retain(|(member, _)| *member != conn);
    }
    writer.abort();
}
