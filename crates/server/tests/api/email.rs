//! Email when nobody is watching, against a real SMTP server (aiosmtpd, in
//! `fixtures/smtp_sink.py`): the unread-reply email arrives after the delay
//! with every unread reply, escaped; reading first cancels it; it is never
//! sent twice; and one owed when the server is killed goes out after the
//! restart. The delay passes on a moved clock, never a sleep.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use soporte_server::clock::Clock;
use soporte_server::config::EmailSettings;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// aiosmtpd on a free port, writing what it receives to a folder.
pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smtp_sink.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the SMTP sink (pip install aiosmtpd)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        SmtpSink { port, dir, child }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages received so far, in order.
    pub fn received(&self) -> Vec<Value> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }

    /// Waits until `n` messages arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} emails arrived",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const DELAY: Duration = Duration::from_secs(180);

pub fn settings(sink: &SmtpSink) -> EmailSettings {
    EmailSettings {
        smtp_url: sink.url(),
        from: "Soporte <soporte@example.com>".into(),
        unread_after: DELAY,
        link: Some("https://ayuda.example.com/chat?ticket={ticket}".into()),
    }
}

/// Customer 7, with an address, and their ticket.
async fn customer_with_email(app: &TestApp) -> i64 {
    let (status, body) = app
        .send(
            reqwest::Method::PUT,
            "/api/soporte/usuarios/7/",
            &supervisor(90),
            Some(json!({"nombre": "Ana", "rol": "CLIENTE", "email": "ana@example.com"})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    app.ticket_for(&customer(7)).await
}

/// Sends `text` as `token` and returns the stored message's id.
pub async fn say(app: &TestApp, ticket: i64, token: &str, id: &str, text: &str) -> i64 {
    let path = format!("/api/soporte/tickets/{ticket}/chat/sync/");
    let body = json!({"messages": [{"client_id": id, "contenido": text}]});
    let (status, answer) = app.post(&path, token, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["results"][0]["mensaje_id"].as_i64().unwrap()
}

pub async fn spawn_emailing(sink: &SmtpSink, clock: &Clock) -> TestApp {
    let (settings, clock) = (settings(sink), clock.clone());
    spawn_with(move |c| {
        c.email = Some(settings);
        c.clock = clock;
    })
    .await
}

/// Nothing more arrives for a while (what "never twice" can be shown by).
pub async fn still(sink: &SmtpSink, n: usize) {
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.received().len(), n, "{:?}", sink.received());
}

#[tokio::test]
async fn an_unread_reply_is_emailed_after_the_delay_with_every_unread_reply_escaped() {
    let sink = SmtpSink::start();
    let clock = Clock::movable();
    let app = spawn_emailing(&sink, &clock).await;
    let ticket = customer_with_email(&app).await;
    say(&app, ticket, &customer(7), "q", "¿Dónde está mi factura?").await;
    say(&app, ticket, &supervisor(90), "a1", "Te la envío ahora.").await;
    say(
        &app,
        ticket,
        &supervisor(90),
        "a2",
        "<script>alert(1)</script> & \"listo\"",
    )
    .await;
    // A note is the team's: never emailed.
    let note = json!({"messages": [{"client_id": "n", "contenido": "Cliente VIP", "metadata": {"interno": true}}]});
    app.post(
        &format!("/api/soporte/tickets/{ticket}/chat/sync/"),
        &supervisor(90),
        note,
    )
    .await;

    clock.advance(DELAY - Duration::from_secs(5));
    still(&sink, 0).await;
    clock.advance(Duration::from_secs(10));
    let got = sink.wait_for(1).await;
    let email = &got[0];
    assert_eq!(email["to"], json!(["ana@example.com"]));
    assert_eq!(email["from"], "soporte@example.com");
    assert_eq!(
        email["subject"],
        format!("2 respuestas nuevas en tu ticket #{ticket}: No puedo entrar")
    );
    let text = email["text"].as_str().unwrap();
    assert!(text.contains("Te la envío ahora."), "{text}");
    assert!(
        text.contains("<script>alert(1)</script> & \"listo\""),
        "{text}"
    );
    assert!(!text.contains("Cliente VIP"), "{text}");
    assert!(
        !text.contains("¿Dónde está"),
        "the customer's own message: {text}"
    );
    assert!(text.contains(&format!("https://ayuda.example.com/chat?ticket={ticket}")));
    let html = email["html"].as_str().unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;listo&quot;"),
        "{html}"
    );

    let sent = "soporte_emails_total{tipo=\"respuestas_no_leidas\",resultado=\"enviado\"} 1";
    let metrics = app.metrics_when(|m| m.contains(sent)).await;
    assert!(metrics.contains(sent), "{metrics}");
    // Sent once: more time changes nothing.
    clock.advance(DELAY * 2);
    still(&sink, 1).await;
    // A later reply is a new email about it alone.
    say(&app, ticket, &supervisor(90), "a3", "¿Te llegó?").await;
    clock.advance(DELAY + Duration::from_secs(1));
    let got = sink.wait_for(2).await;
    let text = got[1]["text"].as_str().unwrap();
    assert!(
        text.contains("¿Te llegó?") && !text.contains("Te la envío"),
        "{text}"
    );
}

#[tokio::test]
async fn reading_before_the_delay_cancels_the_email() {
    let sink = SmtpSink::start();
    let clock = Clock::movable();
    let app = spawn_emailing(&sink, &clock).await;
    let ticket = customer_with_email(&app).await;
    let reply = say(&app, ticket, &supervisor(90), "a1", "Ya está resuelto.").await;
    let (status, body) = app
        .post(
            &format!("/api/soporte/tickets/{ticket}/chat/mark-read/"),
            &customer(7),
            json!({"message_ids": [reply]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    clock.advance(DELAY + Duration::from_secs(1));
    still(&sink, 0).await;
    let cancelled = "soporte_emails_total{tipo=\"respuestas_no_leidas\",resultado=\"cancelado\"} 1";
    let metrics = app.metrics_when(|m| m.contains(cancelled)).await;
    assert!(
        metrics.contains(cancelled),
        "the cancelled email is counted"
    );
    // A customer without an address is never emailed either.
    let other = app.ticket_for(&customer(8)).await;
    say(&app, other, &supervisor(90), "b1", "Hola").await;
    clock.advance(DELAY + Duration::from_secs(1));
    still(&sink, 0).await;
}

/// An email owed when the server is killed goes out once after the restart.
#[tokio::test]
async fn an_email_owed_across_sigkill_is_sent_exactly_once_after_restart() {
    use crate::webhooks::{post_at, serve};
    let sink = SmtpSink::start();
    let db = TestDb::new().await;
    let files = tempfile::tempdir().unwrap();
    let smtp = sink.url();
    let flags = [
        "--smtp-url",
        &smtp,
        "--email-from",
        "Soporte <soporte@example.com>",
        "--email-unread-after",
        "1",
    ];
    let (mut server, addr) = serve(&db.url_text(), files.path(), &flags);
    let client = reqwest::Client::new();
    let provisioned = client
        .put(format!("http://{addr}/api/soporte/usuarios/7/"))
        .bearer_auth(supervisor(90))
        .json(&json!({"nombre": "Ana", "rol": "CLIENTE", "email": "ana@example.com"}))
        .send()
        .await
        .unwrap();
    assert!(provisioned.status().is_success());
    let ticket = create_ticket_at(&addr, &customer(7), "Pedido").await;
    let path = format!("/api/soporte/tickets/{ticket}/chat/sync/");
    let reply = json!({"messages": [{"client_id": "r", "contenido": "Tu pedido sale hoy."}]});
    let (status, body) = post_at(&addr, &path, &supervisor(90), reply).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Confirmed, owed in a second, and the server dies before sending it.
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    assert_eq!(sink.received().len(), 0, "sent before the kill");

    let (server, _addr) = serve(&db.url_text(), files.path(), &flags);
    let got = sink.wait_for(1).await;
    assert!(got[0]["text"]
        .as_str()
        .unwrap()
        .contains("Tu pedido sale hoy."));
    still(&sink, 1).await;
    drop(server);
}

/// The ticket's agent, away, is emailed the customer's unread messages;
/// an agent with the inbox open is not.
#[tokio::test]
async fn an_agent_away_is_emailed_what_the_customer_wrote_and_one_online_is_not() {
    let sink = SmtpSink::start();
    let clock = Clock::movable();
    let app = spawn_emailing(&sink, &clock).await;
    for (id, name) in [(50, "María"), (51, "Luis")] {
        let (status, body) = app
            .send(
                reqwest::Method::PUT,
                &format!("/api/soporte/usuarios/{id}/"),
                &supervisor(90),
                Some(json!({"nombre": name, "rol": "AGENTE", "email": format!("agente{id}@example.com")})),
            )
            .await;
        assert!(status.is_success(), "{body}");
    }
    let mut tickets = Vec::new();
    for agent_id in [50, 51] {
        let ticket = app.ticket_for(&customer(agent_id + 100)).await;
        let (status, body) = app
            .post(
                &format!("/api/soporte/tickets/{ticket}/assign/"),
                &agent(agent_id),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        tickets.push(ticket);
    }
    // Luis has his inbox open; María is away.
    let (_luis, _) = app.inbox(&agent(51)).await;
    say(
        &app,
        tickets[0],
        &customer(150),
        "c1",
        "¿Me ayudas con <esto>?",
    )
    .await;
    say(&app, tickets[1], &customer(151), "c2", "Hola Luis").await;
    clock.advance(DELAY + Duration::from_secs(1));
    let got = sink.wait_for(1).await;
    still(&sink, 1).await;
    assert_eq!(got[0]["to"], json!(["agente50@example.com"]));
    assert!(got[0]["subject"]
        .as_str()
        .unwrap()
        .contains(&format!("#{}", tickets[0])));
    assert!(got[0]["text"]
        .as_str()
        .unwrap()
        .contains("¿Me ayudas con <esto>?"));
    assert!(got[0]["html"]
        .as_str()
        .unwrap()
        .contains("¿Me ayudas con &lt;esto&gt;?"));
    assert!(got[0]["text"]
        .as_str()
        .unwrap()
        .contains(&format!("/agente/?ticket={}", tickets[0])));
}
