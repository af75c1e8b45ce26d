//! `throughput`: T tickets, one customer and one agent each. Customers send
//! with a window of messages in flight (closed loop) or at a fixed total rate
//! (open loop); we time send -> `mensaje_confirmado` on the customer and send
//! -> `mensaje_recibido` on the agent, and count what was lost, duplicated or
//! reordered. A message not confirmed or not delivered by the end of the
//! grace period counts as lost: timeouts are losses.

use crate::client::{self, Sink, Stream};
use crate::server::Server;
use crate::stats::{Samples, Summary};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use soporte_protocol::Role;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Tickets, each with one customer and one agent connected.
    #[arg(long, default_value_t = 50)]
    pub tickets: usize,
    /// Messages in flight per customer (closed loop).
    #[arg(long, default_value_t = 4)]
    pub window: usize,
    /// Total messages per second across all customers (open loop); overrides --window.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub tickets: usize,
    pub window: Option<usize>,
    pub rate: Option<f64>,
    pub duration_s: f64,
    pub sent: u64,
    pub confirmed: u64,
    pub delivered: u64,
    pub confirmed_per_s: f64,
    pub confirm_latency: Summary,
    pub delivery_latency: Summary,
    /// Sent but never confirmed, or confirmed but never delivered.
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub errors: u64,
    /// Write transactions the server committed during the run.
    pub commit_batches: f64,
    /// Messages per transaction (group commit at work).
    pub messages_per_commit: f64,
    /// Mean time to write and commit one batch.
    pub mean_commit_ms: f64,
    /// Batches that took more than 5 ms to write and commit: the disk's
    /// share of a latency tail.
    pub commits_over_5ms: f64,
    /// Checkpoints the writer ran so the WAL starts over (SQLite only), and
    /// the time it spent in them, committing nothing.
    pub wal_restarts: f64,
    pub wal_restart_ms: f64,
    /// Pages appended to the WAL per message committed (SQLite only).
    pub wal_frames_per_message: f64,
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    tipo: &'a str,
    #[serde(borrow, default)]
    data: Option<Data<'a>>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow, default)]
    client_id: Option<&'a str>,
    #[serde(default)]
    seq: Option<i64>,
    #[serde(borrow, default)]
    contenido: Option<&'a str>,
}

struct CustomerOutcome {
    sent: u64,
    confirmed: HashSet<u64>,
    latency: Samples,
    errors: u64,
}

struct AgentOutcome {
    delivered: HashSet<u64>,
    latency: Samples,
    duplicated: u64,
    out_of_order: u64,
}

pub async fn run(server: &Server, options: &Options) -> Result<Report, String> {
    run_on(std::slice::from_ref(server), options).await
}

/// The same load over several nodes of one cluster: ticket `i`'s customer
/// is on node `i % n` and its agent on the next node, so with two or more
/// nodes every delivery crosses from one node to another.
pub async fn run_on(servers: &[Server], options: &Options) -> Result<Report, String> {
    let http = reqwest::Client::new();
    let mut pairs = Vec::new();
    let n = servers.len();
    for i in 0..options.tickets {
        // Above any id `seed` gives (customers from 1,000 up), so a run on a
        // seeded store (`--database`) adds its own people, renaming nobody.
        let customer = 1_000_000_000 + i as i64;
        let agent = 2_000_000_000 + i as i64;
        let (near, far) = (&servers[i % n], &servers[(i + 1) % n]);
        let ticket = client::create_ticket(&http, near, customer).await?;
        let customer_socket = client::connect(near, ticket, customer, Role::Customer).await?;
        let agent_socket = client::connect(far, ticket, agent, Role::Agent).await?;
        pairs.push((ticket, customer_socket, agent_socket));
    }
    let before = metrics_of(servers).await;
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(options.duration);
    let per_ticket_rate = options.rate.map(|r| r / options.tickets as f64);
    let sending_done = Arc::new(AtomicBool::new(false));
    let mut customers = Vec::new();
    let mut agents = Vec::new();
    let count = pairs.len() as f64;
    for (i, (ticket, (sink, stream), (_agent_sink, agent_stream))) in pairs.into_iter().enumerate()
    {
        let confirmed_count = Arc::new(AtomicU64::new(0));
        customers.push(tokio::spawn(customer(
            sink,
            stream,
            ticket,
            options.window,
            per_ticket_rate,
            i as f64 / count,
            start,
            until,
            confirmed_count.clone(),
        )));
        agents.push(tokio::spawn(agent(
            agent_stream,
            start,
            confirmed_count,
            sending_done.clone(),
            until + GRACE,
            _agent_sink,
        )));
    }
    let mut sent = 0;
    let mut confirmed_sets = Vec::new();
    let mut confirm = Samples::default();
    let mut errors = 0;
    for task in customers {
        let outcome = task.await.map_err(|e| e.to_string())?;
        sent += outcome.sent;
        confirm.extend(outcome.latency);
        errors += outcome.errors;
        confirmed_sets.push(outcome.confirmed);
    }
    let elapsed_sending = until.saturating_duration_since(start).as_secs_f64();
    sending_done.store(true, Ordering::SeqCst);
    let (mut delivered, mut duplicated, mut out_of_order, mut lost) = (0, 0, 0, 0);
    let mut delivery = Samples::default();
    for (task, confirmed) in agents.into_iter().zip(&confirmed_sets) {
        let outcome = task.await.map_err(|e| e.to_string())?;
        delivered += outcome.delivered.len() as u64;
        duplicated += outcome.duplicated;
        out_of_order += outcome.out_of_order;
        delivery.extend(outcome.latency);
        lost += confirmed.difference(&outcome.delivered).count() as u64;
    }
    let confirmed: u64 = confirmed_sets.iter().map(|s| s.len() as u64).sum();
    lost += sent - confirmed;
    let after = metrics_of(servers).await;
    let delta = |name: &str| {
        after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
    };
    let commit_batches = delta("soporte_commit_batches_total");
    Ok(Report {
        commit_batches,
        messages_per_commit: delta("soporte_messages_committed_total") / commit_batches.max(1.0),
        mean_commit_ms: delta("soporte_commit_seconds_sum") * 1000.0
            / delta("soporte_commit_seconds_count").max(1.0),
        commits_over_5ms: delta("soporte_commit_seconds_count")
            - delta("soporte_commit_seconds_bucket{le=\"0.005\"}"),
        wal_restarts: delta("soporte_wal_restarts_total"),
        wal_restart_ms: delta("soporte_wal_restart_seconds_total") * 1000.0,
        wal_frames_per_message: delta("soporte_wal_frames_total")
            / delta("soporte_messages_committed_total").max(1.0),
        scenario: "throughput",
        tickets: options.tickets,
        window: options.rate.is_none().then_some(options.window),
        rate: options.rate,
        duration_s: options.duration,
        sent,
        confirmed,
        delivered,
        confirmed_per_s: confirmed as f64 / elapsed_sending,
        confirm_latency: confirm.summary(),
        delivery_latency: delivery.summary(),
        lost,
        duplicated,
        out_of_order,
        errors,
    })
}

/// Every node's counters, added up.
async fn metrics_of(servers: &[Server]) -> HashMap<String, f64> {
    let mut total: HashMap<String, f64> = HashMap::new();
    for server in servers {
        for (name, value) in server.metrics().await {
            *total.entry(name).or_default() += value;
        }
    }
    total
}

fn stamp(start: Instant) -> String {
    start.elapsed().as_nanos().to_string()
}

fn since_stamp(start: Instant, text: &str) -> Option<Duration> {
    let sent = Duration::from_nanos(text.parse().ok()?);
    start.elapsed().checked_sub(sent)
}

#[allow(clippy::too_many_arguments)]
async fn customer(
    mut sink: Sink,
    mut stream: Stream,
    ticket: i64,
    window: usize,
    rate: Option<f64>,
    phase: f64,
    start: Instant,
    until: Instant,
    confirmed_count: Arc<AtomicU64>,
) -> CustomerOutcome {
    let mut outcome = CustomerOutcome {
        sent: 0,
        confirmed: HashSet::new(),
        latency: Samples::default(),
        errors: 0,
    };
    let mut in_flight: HashMap<u64, Instant> = HashMap::new();
    let mut next = 0u64;
    let prefix = format!("t{ticket}-");
    let send = |n: u64| client::message_frame(&stamp(start), &format!("{prefix}{n}"));
    // Open loop: one message every period, each customer's ticks shifted by
    // its share of the period, so the total load is spread evenly instead of
    // arriving in bursts of one message per customer.
    let mut pacer = rate.map(|r| {
        let period = Duration::from_secs_f64(1.0 / r.max(0.001));
        let offset = period.mul_f64(phase);
        tokio::time::interval_at(tokio::time::Instant::now() + offset, period)
    });
    if pacer.is_none() {
        for _ in 0..window {
            if sink.send(send(next)).await.is_err() {
                return outcome;
            }
            in_flight.insert(next, Instant::now());
            next += 1;
        }
    }
    let deadline = until + GRACE;
    loop {
        let sending = Instant::now() < until;
        if !sending && in_flight.is_empty() {
            break;
        }
        let tick = async {
            match pacer.as_mut() {
                Some(p) if sending => {
                    p.tick().await;
                }
                _ => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tick => {
                if sink.send(send(next)).await.is_err() {
                    break;
                }
                in_flight.insert(next, Instant::now());
                next += 1;
            }
            frame = tokio::time::timeout_at(deadline.into(), stream.next()) => {
                let Ok(Some(Ok(WsMessage::Text(text)))) = frame else {
                    if matches!(frame, Ok(Some(Ok(_)))) { continue; }
                    break;
                };
                let Ok(frame) = serde_json::from_str::<Frame<'_>>(&text) else { continue };
                let n = frame.data.as_ref().and_then(|d| d.client_id).and_then(|c| c.strip_prefix(&prefix)).and_then(|n| n.parse::<u64>().ok());
                match (frame.tipo, n) {
                    ("mensaje_confirmado", Some(n)) => {
                        if let Some(sent_at) = in_flight.remove(&n) {
                            outcome.latency.push(sent_at.elapsed());
                            outcome.confirmed.insert(n);
                            confirmed_count.fetch_add(1, Ordering::SeqCst);
                        }
                        if pacer.is_none() && Instant::now() < until {
                            if sink.send(send(next)).await.is_err() {
                                break;
                            }
                            in_flight.insert(next, Instant::now());
                            next += 1;
                        }
                    }
                    ("error", _) => {
                        outcome.errors += 1;
                        if let Some(n) = n { in_flight.remove(&n); }
                    }
                    _ => {}
                }
            }
        }
    }
    outcome.sent = next;
    outcome
}

async fn agent(
    mut stream: Stream,
    start: Instant,
    confirmed_count: Arc<AtomicU64>,
    sending_done: Arc<AtomicBool>,
    deadline: Instant,
    _sink: Sink,
) -> AgentOutcome {
    let mut outcome = AgentOutcome {
        delivered: HashSet::new(),
        latency: Samples::default(),
        duplicated: 0,
        out_of_order: 0,
    };
    let mut last_seq = 0;
    loop {
        if sending_done.load(Ordering::SeqCst)
            && outcome.delivered.len() as u64 >= confirmed_count.load(Ordering::SeqCst)
        {
            break;
        }
        let frame = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
        let text = match frame {
            Err(_) => {
                if Instant::now() > deadline {
                    break;
                }
                continue;
            }
            Ok(Some(Ok(WsMessage::Text(text)))) => text,
            Ok(Some(Ok(_))) => continue,
            Ok(_) => break,
        };
        let Ok(frame) = serde_json::from_str::<Frame<'_>>(&text) else {
            continue;
        };
        if frame.tipo != "mensaje_recibido" {
            continue;
        }
        let Some(data) = frame.data else { continue };
        let n = data
            .client_id
            .and_then(|c| c.rsplit('-').next())
            .and_then(|n| n.parse::<u64>().ok());
        let Some(n) = n else { continue };
        if !outcome.delivered.insert(n) {
            outcome.duplicated += 1;
            continue;
        }
        let seq = data.seq.unwrap_or(0);
        if seq <= last_seq {
            outcome.out_of_order += 1;
        }
        last_seq = last_seq.max(seq);
        if let Some(latency) = data.contenido.and_then(|c| since_stamp(start, c)) {
            outcome.latency.push(latency);
        }
    }
    outcome
}
