//! A real server on a free port, and typed clients that talk to it the way
//! browsers and the seed's JavaScript do.

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use soporte_protocol::Role;
use soporte_server::auth::{Minter, TokenRequest, Verifier};
use soporte_server::files::storage::StorageLocation;
use soporte_server::{Application, Config};
use std::time::Duration;
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const SECRET: &str = "secreto-de-pruebas-de-al-menos-32-bytes!!";
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(5);

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub http: reqwest::Client,
    /// Holds the test's database until the app is dropped.
    _dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// Starts a server whose config `adjust` may change (the database is always a
/// fresh file of the test's own; rate limits are off unless a test sets them).
pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_with_verifier(Verifier::hs256(SECRET).unwrap(), adjust).await
}

pub async fn spawn_with_verifier(verifier: Verifier, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_database(dir.path().join("soporte.db"));
    config.msg_rate = 0;
    config.storage = StorageLocation::Folder(dir.path().join("files"));
    adjust(&mut config);
    let app = Application::build(config, verifier)
        .await
        .expect("server builds");
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    TestApp {
        addr,
        http: reqwest::Client::new(),
        _dir: dir,
        stop: Some(stop),
        server: Some(server),
    }
}

pub fn token(id: i64, name: &str, role: Role) -> String {
    token_with_ttl(id, name, role, 3600)
}

pub fn token_with_ttl(id: i64, name: &str, role: Role, ttl_seconds: u64) -> String {
    Minter::hs256(SECRET).unwrap().mint(&TokenRequest {
        id,
        name,
        role,
        avatar: None,
        ttl_seconds,
    })
}

pub fn customer(id: i64) -> String {
    token(id, &format!("Cliente {id}"), Role::Cliente)
}

pub fn agent(id: i64) -> String {
    token(id, &format!("Agente {id}"), Role::Agente)
}

pub fn supervisor(id: i64) -> String {
    token(id, &format!("Supervisor {id}"), Role::Supervisor)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self, ticket: i64, token: &str) -> String {
        format!(
            "ws://{}/ws/soporte/ticket/{}/?token={}",
            self.addr, ticket, token
        )
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Creates a ticket as a customer and returns its id.
    pub async fn ticket_for(&self, customer_token: &str) -> i64 {
        let (status, body) = self
            .post(
                "/api/soporte/tickets/",
                customer_token,
                json!({"asunto": "No puedo entrar"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().unwrap()
    }

    pub async fn connect(&self, ticket: i64, token: &str) -> WsClient {
        self.connect_url(&self.ws_url(ticket, token)).await
    }

    /// Opens an agent's inbox and returns it with its opening `inbox` data.
    pub async fn inbox(&self, token: &str) -> (WsClient, Value) {
        let mut inbox = self
            .connect_url(&format!(
                "ws://{}/ws/soporte/agentes/?token={}",
                self.addr, token
            ))
            .await;
        let snapshot = inbox.expect("inbox").await;
        (inbox, snapshot)
    }

    pub async fn connect_url(&self, url: &str) -> WsClient {
        match self.try_connect_with(url, None).await {
            Ok(client) => client,
            Err((status, body)) => panic!("connection refused with {status}: {body}"),
        }
    }

    /// Opens a socket; a refused upgrade gives its status and JSON body.
    pub async fn try_connect_with(
        &self,
        url: &str,
        origin: Option<&str>,
    ) -> Result<WsClient, (u16, Value)> {
        let mut request = url.into_client_request().unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(WsClient { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let status = response.status().as_u16();
                let body = response
                    .body()
                    .as_ref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                Err((status, body))
            }
            Err(other) => panic!("unexpected connection error: {other}"),
        }
    }

    /// This app's SQLite database file.
    pub fn database_path(&self) -> std::path::PathBuf {
        self._dir.path().join("soporte.db")
    }

    /// Where this app keeps attachment bytes.
    pub fn storage_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("files")
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), server).await;
        }
    }
}

pub struct WsClient {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a socket ended.
#[derive(Debug)]
pub struct Closed {
    pub code: Option<u16>,
    pub reason: String,
}

impl WsClient {
    pub async fn send_json(&mut self, value: Value) {
        self.stream
            .send(WsMessage::Text(value.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.stream
            .send(WsMessage::Text(text.to_string().into()))
            .await
            .unwrap();
    }

    /// Sends a `mensaje` exactly as the seed's `sendMessage` builds it.
    pub async fn send_message(&mut self, text: &str, client_id: &str) {
        self.send_json(json!({
            "tipo": "mensaje",
            "data": {"mensaje": text, "timestamp": "2024-09-20T17:30:00Z", "client_id": client_id, "metadata": {}}
        }))
        .await;
    }

    /// The next JSON frame (pings and pongs skipped); panics on timeout or close.
    pub async fn next_frame(&mut self) -> Value {
        match self.next_frame_within(FRAME_TIMEOUT).await {
            Ok(Some(frame)) => frame,
            Ok(None) => panic!("no frame within {FRAME_TIMEOUT:?}"),
            Err(closed) => panic!("socket closed: {closed:?}"),
        }
    }

    /// `Ok(None)` when nothing arrived within `wait`; `Err` when the socket closed.
    pub async fn next_frame_within(&mut self, wait: Duration) -> Result<Option<Value>, Closed> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next()).await;
            match next {
                Err(_) => return Ok(None),
                Ok(None) => {
                    return Err(Closed {
                        code: None,
                        reason: String::new(),
                    })
                }
                Ok(Some(Err(_))) => {
                    return Err(Closed {
                        code: None,
                        reason: String::new(),
                    })
                }
                Ok(Some(Ok(WsMessage::Text(text)))) => {
                    return Ok(Some(serde_json::from_str(&text).unwrap()))
                }
                Ok(Some(Ok(WsMessage::Close(frame)))) => {
                    return Err(Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    })
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The `data` of the next frame, which must be of `tipo`.
    pub async fn expect(&mut self, tipo: &str) -> Value {
        let frame = self.next_frame().await;
        assert_eq!(frame["tipo"], tipo, "expected {tipo}, got {frame}");
        frame["data"].clone()
    }

    /// The `data` of the next frame of `tipo`, skipping others.
    pub async fn wait_for(&mut self, tipo: &str) -> Value {
        loop {
            let frame = self.next_frame().await;
            if frame["tipo"] == tipo {
                return frame["data"].clone();
            }
        }
    }

    /// The next frame whose `tipo` is one of `tipos` (whole frame), skipping others.
    pub async fn wait_for_any(&mut self, tipos: &[&str]) -> Value {
        loop {
            let frame = self.next_frame().await;
            if tipos.iter().any(|t| frame["tipo"] == *t) {
                return frame;
            }
        }
    }

    /// Asserts that no frame of `tipo` arrives within `wait`.
    pub async fn assert_no(&mut self, tipo: &str, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame_within(left).await {
                Ok(None) => return,
                Ok(Some(frame)) => assert_ne!(frame["tipo"], tipo, "unexpected {frame}"),
                Err(closed) => panic!("socket closed: {closed:?}"),
            }
        }
    }

    /// Waits for the server to close the socket and returns how.
    pub async fn closed_within(&mut self, wait: Duration) -> Closed {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame_within(left).await {
                Ok(None) => panic!("socket still open after {wait:?}"),
                Ok(Some(_)) => continue,
                Err(closed) => return closed,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self
            .stream
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "adiós".into(),
            }))
            .await;
        // Drain until the server's close arrives, so the server has seen it.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.stream.next().await {}
        })
        .await;
    }
}
