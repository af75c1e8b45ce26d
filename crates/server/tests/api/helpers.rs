//! A real server on a free port, and typed clients that talk to it the way
//! browsers and the seed's JavaScript do.

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use soporte_protocol::Role;
use soporte_server::auth::{Minter, TokenRequest, Verifier};
use soporte_server::config::DatabaseUrl;
use soporte_server::files::storage::StorageLocation;
use soporte_server::{Application, Config};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const SECRET: &str = "secreto-de-pruebas-de-al-menos-32-bytes!!";
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(5);

/// A valid 1×1 PNG.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\x0dIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82";

/// The address a `soporte serve --bind 127.0.0.1:0` child prints on its
/// first line of stdout.
pub fn listening_addr(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string()
}

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    /// Where `/metrics` is served alone, with `--metrics-bind`.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub http: reqwest::Client,
    /// Holds the test's attachment folder until the app is dropped.
    _dir: TempDir,
    /// Holds the test's database until every app on it is dropped.
    _database: TestDb,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// The environment variable that runs the suite on PostgreSQL: the URL of a
/// server where each test makes a schema of its own.
pub const POSTGRES_ENV: &str = "SOPORTE_TEST_POSTGRES";

/// A test's database: a fresh SQLite file, or, when [`POSTGRES_ENV`] is set,
/// a fresh schema on that PostgreSQL server. Clones share it; the last one
/// dropped removes it.
#[derive(Clone)]
pub enum TestDb {
    Sqlite(Arc<TempDir>),
    Postgres(Arc<PgSchema>),
}

impl TestDb {
    pub async fn new() -> TestDb {
        match PgSchema::create().await {
            Some(schema) => TestDb::Postgres(Arc::new(schema)),
            None => TestDb::Sqlite(Arc::new(tempfile::tempdir().unwrap())),
        }
    }

    pub fn url(&self) -> DatabaseUrl {
        match self {
            TestDb::Sqlite(dir) => DatabaseUrl::Sqlite(dir.path().join("soporte.db")),
            TestDb::Postgres(schema) => DatabaseUrl::Postgres(schema.url.clone()),
        }
    }

    /// As `--database-url` spells it.
    pub fn url_text(&self) -> String {
        match self.url() {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => url,
        }
    }

    pub fn postgres(&self) -> Option<&PgSchema> {
        match self {
            TestDb::Postgres(schema) => Some(schema),
            TestDb::Sqlite(_) => None,
        }
    }
}

/// A schema of the test's own on the server [`POSTGRES_ENV`] names (a schema,
/// not a database: creating and dropping one takes milliseconds, a database
/// seconds). The store's connections find it through `search_path`, set in
/// the URL, and carry its name as `application_name`, so a test can tell
/// its own connections from the others'.
pub struct PgSchema {
    /// The URL the server is given.
    pub url: String,
    /// The URL of the server as the environment gave it.
    pub admin_url: String,
    pub name: String,
}

impl PgSchema {
    /// `None` when [`POSTGRES_ENV`] is not set.
    pub async fn create() -> Option<PgSchema> {
        let admin_url = std::env::var(POSTGRES_ENV)
            .ok()
            .filter(|url| !url.is_empty())?;
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).unwrap();
        let name = format!("soporte_t_{:016x}", u64::from_le_bytes(random));
        let admin = pg_admin(&admin_url).await;
        admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap_or_else(|e| panic!("creating schema {name}: {e}"));
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!(
            "{admin_url}{separator}options=-c%20search_path%3D{name}&application_name={name}"
        );
        Some(PgSchema {
            url,
            admin_url,
            name,
        })
    }

    /// Ends every connection the store of this schema holds (as a database
    /// restart would); returns how many.
    pub async fn terminate_connections(&self) -> i64 {
        pg_admin(&self.admin_url)
            .await
            .query_one(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                &[&self.name],
            )
            .await
            .unwrap()
            .get(0)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // Not on the test's runtime (it may be shutting down): a thread of
        // its own, with a runtime of its own.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let admin = pg_admin(&admin_url).await;
                let _ = admin
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                        &[&name],
                    )
                    .await;
                admin
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .await
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test schema {}: {error}", self.name);
        }
    }
}

/// A connection to the test server itself.
pub async fn pg_admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_ENV}={url}: cannot connect: {e}"));
    tokio::spawn(connection);
    client
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// Starts a server whose config `adjust` may change (the database is always a
/// fresh one of the test's own; rate limits are off unless a test sets them).
pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_with_verifier(Verifier::hs256(SECRET).unwrap(), adjust).await
}

pub async fn spawn_with_verifier(verifier: Verifier, adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_on(&TestDb::new().await, verifier, adjust).await
}

/// Starts a server on `database`, which other servers of the test may share
/// (one after the other, or at once as nodes of a cluster).
pub async fn spawn_on(
    database: &TestDb,
    verifier: Verifier,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_database(dir.path().join("unused.db"));
    config.database = database.url();
    config.msg_rate = 0;
    // Every test client is 127.0.0.1; the per-address rate has its own test.
    config.requests_per_ip = 0;
    config.storage = StorageLocation::Folder(dir.path().join("files"));
    adjust(&mut config);
    let app = Application::build(config, verifier)
        .await
        .expect("server builds");
    let addr = app.local_addr();
    let metrics_addr = app.metrics_addr();
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
        metrics_addr,
        http: reqwest::Client::new(),
        _dir: dir,
        _database: database.clone(),
        stop: Some(stop),
        server: Some(server),
    }
}

pub fn token(id: i64, name: &str, role: Role) -> String {
    token_with_ttl(id, name, role, 3600)
}

/// The `id` of each object in the JSON array `list` (a page's `results`).
pub fn ids_in(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

pub fn token_with_ttl(id: i64, name: &str, role: Role, ttl_seconds: u64) -> String {
    Minter::hs256(SECRET).unwrap().mint(&TokenRequest {
        id,
        name,
        role,
        avatar: None,
        ttl_seconds,
        issuer: None,
        audience: None,
    })
}

pub fn customer(id: i64) -> String {
    token(id, &format!("Cliente {id}"), Role::Customer)
}

pub fn agent(id: i64) -> String {
    token(id, &format!("Agente {id}"), Role::Agent)
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

    /// This app's SQLite database file (`None` when the suite runs on
    /// PostgreSQL).
    pub fn database_path(&self) -> Option<std::path::PathBuf> {
        match self._database.url() {
            DatabaseUrl::Sqlite(path) => Some(path),
            DatabaseUrl::Postgres(_) => None,
        }
    }

    /// A `next` link (an absolute URL) read with `token`: its JSON body.
    pub async fn follow(&self, url: &str, token: &str) -> Value {
        let response = self.http.get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        response.json().await.unwrap()
    }

    /// The Prometheus text at `/metrics`: on its own listener when the app
    /// has one (`--metrics-bind`), else on the chat port.
    pub async fn metrics(&self) -> String {
        let url = match self.metrics_addr {
            Some(apart) => format!("http://{apart}/metrics"),
            None => self.url("/metrics"),
        };
        let response = self.http.get(url).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// The metrics text once `ready` holds for it (or after 10 s, for the
    /// caller's assertion to show): counters move just after the work they
    /// count is seen from outside (an email received, a socket closed).
    pub async fn metrics_when(&self, ready: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let text = self.metrics().await;
            if ready(&text) || std::time::Instant::now() > deadline {
                return text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
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

/// A new ticket of `token`'s on the server at `addr` (a binary a test
/// started itself, not a [`TestApp`]).
pub async fn create_ticket_at(addr: &str, token: &str, asunto: &str) -> i64 {
    let body: Value = reqwest::Client::new()
        .post(format!("http://{addr}/api/soporte/tickets/"))
        .bearer_auth(token)
        .json(&json!({ "asunto": asunto }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["id"].as_i64().unwrap()
}

/// A socket on `url`, which must accept it.
pub async fn open_socket(url: &str) -> WsClient {
    let (stream, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    WsClient { stream }
}

/// A socket on `ticket` of the server at `addr` (see [`create_ticket_at`]).
pub async fn connect_at(addr: &str, ticket: i64, token: &str) -> WsClient {
    open_socket(&format!(
        "ws://{addr}/ws/soporte/ticket/{ticket}/?token={token}"
    ))
    .await
}

/// Whether this process's peak memory can be reset and read (Linux's /proc).
pub fn peak_rss_resettable() -> bool {
    std::path::Path::new("/proc/self/clear_refs").exists()
}

/// Resets this process's peak resident memory to what it uses now (writing
/// 5 to clear_refs resets VmHWM), and returns that, in bytes.
pub fn reset_peak_rss() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    peak_rss()
}

/// This process's peak resident memory since the last reset, in bytes.
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}
