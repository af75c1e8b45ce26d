//! `fanout`: one ticket watched by many agents and supervisors; a customer
//! sends at a steady rate; we time send -> `mensaje_recibido` at every watcher.

use crate::client;
use crate::server::Server;
use crate::stats::{Samples, Summary};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use soporte_protocol::Role;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Connections watching the ticket (supervisors).
    #[arg(long, default_value_t = 1000)]
    pub watchers: usize,
    /// Messages the customer sends.
    #[arg(long, default_value_t = 200)]
    pub messages: usize,
    /// Messages per second.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub watchers: usize,
    pub messages: usize,
    pub expected_deliveries: usize,
    pub deliveries: usize,
    pub lost: usize,
    pub delivery_latency: Summary,
}

pub async fn run(server: &Server, options: &Options) -> Result<Report, String> {
    let http = reqwest::Client::new();
    let customer = 700_000;
    let ticket = client::create_ticket(&http, server, customer).await?;
    let start = Instant::now();
    let expected = options.messages;
    let deadline = Duration::from_secs_f64(options.messages as f64 / options.rate + 60.0);
    // Each watcher reads from the moment it connects (joins announce
    // themselves to everyone already there: a watcher that did not read
    // would fall behind and be evicted, as the server is designed to do).
    let ready = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..options.watchers {
        let (_sink, mut stream) =
            client::connect(server, ticket, 800_000 + i as i64, Role::Supervisor).await?;
        ready.fetch_add(1, Ordering::SeqCst);
        tasks.push(tokio::spawn(async move {
            let _sink = _sink;
            let mut samples = Samples::default();
            let mut got = 0;
            while got < expected && start.elapsed() < deadline {
                match tokio::time::timeout(Duration::from_millis(500), stream.next()).await {
                    Ok(Some(Ok(WsMessage::Text(text)))) => {
                        if !text.starts_with(r#"{"tipo":"mensaje_recibido""#) {
                            continue;
                        }
                        // The generator must not be the bottleneck on 2 shared
                        // cores: pick the send stamp out without a full parse.
                        if let Some(sent) = stamp_in(&text) {
                            let sent = Duration::from_nanos(sent);
                            samples.push(start.elapsed().saturating_sub(sent));
                            got += 1;
                        }
                    }
                    Ok(Some(Ok(_))) | Err(_) => continue,
                    _ => break,
                }
            }
            (got, samples)
        }));
    }
    let (mut sink, _stream) = client::connect(server, ticket, customer, Role::Customer).await?;
    // Let the last joins' presence frames drain before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut pacer = tokio::time::interval(Duration::from_secs_f64(1.0 / options.rate));
    for n in 0..options.messages {
        pacer.tick().await;
        let stamp = start.elapsed().as_nanos().to_string();
        sink.send(client::message_frame(&stamp, &format!("f{n}")))
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut all = Samples::default();
    let mut deliveries = 0;
    for task in tasks {
        let (got, samples) = task.await.map_err(|e| e.to_string())?;
        deliveries += got;
        all.extend(samples);
    }
    let expected_deliveries = options.watchers * options.messages;
    Ok(Report {
        scenario: "fanout",
        watchers: options.watchers,
        messages: options.messages,
        expected_deliveries,
        deliveries,
        lost: expected_deliveries - deliveries,
        delivery_latency: all.summary(),
    })
}

/// The send stamp (nanoseconds, the message text) of a `mensaje_recibido`.
fn stamp_in(frame: &str) -> Option<u64> {
    let start = frame.find(r#""contenido":""#)? + r#""contenido":""#.len();
    let end = start + frame[start..].find('"')?;
    frame[start..end].parse().ok()
}
