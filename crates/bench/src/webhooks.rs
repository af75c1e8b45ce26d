//! `webhooks`: the throughput load with one webhook subscribed to
//! `mensaje.creado`, posted to a receiver in this process on 127.0.0.1. Beside
//! the throughput report: how many events arrived (each confirmed message
//! must have one), duplicates, and the latency from the event's `creado`
//! (taken in the commit's transaction) to its arrival at the receiver.

use crate::client;
use crate::server::Server;
use crate::stats::{Samples, Summary};
use crate::throughput::{self, Options, Report};
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use soporte_protocol::{Role, Timestamp};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long after sending stops the events may still arrive.
const DRAIN: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Received {
    ids: HashSet<String>,
    posts: u64,
    latency: Samples,
}

#[derive(Debug, Serialize)]
pub struct WebhookReport {
    pub throughput: Report,
    /// Events received (distinct ids), and every POST.
    pub events: u64,
    pub posts: u64,
    /// Confirmed messages whose event never arrived within the drain time.
    pub missing: u64,
    /// From the event's `creado` (in the commit's transaction) to its arrival.
    pub delivery_latency: Summary,
    /// From the end of sending until the last event arrived.
    pub drain_s: f64,
}

async fn receive(State(received): State<Arc<Mutex<Received>>>, body: String) -> StatusCode {
    let now = Timestamp::now().millis();
    let Ok(event) = serde_json::from_str::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let created = event["creado"]
        .as_str()
        .and_then(Timestamp::parse)
        .map(|t| t.millis())
        .unwrap_or(now);
    let mut received = received.lock().unwrap();
    received.posts += 1;
    if received
        .ids
        .insert(event["id"].as_str().unwrap_or_default().to_string())
    {
        received
            .latency
            .push(Duration::from_millis((now - created).max(0) as u64));
    }
    StatusCode::NO_CONTENT
}

pub async fn run(server: &Server, options: &Options) -> Result<WebhookReport, String> {
    let received = Arc::new(Mutex::new(Received::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(received.clone());
    let receiver = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let response = reqwest::Client::new()
        .post(format!("{}/api/soporte/webhooks/", server.base))
        .bearer_auth(client::token(900_000, Role::Supervisor))
        .json(&json!({"url": format!("http://{addr}/hook"), "eventos": ["mensaje.creado"]}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!(
            "subscribing: {} {}",
            response.status(),
            response.text().await.unwrap_or_default()
        ));
    }
    let report = throughput::run(server, options).await?;
    let stopped = Instant::now();
    let deadline = stopped + DRAIN;
    let mut last_count = 0;
    let mut last_change = Instant::now();
    loop {
        let count = received.lock().unwrap().ids.len() as u64;
        if count >= report.confirmed || Instant::now() > deadline {
            break;
        }
        if count != last_count {
            last_count = count;
            last_change = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain_s = last_change
        .max(stopped)
        .duration_since(stopped)
        .as_secs_f64();
    receiver.abort();
    let mut received = std::mem::take(&mut *received.lock().unwrap());
    let events = received.ids.len() as u64;
    Ok(WebhookReport {
        missing: report.confirmed.saturating_sub(events),
        throughput: report,
        events,
        posts: received.posts,
        delivery_latency: received.latency.summary(),
        drain_s,
    })
}
