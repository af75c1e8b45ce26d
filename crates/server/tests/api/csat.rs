//! Satisfaction ratings (CSAT) and idle tickets closing themselves, against
//! the real server; "days later" is a moved clock, never a sleep.

use crate::helpers::*;
use crate::webhooks::Receiver;
use reqwest::StatusCode;
use serde_json::{json, Value};
use soporte_server::clock::Clock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const DAY: Duration = Duration::from_secs(86_400);

async fn say(app: &TestApp, ticket: i64, token: &str, text: &str) {
    let path = format!("/api/soporte/tickets/{ticket}/chat/sync/");
    static SENT: AtomicU64 = AtomicU64::new(0);
    let id = format!("csat-{}", SENT.fetch_add(1, Ordering::Relaxed));
    let body = json!({"messages": [{"client_id": id, "contenido": text}]});
    let (status, answer) = app.post(&path, token, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["results"].as_array().unwrap().len(), 1, "{answer}");
}

async fn set_state(app: &TestApp, ticket: i64, token: &str, state: &str) -> (StatusCode, Value) {
    app.post(
        &format!("/api/soporte/tickets/{ticket}/estado/"),
        token,
        json!({"estado": state}),
    )
    .await
}

async fn rate(app: &TestApp, ticket: i64, token: &str, body: Value) -> (StatusCode, Value) {
    app.post(&format!("/api/soporte/tickets/{ticket}/csat/"), token, body)
        .await
}

/// A ticket of customer 7 where agent 50 took it and both wrote.
async fn conversation(app: &TestApp) -> i64 {
    let ticket = app.ticket_for(&customer(7)).await;
    say(app, ticket, &customer(7), "No me llega la factura").await;
    let (status, body) = app
        .post(
            &format!("/api/soporte/tickets/{ticket}/assign/"),
            &agent(50),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    say(app, ticket, &agent(50), "Te la reenvío ahora").await;
    ticket
}

async fn history(app: &TestApp, ticket: i64, token: &str) -> Vec<Value> {
    let path = format!("/api/soporte/tickets/{ticket}/chat/historial/?size=100");
    let (status, page) = app.get(&path, token).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["results"].as_array().unwrap().clone()
}

/// The messages recording a move of state, as their metadata says.
fn state_records(messages: &[Value]) -> Vec<Value> {
    messages
        .iter()
        .filter(|m| m["metadata"]["evento"] == "estado")
        .map(|m| m["metadata"].clone())
        .collect()
}

#[tokio::test]
async fn a_customer_rates_a_resolved_ticket_once_and_the_team_and_host_learn_of_it() {
    let app = spawn_with(|c| c.webhooks.allow_private = true).await;
    let receiver = Receiver::start(&[]).await;
    let (status, hook) = app
        .post(
            "/api/soporte/webhooks/",
            &supervisor(900),
            json!({"url": receiver.url(), "eventos": ["csat.recibido"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let ticket = conversation(&app).await;
    let mut staff_ws = app.connect(ticket, &agent(50)).await;
    staff_ws.expect("connection_established").await;

    let (status, _) = set_state(&app, ticket, &agent(50), "RESUELTO").await;
    assert_eq!(status, StatusCode::OK);
    let records = state_records(&history(&app, ticket, &customer(7)).await);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        records[0]["pide_valoracion"], true,
        "resolving asks the customer: {records:?}"
    );

    // Only the ticket's customer, with a whole score from 1 to 5.
    for (token, status) in [
        (customer(8), StatusCode::FORBIDDEN),
        (agent(50), StatusCode::FORBIDDEN),
    ] {
        let (got, body) = rate(&app, ticket, &token, json!({"puntuacion": 5})).await;
        assert_eq!(got, status, "{body}");
    }
    for bad in [
        json!({"puntuacion": 6}),
        json!({"puntuacion": 0}),
        json!({"puntuacion": "5"}),
        json!({}),
    ] {
        let (status, body) = rate(&app, ticket, &customer(7), bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["detalle"].as_str().is_some(), "{body}");
    }

    let (status, rating) = rate(
        &app,
        ticket,
        &customer(7),
        json!({"puntuacion": 4, "comentario": "  Rápido <b>y</b> amable "}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rating}");
    assert_eq!(rating["puntuacion"], 4);
    assert_eq!(rating["comentario"], "Rápido <b>y</b> amable");
    let (status, again) = rate(&app, ticket, &customer(7), json!({"puntuacion": 1})).await;
    assert_eq!(status, StatusCode::CONFLICT, "once per ticket: {again}");

    // Staff see it in the ticket, live in the conversation, and in the stats.
    let (_, read) = app
        .get(&format!("/api/soporte/tickets/{ticket}/"), &supervisor(90))
        .await;
    assert_eq!(read["csat"]["puntuacion"], 4, "{read}");
    let note = loop {
        let message = staff_ws.wait_for("mensaje_recibido").await;
        if message["metadata"]["evento"] != "estado" {
            break message;
        }
    };
    assert_eq!(note["metadata"]["evento"], "valoracion", "{note}");
    assert_eq!(note["interno"], true, "{note}");
    assert_eq!(note["metadata"]["puntuacion"], 4);
    assert!(
        note["contenido"].as_str().unwrap().contains("4/5"),
        "{note}"
    );
    let customer_sees = history(&app, ticket, &customer(7)).await;
    assert!(
        customer_sees
            .iter()
            .all(|m| m["metadata"]["evento"] != "valoracion"),
        "the note is the team's: {customer_sees:?}"
    );
    let (_, stats) = app.get("/api/soporte/stats/", &supervisor(90)).await;
    assert_eq!(stats["csat"]["n"], 1, "{stats}");
    assert_eq!(stats["csat"]["media"], 4.0);
    assert_eq!(stats["csat"]["satisfechos_pct"], 100.0);
    let by_agent = stats["por_agente"].as_array().unwrap();
    assert_eq!(by_agent[0]["agente"]["id"], 50);
    assert_eq!(
        by_agent[0]["csat"]["por_puntuacion"],
        json!([0, 0, 0, 1, 0])
    );

    // The host is told, with the ticket and the rating.
    let got = receiver
        .wait_until("the rating event", Duration::from_secs(15), |got| {
            !got.is_empty()
        })
        .await;
    let event = got[0].json();
    assert_eq!(event["tipo"], "csat.recibido");
    assert_eq!(event["data"]["ticket"]["id"], ticket);
    assert_eq!(event["data"]["csat"]["puntuacion"], 4);
    assert_eq!(event["data"]["ticket"]["csat"]["puntuacion"], 4);
}

/// Asked only when it means something: no reply from the team, a ticket
/// still open, or a last reply older than the window is not rated.
#[tokio::test]
async fn ratings_are_asked_only_when_they_mean_something_and_expire() {
    let clock = Clock::movable();
    let app = spawn_with({
        let clock = clock.clone();
        move |c| {
            c.clock = clock;
            c.auto_close_after = None;
        }
    })
    .await;

    // Nobody answered: closing asks nothing, and a rating is refused.
    let unanswered = app.ticket_for(&customer(7)).await;
    say(&app, unanswered, &customer(7), "¿Hay alguien?").await;
    let (status, _) = set_state(&app, unanswered, &customer(7), "CERRADO").await;
    assert_eq!(status, StatusCode::OK);
    let records = state_records(&history(&app, unanswered, &customer(7)).await);
    assert_eq!(records[0]["pide_valoracion"], Value::Null, "{records:?}");
    let (status, body) = rate(&app, unanswered, &customer(7), json!({"puntuacion": 3})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detalle"]
            .as_str()
            .unwrap()
            .contains("Nadie del equipo"),
        "{body}"
    );

    // Still open: not yet.
    let ticket = conversation(&app).await;
    let (status, body) = rate(&app, ticket, &customer(7), json!({"puntuacion": 5})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detalle"].as_str().unwrap().contains("resuelto"),
        "{body}"
    );

    // The customer may resolve it themselves, and is asked.
    let (status, body) = set_state(&app, ticket, &customer(7), "RESUELTO").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let records = state_records(&history(&app, ticket, &customer(7)).await);
    assert_eq!(records[0]["pide_valoracion"], true, "{records:?}");
    let (status, _) = set_state(&app, ticket, &customer(7), "ABIERTO").await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "customers do not reopen by state"
    );

    // Eight days after the team's last reply, the window is over.
    clock.advance(8 * DAY);
    let (status, body) = rate(&app, ticket, &customer(7), json!({"puntuacion": 5})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detalle"].as_str().unwrap().contains("plazo"),
        "{body}"
    );
    let (_, read) = app
        .get(&format!("/api/soporte/tickets/{ticket}/"), &supervisor(90))
        .await;
    assert!(read.get("csat").is_none(), "{read}");
}

async fn ticket_state(app: &TestApp, ticket: i64) -> String {
    let (_, read) = app
        .get(&format!("/api/soporte/tickets/{ticket}/"), &supervisor(90))
        .await;
    read["estado"].as_str().unwrap().to_string()
}

/// A resolved ticket the customer leaves alone closes a week later, with a
/// message saying so, live; one the customer came back to does not.
#[tokio::test]
async fn resolved_tickets_close_themselves_after_a_week_idle() {
    let clock = Clock::movable();
    let app = spawn_with({
        let clock = clock.clone();
        move |c| c.clock = clock
    })
    .await;
    let idle = conversation(&app).await;
    let came_back = conversation(&app).await;
    let open = conversation(&app).await;
    for ticket in [idle, came_back] {
        let (status, _) = set_state(&app, ticket, &agent(50), "RESUELTO").await;
        assert_eq!(status, StatusCode::OK);
    }
    say(&app, came_back, &customer(7), "Sigue sin llegar").await;
    let mut customer_ws = app.connect(idle, &customer(7)).await;
    customer_ws.expect("connection_established").await;

    clock.advance(6 * DAY);
    customer_ws
        .assert_no("ticket_actualizado", Duration::from_millis(500))
        .await;
    assert_eq!(ticket_state(&app, idle).await, "RESUELTO");

    clock.advance(2 * DAY);
    let (mut update, mut record) = (None, None);
    while update.is_none() || record.is_none() {
        let frame = customer_ws
            .wait_for_any(&["ticket_actualizado", "mensaje_recibido"])
            .await;
        match frame["tipo"].as_str() {
            Some("ticket_actualizado") => update = Some(frame["data"].clone()),
            _ => record = Some(frame["data"].clone()),
        }
    }
    let update = update.unwrap();
    assert_eq!(update["ticket"]["estado"], "CERRADO", "{update}");
    assert_eq!(
        record.unwrap()["contenido"],
        "El ticket se cerró automáticamente tras 7 días resuelto."
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while ticket_state(&app, idle).await != "CERRADO" {
        assert!(Instant::now() < deadline, "the idle ticket stays resolved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ticket_state(&app, came_back).await, "ABIERTO");
    assert_eq!(ticket_state(&app, open).await, "ABIERTO");
}
