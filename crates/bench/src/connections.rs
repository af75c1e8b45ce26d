//! `connections`: N sockets held open at once with heartbeats; how many held,
//! how fast they connected, and the server's memory per connection (RSS
//! growth divided by N, measured by the server's own /proc entry).

use crate::client;
use crate::server::{process_cpu_ms, Server};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use soporte_protocol::Role;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Sockets to open (the per-process limit of open files here is 20,000).
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// Seconds to hold them once all are open.
    #[arg(long, default_value_t = 10.0)]
    pub hold: f64,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// Connect to the bare relay instead (the same sockets with nothing
    /// checked, read or stored: the floor for this machine).
    #[arg(long)]
    pub relay: bool,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    /// Against the bare relay, not the server.
    pub relay: bool,
    pub requested: usize,
    pub opened: usize,
    pub held: usize,
    pub failed: usize,
    pub connects_per_s: f64,
    /// From the first handshake until every socket was open.
    pub connect_seconds: f64,
    /// CPU the server used while they connected, per connection.
    pub server_cpu_us_per_connection: Option<f64>,
    /// CPU this generator used meanwhile, per connection.
    pub generator_cpu_us_per_connection: Option<f64>,
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    pub bytes_per_connection: Option<f64>,
}

pub async fn run(server: &Server, options: &Options) -> Result<Report, String> {
    // Every socket is a customer on a ticket of their own: no presence
    // traffic, the pure cost of an idle connection.
    let http = reqwest::Client::new();
    let tickets = create_tickets(&http, server, options.count, options.concurrency).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = server.rss_kib();

    let opened = Arc::new(AtomicUsize::new(0));
    // When the last socket opened (the wait below only polls).
    let last_open = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let alive = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(options.concurrency));
    let hold_until = Arc::new(tokio::sync::Notify::new());
    let server_cpu_before = server.cpu_ms();
    let generator_cpu_before = process_cpu_ms("self");
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(options.count);
    for (i, ticket) in tickets.into_iter().enumerate() {
        let (gate, opened, alive, release, last_open) = (
            gate.clone(),
            opened.clone(),
            alive.clone(),
            hold_until.clone(),
            last_open.clone(),
        );
        let base = server.ws_base();
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.ok()?;
            let url = format!(
                "{base}/ws/soporte/ticket/{ticket}/?token={}",
                client::token(500_000 + i as i64, Role::Customer)
            );
            let (socket, _) = tokio_tungstenite::connect_async_with_config(
                url,
                Some(client::socket_config()),
                true,
            )
            .await
            .ok()?;
            drop(permit);
            opened.fetch_add(1, Ordering::SeqCst);
            *last_open.lock().unwrap() = Some(Instant::now());
            alive.fetch_add(1, Ordering::SeqCst);
            let (mut sink, mut stream) = socket.split();
            let released = release.notified();
            tokio::pin!(released);
            let mut beat = tokio::time::interval(Duration::from_secs(20));
            let ok = loop {
                tokio::select! {
                    _ = &mut released => break true,
                    _ = beat.tick() => {
                        let frame = r#"{"tipo":"heartbeat","data":{}}"#;
                        if sink.send(WsMessage::Text(frame.into())).await.is_err() { break false; }
                    }
                    // Reading answers the server's pings.
                    frame = stream.next() => if !matches!(frame, Some(Ok(_))) { break false; },
                }
            };
            if !ok {
                alive.fetch_sub(1, Ordering::SeqCst);
            }
            Some(ok)
        }));
    }
    // Wait until every socket is open or has failed.
    while opened.load(Ordering::SeqCst) < options.count && tasks.iter().any(|t| !t.is_finished()) {
        if started.elapsed() > Duration::from_secs(300) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if opened.load(Ordering::SeqCst) + tasks.iter().filter(|t| t.is_finished()).count()
            >= options.count
        {
            break;
        }
    }
    let connect_time = last_open
        .lock()
        .unwrap()
        .map_or(started.elapsed(), |at| at - started)
        .as_secs_f64();
    let opened_count = opened.load(Ordering::SeqCst);
    let per_connection_us = |before: Option<f64>, after: Option<f64>| match (before, after) {
        (Some(b), Some(a)) if opened_count > 0 => Some((a - b) * 1000.0 / opened_count as f64),
        _ => None,
    };
    let server_cpu = per_connection_us(server_cpu_before, server.cpu_ms());
    let generator_cpu = per_connection_us(generator_cpu_before, process_cpu_ms("self"));
    tokio::time::sleep(Duration::from_secs_f64(options.hold)).await;
    let rss_after = server.rss_kib();
    let held = alive.load(Ordering::SeqCst);
    hold_until.notify_waiters();
    for task in tasks {
        let _ = task.await;
    }
    let per_connection = match (rss_before, rss_after) {
        (Some(b), Some(a)) if held > 0 => Some((a.saturating_sub(b) * 1024) as f64 / held as f64),
        _ => None,
    };
    Ok(Report {
        scenario: "connections",
        relay: options.relay,
        requested: options.count,
        opened: opened_count,
        held,
        failed: options.count - opened_count,
        connects_per_s: opened_count as f64 / connect_time.max(1e-9),
        connect_seconds: connect_time,
        server_cpu_us_per_connection: server_cpu,
        generator_cpu_us_per_connection: generator_cpu,
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        bytes_per_connection: per_connection,
    })
}

async fn create_tickets(
    http: &reqwest::Client,
    server: &Server,
    count: usize,
    concurrency: usize,
) -> Result<Vec<i64>, String> {
    let gate = Arc::new(Semaphore::new(concurrency.min(64)));
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let (http, gate) = (http.clone(), gate.clone());
        let base = server.base.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            let probe = Server::existing(&base)?;
            client::create_ticket(&http, &probe, 500_000 + i as i64).await
        }));
    }
    let mut tickets = Vec::with_capacity(count);
    for task in tasks {
        tickets.push(task.await.map_err(|e| e.to_string())??);
    }
    Ok(tickets)
}
