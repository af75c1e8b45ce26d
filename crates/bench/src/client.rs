//! Protocol clients: tokens, tickets over REST, sockets that speak the frames.

use crate::server::{Server, SECRET};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::StreamExt;
use serde_json::json;
use soporte_protocol::Role;
use soporte_server::auth::{Minter, TokenRequest};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub type Sink = SplitSink<Socket, tokio_tungstenite::tungstenite::Message>;
pub type Stream = SplitStream<Socket>;

pub fn token(id: i64, role: Role) -> String {
    Minter::hs256(SECRET)
        .expect("bench secret is long enough")
        .mint(&TokenRequest {
            id,
            name: &format!("bench {id}"),
            role,
            avatar: None,
            ttl_seconds: 86_400,
            issuer: None,
            audience: None,
        })
}

pub async fn create_ticket(
    http: &reqwest::Client,
    server: &Server,
    customer: i64,
) -> Result<i64, String> {
    let response = http
        .post(format!("{}/api/soporte/tickets/", server.base))
        .bearer_auth(token(customer, Role::Customer))
        .json(&json!({"asunto": "bench"}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    body["id"]
        .as_i64()
        .ok_or_else(|| format!("no ticket id in {body}"))
}

/// The generator's socket settings. tungstenite zeroes its whole read
/// buffer before every read (128 KiB by default): on the 2 cores the server
/// shares with the generator, that alone took 15% of the CPU in the fan-out
/// scenario. Frames here are small; 8 KiB reads are plenty.
pub fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(8 * 1024)
}

/// Opens a socket and waits for `connection_established`.
pub async fn connect(
    server: &Server,
    ticket: i64,
    user: i64,
    role: Role,
) -> Result<(Sink, Stream), String> {
    let url = format!(
        "{}/ws/soporte/ticket/{ticket}/?token={}",
        server.ws_base(),
        token(user, role)
    );
    let (socket, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(socket_config()), true)
            .await
            .map_err(|e| e.to_string())?;
    let (sink, mut stream) = socket.split();
    loop {
        match stream.next().await {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                if text.contains("\"connection_established\"") {
                    return Ok((sink, stream));
                }
            }
            Some(Ok(_)) => continue,
            other => return Err(format!("no connection_established: {other:?}")),
        }
    }
}

/// A `mensaje` frame as the seed builds it.
pub fn message_frame(text: &str, client_id: &str) -> tokio_tungstenite::tungstenite::Message {
    let frame = json!({"tipo": "mensaje", "data": {"mensaje": text, "client_id": client_id, "metadata": {}}});
    tokio_tungstenite::tungstenite::Message::Text(frame.to_string().into())
}

/// A GET with the bearer `token`: how long it took (the body read) and the
/// body's size; an error status is an error, with the body.
pub async fn timed_get(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> Result<(std::time::Duration, usize), String> {
    let started = std::time::Instant::now();
    let response = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    let took = started.elapsed();
    if !status.is_success() {
        return Err(format!(
            "{url}: {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    Ok((took, body.len()))
}
