//! Webhooks against real HTTP receivers: signed, retried with the same id,
//! in order per ticket, written with the change they tell of (so a SIGKILL
//! loses none), claimed once across nodes, and never sent to private
//! addresses unless allowed.

use crate::helpers::*;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub event_id: String,
    pub signature: String,
    pub content_type: String,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Log {
    got: Vec<Received>,
    /// Statuses to answer, in order; 200 once they run out.
    script: VecDeque<u16>,
    /// How long each answer takes.
    delay: Duration,
}

/// A webhook receiver: a real HTTP server on 127.0.0.1.
pub struct Receiver {
    pub addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    task: tokio::task::JoinHandle<()>,
}

async fn receive(
    State(log): State<Arc<Mutex<Log>>>,
    headers: HeaderMap,
    body: String,
) -> AxumStatus {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (status, delay) = {
        let mut log = log.lock().unwrap();
        log.got.push(Received {
            event_id: header("x-soporte-event-id"),
            signature: header("x-soporte-signature"),
            content_type: header("content-type"),
            body,
        });
        (log.script.pop_front().unwrap_or(200), log.delay)
    };
    tokio::time::sleep(delay).await;
    AxumStatus::from_u16(status).unwrap()
}

impl Receiver {
    pub async fn start(script: &[u16]) -> Receiver {
        Receiver::start_on(0, script, Duration::ZERO).await
    }

    pub async fn start_on(port: u16, script: &[u16], delay: Duration) -> Receiver {
        let log = Arc::new(Mutex::new(Log {
            script: script.iter().copied().collect(),
            delay,
            ..Log::default()
        }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(log.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, log, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// How long each answer takes from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.log.lock().unwrap().delay = delay;
    }

    pub fn got(&self) -> Vec<Received> {
        self.log.lock().unwrap().got.clone()
    }

    /// Waits until `ready` holds for what it got.
    pub async fn wait_until(
        &self,
        what: &str,
        within: Duration,
        ready: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.got();
            if ready(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {within:?}; got {:#?}",
                got.iter().map(|r| r.body.as_str()).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The events of type `tipo` it got.
    pub fn events(&self, tipo: &str) -> Vec<Value> {
        self.got()
            .iter()
            .map(Received::json)
            .filter(|e| e["tipo"] == tipo)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Checks `X-Soporte-Signature` as a receiver does.
pub fn signed_by(secret: &str, received: &Received) -> bool {
    let Some((t, v1)) = received
        .signature
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", received.body).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == v1
}

/// A server that may post to 127.0.0.1, retrying fast.
async fn app_for_hooks() -> TestApp {
    spawn_with(|config| {
        config.webhooks.allow_private = true;
        config.webhooks.policy.first_retry = Duration::from_millis(100);
    })
    .await
}

async fn subscribe(app: &TestApp, body: Value) -> Value {
    let (status, webhook) = app
        .post("/api/soporte/webhooks/", &supervisor(900), body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    webhook
}

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn a_receiver_failing_twice_gets_the_event_three_times_with_one_id_and_valid_signatures() {
    let app = app_for_hooks().await;
    let receiver = Receiver::start(&[500, 500]).await;
    let webhook = subscribe(
        &app,
        json!({"url": receiver.url(), "eventos": ["mensaje.creado"], "descripcion": "CRM"}),
    )
    .await;
    let secret = webhook["secreto"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{webhook}");
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.send_message("¿Hola?", "c-1").await;
    ws.wait_for("mensaje_confirmado").await;

    let got = receiver
        .wait_until("three attempts", WAIT, |got| got.len() >= 3)
        .await;
    assert_eq!(got.len(), 3, "a 2xx ends the retries");
    for received in &got {
        assert_eq!(received.event_id, got[0].event_id);
        assert_eq!(received.body, got[0].body, "the same body every time");
        assert_eq!(received.content_type, "application/json");
        assert!(signed_by(&secret, received), "{received:?}");
        assert!(!signed_by("whsec_other", received));
    }
    let event = got[0].json();
    assert_eq!(event["id"], got[0].event_id.as_str());
    assert_eq!(event["tipo"], "mensaje.creado");
    assert_eq!(event["data"]["mensaje"]["contenido"], "¿Hola?");
    assert_eq!(event["data"]["ticket"]["id"], ticket);
    assert!(event["creado"].as_str().unwrap().ends_with('Z'), "{event}");

    // The delivery log shows each attempt.
    let id = webhook["id"].as_i64().unwrap();
    let log = eventually_delivered(&app, id).await;
    let delivery = &log["results"][0];
    assert_eq!(delivery["evento_id"], got[0].event_id.as_str());
    assert_eq!(delivery["intentos"], 3);
    let statuses: Vec<i64> = delivery["historial"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["estado_http"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, vec![500, 500, 200]);
    let (_, hooks) = app.get("/api/soporte/webhooks/", &supervisor(900)).await;
    assert_eq!(hooks["results"][0]["fallos_seguidos"], 0, "{hooks}");
    assert!(
        hooks["results"][0].get("secreto").is_none(),
        "the secret is shown once"
    );
}

/// The subscription's delivery log once its newest delivery is delivered.
async fn eventually_delivered(app: &TestApp, webhook: i64) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, log) = app
            .get(
                &format!("/api/soporte/webhooks/{webhook}/entregas/"),
                &supervisor(900),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{log}");
        if log["results"][0]["estado"] == "entregado" {
            return log;
        }
        assert!(Instant::now() < deadline, "not delivered: {log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn internal_notes_reach_only_subscriptions_that_include_them() {
    let app = app_for_hooks().await;
    let public = Receiver::start(&[]).await;
    let staff = Receiver::start(&[]).await;
    subscribe(
        &app,
        json!({"url": public.url(), "eventos": ["mensaje.creado"]}),
    )
    .await;
    subscribe(
        &app,
        json!({"url": staff.url(), "eventos": ["*"], "incluir_internos": true}),
    )
    .await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut agent_ws = app.connect(ticket, &agent(7)).await;
    agent_ws
        .send_json(json!({"tipo": "mensaje", "data": {"mensaje": "nota: cliente VIP", "client_id": "n-1", "metadata": {"interno": true}}}))
        .await;
    agent_ws.wait_for("mensaje_confirmado").await;
    agent_ws.send_message("Le ayudo enseguida", "a-1").await;
    agent_ws.wait_for("mensaje_confirmado").await;

    let contents = |events: Vec<Value>| -> Vec<String> {
        events
            .iter()
            .map(|e| {
                e["data"]["mensaje"]["contenido"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    staff
        .wait_until("both to staff", WAIT, |got| {
            got.iter()
                .filter(|r| r.body.contains("mensaje.creado"))
                .count()
                >= 2
        })
        .await;
    assert_eq!(
        contents(staff.events("mensaje.creado")),
        vec!["nota: cliente VIP", "Le ayudo enseguida"],
        "in order"
    );
    let note = &staff.events("mensaje.creado")[0];
    assert_eq!(note["data"]["mensaje"]["interno"], true);
    // Per-ticket order: once the reply is there, the note would have been
    // delivered before it.
    public
        .wait_until("the reply", WAIT, |got| !got.is_empty())
        .await;
    assert_eq!(
        contents(public.events("mensaje.creado")),
        vec!["Le ayudo enseguida"]
    );
    assert!(!public.got().iter().any(|r| r.body.contains("VIP")));
}

#[tokio::test]
async fn ticket_events_tell_creation_assignment_transfer_and_state_with_the_hosts_id() {
    let app = app_for_hooks().await;
    let receiver = Receiver::start(&[]).await;
    subscribe(
        &app,
        json!({"url": receiver.url(), "eventos": ["ticket.creado", "ticket.asignado", "ticket.transferido", "ticket.estado_cambiado"]}),
    )
    .await;
    for (id, name) in [(50, "Ana"), (60, "Luis")] {
        let (status, body) = app
            .send(
                reqwest::Method::PUT,
                &format!("/api/soporte/usuarios/{id}/"),
                &supervisor(900),
                Some(json!({"nombre": name, "rol": "AGENTE"})),
            )
            .await;
        assert!(status.is_success(), "{body}");
    }
    let (status, ticket) = app
        .post(
            "/api/soporte/tickets/",
            &supervisor(900),
            json!({"asunto": "Factura", "cliente": {"id": 1, "nombre": "Cliente"}, "external_id": "HD-7", "metadata": {"plan": "pro"}, "agente": 50}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    let id = ticket["id"].as_i64().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/soporte/tickets/{id}/chat/transfer/"),
            &supervisor(900),
            json!({"agente_id": 60, "motivo": "turno"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(
            &format!("/api/soporte/tickets/{id}/estado/"),
            &agent(60),
            json!({"estado": "RESUELTO"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let got = receiver
        .wait_until("four ticket events", WAIT, |got| got.len() >= 4)
        .await;
    let events: Vec<Value> = got.iter().map(Received::json).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["tipo"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        vec![
            "ticket.creado",
            "ticket.asignado",
            "ticket.transferido",
            "ticket.estado_cambiado"
        ]
    );
    for event in &events {
        assert_eq!(event["data"]["ticket"]["id"], id);
        assert_eq!(event["data"]["ticket"]["external_id"], "HD-7");
        assert_eq!(event["data"]["ticket"]["metadata"]["plan"], "pro");
    }
    assert_eq!(events[2]["data"]["ticket"]["agente"]["id"], 60);
    assert_eq!(events[2]["data"]["agente_anterior"]["id"], 50);
    assert_eq!(events[2]["data"]["motivo"], "turno");
    assert_eq!(events[3]["data"]["ticket"]["estado"], "RESUELTO");
    let ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4, "each event its own id");
}

#[tokio::test]
async fn subscriptions_are_checked_and_private_addresses_refused_without_the_flag() {
    // The default: webhooks only to public addresses.
    let app = spawn_app().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://10.0.0.8/hook",
        "http://localhost:8000/hook",
        "http://0x7f000001/hook",
    ] {
        let (status, body) = app
            .post(
                "/api/soporte/webhooks/",
                &supervisor(900),
                json!({"url": url, "eventos": ["*"]}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert!(
            body["detalle"].as_str().unwrap().contains("privada"),
            "{url}: {body}"
        );
    }
    for (body, why) in [
        (
            json!({"url": "ftp://example.com/", "eventos": ["*"]}),
            "scheme",
        ),
        (
            json!({"url": "https://u:p@example.com/", "eventos": ["*"]}),
            "credentials",
        ),
        (
            json!({"url": "https://example.com/", "eventos": []}),
            "no events",
        ),
        (
            json!({"url": "https://example.com/", "eventos": ["mensaje.borrado"]}),
            "unknown event",
        ),
        (
            json!({"url": "https://example.com/", "eventos": ["*"], "extra": 1}),
            "unknown field",
        ),
        (json!({"eventos": ["*"]}), "no url"),
    ] {
        let (status, answer) = app
            .post("/api/soporte/webhooks/", &supervisor(900), body)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {answer}");
        assert!(answer["detalle"].is_string(), "{why}: {answer}");
    }
    // Not a supervisor, or a bad key: refused.
    let (status, _) = app
        .post(
            "/api/soporte/webhooks/",
            &agent(7),
            json!({"url": "https://example.com/", "eventos": ["*"]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let response = app
        .http
        .post(app.url("/api/soporte/webhooks/"))
        .header(
            "Authorization",
            "Api-Key sop_00000000.".to_string() + &"0".repeat(64),
        )
        .json(&json!({"url": "https://example.com/", "eventos": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert!(body["detalle"].is_string(), "{body}");
    // Nothing was made.
    let (_, list) = app.get("/api/soporte/webhooks/", &supervisor(900)).await;
    assert_eq!(list["count"], 0, "{list}");
}

#[tokio::test]
async fn deleting_a_subscription_stops_it_and_a_delivery_can_be_sent_again() {
    let app = app_for_hooks().await;
    let receiver = Receiver::start(&[]).await;
    let webhook = subscribe(
        &app,
        json!({"url": receiver.url(), "eventos": ["mensaje.creado"]}),
    )
    .await;
    let id = webhook["id"].as_i64().unwrap();
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.send_message("uno", "c-1").await;
    ws.wait_for("mensaje_confirmado").await;
    receiver
        .wait_until("the first", WAIT, |got| got.len() == 1)
        .await;
    let log = eventually_delivered(&app, id).await;
    let delivery = log["results"][0]["id"].as_i64().unwrap();

    let (status, _) = app
        .post(
            &format!("/api/soporte/webhooks/{id}/entregas/{delivery}/reenviar/"),
            &supervisor(900),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let got = receiver
        .wait_until("sent again", WAIT, |got| got.len() == 2)
        .await;
    assert_eq!(got[0].event_id, got[1].event_id, "the same event");
    let (status, _) = app
        .post(
            &format!("/api/soporte/webhooks/{id}/entregas/999999/reenviar/"),
            &supervisor(900),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/soporte/webhooks/{id}/"),
            &supervisor(900),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    ws.send_message("dos", "c-2").await;
    ws.wait_for("mensaje_confirmado").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.got().len(), 2, "nothing after the deletion");
    let (status, _) = app
        .get(
            &format!("/api/soporte/webhooks/{id}/entregas/"),
            &supervisor(900),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_endpoint_that_keeps_failing_is_paused_without_holding_up_the_others() {
    let app = spawn_with(|config| {
        config.webhooks.allow_private = true;
        config.webhooks.policy.first_retry = Duration::from_millis(20);
    })
    .await;
    let broken = Receiver::start(&[500; 50]).await;
    let healthy = Receiver::start(&[]).await;
    let failing = subscribe(
        &app,
        json!({"url": broken.url(), "eventos": ["mensaje.creado"]}),
    )
    .await;
    let sound = subscribe(
        &app,
        json!({"url": healthy.url(), "eventos": ["mensaje.creado"]}),
    )
    .await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.send_message("hola", "c-1").await;
    ws.wait_for("mensaje_confirmado").await;
    healthy
        .wait_until("the healthy one", WAIT, |got| got.len() == 1)
        .await;
    broken
        .wait_until("five failures", WAIT, |got| got.len() >= 5)
        .await;
    let id = failing["id"].as_i64();
    let deadline = Instant::now() + WAIT;
    let paused = loop {
        let (_, list) = app.get("/api/soporte/webhooks/", &supervisor(900)).await;
        let hook = list["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"].as_i64() == id)
            .cloned()
            .unwrap();
        if hook["pausado_hasta"].is_string() {
            break hook;
        }
        assert!(Instant::now() < deadline, "not paused: {hook}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(paused["fallos_seguidos"], 5, "{paused}");
    // Paused for 30 s: no sixth attempt meanwhile; the other endpoint goes on.
    ws.send_message("otra", "c-2").await;
    ws.wait_for("mensaje_confirmado").await;
    healthy
        .wait_until("the second", WAIT, |got| got.len() == 2)
        .await;
    assert_eq!(broken.got().len(), 5);
    // Received is not yet recorded: the backlog is read once the healthy
    // one's second delivery is marked delivered.
    eventually_delivered(&app, sound["id"].as_i64().unwrap()).await;
    let read = |metrics: &str, name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    // The delivered counter moves just after the delivery is recorded.
    let metrics = app
        .metrics_when(|m| read(m, "soporte_webhooks_delivered_total") >= 2.0)
        .await;
    let metric = |name: &str| read(&metrics, name);
    // The outbox is this test's database; counters are the process's.
    assert_eq!(
        metric("soporte_webhooks_pending"),
        2.0,
        "one retrying, one behind it"
    );
    assert!(metric("soporte_webhooks_oldest_pending_seconds") > 0.0);
    assert!(metric("soporte_webhooks_retries_total") >= 5.0);
    assert!(metric("soporte_webhooks_delivered_total") >= 2.0);
}

/// A child process killed when dropped (a failed assertion included).
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `soporte serve` as a child process, posting to 127.0.0.1 and retrying fast.
pub fn serve(database_url: &str, files: &std::path::Path, more: &[&str]) -> (Killed, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_soporte"))
        .args(["serve", "--bind", "127.0.0.1:0", "--msg-rate", "0"])
        .args(["--webhook-allow-private", "--webhook-first-retry", "100ms"])
        .args(more)
        .arg("--database-url")
        .arg(database_url)
        .arg("--storage")
        .arg(files)
        .env("SOPORTE_JWT_SECRET", SECRET)
        .env("SOPORTE_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("the soporte binary starts");
    let addr = listening_addr(&mut child);
    (Killed(child), addr)
}

pub async fn post_at(addr: &str, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn an_event_owed_to_a_receiver_that_was_down_survives_sigkill_and_arrives_after_restart() {
    let db = TestDb::new().await;
    let files = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    // A short timeout keeps the lease of an attempt cut off by the kill
    // short (2 × timeout + 5 s): the restarted server waits it out.
    let flags = ["--webhook-timeout", "1s"];
    let (mut server, addr) = serve(&db.url_text(), files.path(), &flags);
    let (status, webhook) = post_at(
        &addr,
        "/api/soporte/webhooks/",
        &supervisor(900),
        json!({"url": url, "eventos": ["mensaje.creado"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    let secret = webhook["secreto"].as_str().unwrap().to_string();
    let ticket = create_ticket_at(&addr, &customer(1), "Pedido").await;
    let mut ws = connect_at(&addr, ticket, &customer(1)).await;
    ws.send_message("confirmado antes del corte", "c-1").await;
    ws.wait_for("mensaje_confirmado").await;
    // The receiver is down: the event waits in the outbox. SIGKILL.
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    drop(ws);

    let receiver = Receiver::start_on(port, &[], Duration::ZERO).await;
    let (server, _addr) = serve(&db.url_text(), files.path(), &flags);
    let got = receiver
        .wait_until("the event after restart", WAIT, |got| !got.is_empty())
        .await;
    let event = got[0].json();
    assert_eq!(
        event["data"]["mensaje"]["contenido"],
        "confirmado antes del corte"
    );
    assert!(signed_by(&secret, &got[0]));
    drop(server);
}

#[tokio::test]
async fn events_of_one_ticket_arrive_in_order_even_when_one_attempt_fails() {
    let app = app_for_hooks().await;
    let receiver = Receiver::start(&[200, 500]).await;
    subscribe(
        &app,
        json!({"url": receiver.url(), "eventos": ["mensaje.creado"]}),
    )
    .await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    for n in 0..8 {
        ws.send_message(&format!("m{n}"), &format!("c-{n}")).await;
    }
    for _ in 0..8 {
        ws.wait_for("mensaje_confirmado").await;
    }
    let got = receiver
        .wait_until("eight events", WAIT, |got| {
            got.iter()
                .map(|r| &r.event_id)
                .collect::<HashSet<_>>()
                .len()
                == 8
        })
        .await;
    let order: Vec<u32> = got
        .iter()
        .map(|r| {
            let content = r.json()["data"]["mensaje"]["contenido"]
                .as_str()
                .unwrap()
                .to_string();
            content[1..].parse().unwrap()
        })
        .collect();
    // The failed second event is posted again before any later one.
    assert_eq!(order[..3], [0, 1, 1], "{order:?}");
    assert!(
        order.windows(2).all(|w| w[0] <= w[1]),
        "never overtaken: {order:?}"
    );
}
