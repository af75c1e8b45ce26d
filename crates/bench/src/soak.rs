//! `soak`: mixed traffic for a long time against one node, watching the
//! server for leaks. Virtual customers loop: open a ticket (or reuse one),
//! connect with their agent, type, send messages, sometimes upload a file,
//! then leave, cleanly or by dropping the socket. Beside them a flooder
//! sends far more than the rate limits allow, round after round: the server
//! (run with its limits as shipped) must refuse with `error` frames and close
//! it with 4102 every time. Every second the server's
//! RSS, open file descriptors and open connections are sampled.
//!
//! A few times in the run (`--quiet-points`, the last at the end) the traffic
//! pauses until the server is quiet: no connection open and its blocking
//! threads gone. The heap it holds then is what it keeps, without requests
//! in flight or the allocator's per-thread caches, so those points are
//! comparable with each other.
//!
//! The run fails when a message is lost, when the server does not go quiet,
//! when what it keeps once quiet grows from the first quiet point to the
//! last, when connections, file descriptors or tasks do not come back to
//! their baseline after the traffic stops, or when RSS keeps growing in the
//! second half.

use crate::client;
use crate::server::Server;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};
use soporte_protocol::Role;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\x0dIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82";

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Seconds of traffic.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
    /// Virtual customers looping at once (each with an agent socket).
    #[arg(long, default_value_t = 40)]
    pub clients: usize,
    /// Largest growth of RSS allowed over the second half of the run, KiB.
    #[arg(long, default_value_t = 16_384)]
    pub max_growth_kib: u64,
    /// Run without the flooder (to tell what it costs from what the
    /// ordinary traffic does).
    #[arg(long)]
    pub no_flooder: bool,
    /// Times the traffic pauses, evenly spread, the last at the end, for the
    /// server to go quiet and have its heap measured.
    #[arg(long, default_value_t = 4)]
    pub quiet_points: u32,
    /// Largest growth allowed of the heap in use outside SQLite, from the
    /// first quiet point to the last, KiB.
    #[arg(long, default_value_t = 1024)]
    pub max_heap_growth_kib: u64,
}

/// Seconds between the samples kept in the report.
const SAMPLE_EVERY: u64 = 10;

/// The server at one moment of the run.
#[derive(Debug, Serialize)]
pub struct Sample {
    pub t_s: u64,
    pub rss_kib: u64,
    /// Allocated and not freed (the server's `soporte_heap_in_use_bytes`).
    pub heap_in_use_kib: u64,
    /// Freed but kept by the allocator (`soporte_heap_free_bytes`).
    pub heap_free_kib: u64,
    /// SQLite's share of the heap in use (`soporte_sqlite_memory_bytes`).
    pub sqlite_kib: u64,
    pub fds: usize,
    pub connections: u64,
    /// Tasks alive in the server's runtime (`soporte_tasks_alive`).
    pub tasks: u64,
    /// Threads of the server process (each keeps a cache of freed chunks
    /// that the allocator counts as in use).
    pub threads: u64,
    pub messages_confirmed: u64,
    /// The SQLite WAL file: it must stay bounded under steady writes.
    pub wal_kib: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub sessions: u64,
    pub abrupt_disconnects: u64,
    pub messages_confirmed: u64,
    pub messages_delivered: u64,
    pub uploads: u64,
    pub lost: u64,
    /// Rounds of the flooder, and how many ended as they must: refusals,
    /// then a close with 4102.
    pub flood_rounds: u64,
    pub flood_closed_4102: u64,
    pub flood_refusals: u64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub duration_s: f64,
    pub clients: usize,
    pub counts: Counts,
    pub rss_start_kib: u64,
    pub rss_half_kib: u64,
    pub rss_max_kib: u64,
    pub rss_end_kib: u64,
    pub fds_start: usize,
    pub fds_max: usize,
    pub fds_end: usize,
    /// Tasks alive in the server's runtime (`soporte_tasks_alive`) before and
    /// after the traffic.
    pub tasks_start: f64,
    pub tasks_end: f64,
    pub connections_end: f64,
    /// Threads of the server before the traffic.
    pub threads_start: u64,
    /// The server before the traffic, to compare with the last sample,
    /// taken when every client has gone.
    pub before: Sample,
    /// At each pause of the traffic, once the server is quiet: no
    /// connection open and its blocking threads gone, so that what the heap
    /// holds is what the server keeps, not requests in flight nor the
    /// allocator's per-thread caches.
    pub quiet: Vec<Sample>,
    /// Every [`SAMPLE_EVERY`] seconds, and once after the traffic stopped.
    pub samples: Vec<Sample>,
    /// Why the run failed, if it did.
    pub failures: Vec<String>,
}

#[derive(Default)]
struct Tally {
    sessions: AtomicU64,
    abrupt: AtomicU64,
    confirmed: AtomicU64,
    delivered: AtomicU64,
    uploads: AtomicU64,
    lost: AtomicU64,
    flood_rounds: AtomicU64,
    flood_closed: AtomicU64,
    flood_refusals: AtomicU64,
}

fn fds(server: &Server) -> usize {
    server
        .pid
        .and_then(|pid| std::fs::read_dir(format!("/proc/{pid}/fd")).ok())
        .map_or(0, |dir| dir.count())
}

/// The traffic's switch: every visit (and flood round) holds a read guard
/// of `gate`; a quiet point takes the write guard, which waits for the
/// visits in flight to end and holds the next ones back until it is dropped.
#[derive(Default)]
struct Traffic {
    stop: AtomicBool,
    gate: tokio::sync::RwLock<()>,
}

impl Traffic {
    /// Leave to make one more visit, or `None` once the run is over.
    async fn turn(&self) -> Option<tokio::sync::RwLockReadGuard<'_, ()>> {
        let turn = self.gate.read().await;
        (!self.stop.load(Ordering::SeqCst)).then_some(turn)
    }
}

pub async fn run(server: &Server, options: &Options) -> Result<Report, String> {
    let tally = Arc::new(Tally::default());
    let traffic = Arc::new(Traffic::default());
    let started = Instant::now();
    let before = sample(server, started, &tally).await;
    let (fds_start, threads_start) = (before.fds, before.threads);
    let mut workers = Vec::new();
    for worker in 0..options.clients {
        workers.push(tokio::spawn(customer_loop(
            server.base.clone(),
            server.ws_base(),
            worker as i64,
            tally.clone(),
            traffic.clone(),
        )));
    }
    if !options.no_flooder {
        workers.push(tokio::spawn(flooder_loop(
            server.base.clone(),
            server.ws_base(),
            tally.clone(),
            traffic.clone(),
        )));
    }
    let (mut rss_half, mut rss_max, mut fds_max) = (0, 0, 0);
    let mut samples = Vec::new();
    let mut quiet = Vec::new();
    let mut failures = Vec::new();
    let points = options.quiet_points.max(1);
    // Seconds of traffic, pauses left out.
    let mut seconds = 0;
    for point in 1..=points {
        let until = options.duration * f64::from(point) / f64::from(points);
        while (seconds as f64) < until {
            tokio::time::sleep(Duration::from_secs(1)).await;
            seconds += 1;
            let rss = server.rss_kib().unwrap_or(0);
            if rss_half == 0 && seconds as f64 >= options.duration / 2.0 {
                rss_half = rss;
            }
            rss_max = rss_max.max(rss);
            fds_max = fds_max.max(fds(server));
            if seconds % SAMPLE_EVERY == 0 {
                samples.push(sample(server, started, &tally).await);
            }
        }
        let pause = traffic.gate.write().await;
        if let Err(why) = settle(server, threads_start).await {
            failures.push(format!("quiet point {point}: {why}"));
        }
        quiet.push(sample(server, started, &tally).await);
        if point == points {
            // Before the gate opens: no worker may start another visit.
            traffic.stop.store(true, Ordering::SeqCst);
        }
        drop(pause);
    }
    // Every client gone, their keep-alive HTTP connections closed with them:
    // connections and descriptors back to the baseline.
    for worker in workers {
        let _ = worker.await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connections_end = server
        .metrics()
        .await
        .get("soporte_connections_open")
        .copied()
        .unwrap_or(f64::MAX);
    let end = sample(server, started, &tally).await;
    let (fds_end, tasks_start, tasks_end) = (end.fds, before.tasks as f64, end.tasks as f64);
    let rss_end = end.rss_kib;
    samples.push(end);
    let counts = Counts {
        sessions: tally.sessions.load(Ordering::Relaxed),
        abrupt_disconnects: tally.abrupt.load(Ordering::Relaxed),
        messages_confirmed: tally.confirmed.load(Ordering::Relaxed),
        messages_delivered: tally.delivered.load(Ordering::Relaxed),
        uploads: tally.uploads.load(Ordering::Relaxed),
        lost: tally.lost.load(Ordering::Relaxed),
        flood_rounds: tally.flood_rounds.load(Ordering::Relaxed),
        flood_closed_4102: tally.flood_closed.load(Ordering::Relaxed),
        flood_refusals: tally.flood_refusals.load(Ordering::Relaxed),
    };
    if counts.lost > 0 {
        failures.push(format!("{} messages lost", counts.lost));
    }
    if !options.no_flooder
        && (counts.flood_rounds == 0 || counts.flood_closed_4102 != counts.flood_rounds)
    {
        failures.push(format!(
            "{} of {} flood rounds closed with 4102",
            counts.flood_closed_4102, counts.flood_rounds
        ));
    }
    if connections_end != 0.0 {
        failures.push(format!(
            "{connections_end} connections still open after the traffic"
        ));
    }
    // A few descriptors come and go (database readers, log files).
    if fds_end > fds_start + 8 {
        failures.push(format!("file descriptors {fds_start} -> {fds_end}"));
    }
    // The same few: the generator's own HTTP connections, still closing.
    if tasks_end > tasks_start + 8.0 {
        failures.push(format!("tasks alive {tasks_start} -> {tasks_end}"));
    }
    // What the server keeps, once quiet, must not grow with the time it has
    // served. SQLite's share is left out: its page caches fill up to their
    // bound as the database grows.
    let kept = |s: &Sample| s.heap_in_use_kib.saturating_sub(s.sqlite_kib);
    if let (Some(first), Some(last)) = (quiet.first(), quiet.last()) {
        if kept(last) > kept(first) + options.max_heap_growth_kib {
            failures.push(format!(
                "heap in use outside SQLite grew {} KiB -> {} KiB between the first and the last quiet point (limit {})",
                kept(first),
                kept(last),
                options.max_heap_growth_kib
            ));
        }
    }
    if rss_max > rss_half + options.max_growth_kib {
        failures.push(format!(
            "RSS grew {} KiB in the second half (limit {})",
            rss_max - rss_half,
            options.max_growth_kib
        ));
    }
    Ok(Report {
        scenario: "soak",
        duration_s: options.duration,
        clients: options.clients,
        counts,
        rss_start_kib: before.rss_kib,
        rss_half_kib: rss_half,
        rss_max_kib: rss_max,
        rss_end_kib: rss_end,
        fds_start,
        fds_max,
        fds_end,
        tasks_start,
        tasks_end,
        connections_end,
        threads_start,
        before,
        quiet,
        samples,
        failures,
    })
}

/// Waits for the server to go quiet once the traffic is held back: no
/// connection open, and no more threads than before the traffic (the
/// runtime's blocking threads end after 10 s idle; each one holds a cache of
/// freed chunks that the allocator counts as in use).
async fn settle(server: &Server, threads_start: u64) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let connections = server
            .metrics()
            .await
            .get("soporte_connections_open")
            .copied()
            .unwrap_or(0.0);
        let threads = server.threads().unwrap_or(0);
        if connections == 0.0 && threads <= threads_start {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{connections} connections open and {threads} threads ({threads_start} before the traffic) after 30 s"
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn sample(server: &Server, started: Instant, tally: &Tally) -> Sample {
    let metrics = server.metrics().await;
    let gauge = |name: &str| metrics.get(name).copied().unwrap_or(0.0) as u64;
    Sample {
        t_s: started.elapsed().as_secs(),
        rss_kib: server.rss_kib().unwrap_or(0),
        heap_in_use_kib: gauge("soporte_heap_in_use_bytes") / 1024,
        heap_free_kib: gauge("soporte_heap_free_bytes") / 1024,
        sqlite_kib: gauge("soporte_sqlite_memory_bytes") / 1024,
        fds: fds(server),
        connections: gauge("soporte_connections_open"),
        tasks: gauge("soporte_tasks_alive"),
        threads: server.threads().unwrap_or(0),
        messages_confirmed: tally.confirmed.load(Ordering::Relaxed),
        wal_kib: server.wal_bytes().unwrap_or(0) / 1024,
    }
}

/// The customers one worker plays in turn, one per ticket, so that nobody
/// writes faster than a person does. The server's per-user message budget
/// (shipped: 20/s, burst 60) outlives a user's sockets: a ticket's four visits
/// spend at most 22 of it, and 16 tickets (64 visits, each followed by a pause
/// of at least 20 ms) pass before the same customer writes again.
const CUSTOMERS_PER_WORKER: i64 = 16;

/// One worker's virtual customers, visit after visit until `stop`.
async fn customer_loop(
    base: String,
    ws_base: String,
    worker: i64,
    tally: Arc<Tally>,
    traffic: Arc<Traffic>,
) {
    let http = reqwest::Client::new();
    let agent = 600_000 + worker;
    let mut round: u64 = 0;
    let mut opened: i64 = 0;
    // The ticket visited, and the customer whose it is.
    let mut ticket: Option<(i64, i64)> = None;
    while let Some(turn) = traffic.turn().await {
        round += 1;
        // A new ticket every fourth round for the worker's next customer,
        // opened by the worker's agent (as a helpdesk does after a call: a
        // customer opening one a minute would meet the server's ticket
        // limits); otherwise come back to the last.
        if ticket.is_none() || round.is_multiple_of(4) {
            let customer = 500_000 + worker * CUSTOMERS_PER_WORKER + opened % CUSTOMERS_PER_WORKER;
            opened += 1;
            let Some(created) = open_ticket(&http, &base, customer, Some(agent), "soak").await
            else {
                continue;
            };
            ticket = Some((created, customer));
        }
        let Some((id, customer)) = ticket else {
            continue;
        };
        if let Err(error) = one_visit(&http, &ws_base, id, customer, agent, round, &tally).await {
            eprintln!("soak: worker {worker}: {error}");
            tally.lost.fetch_add(1, Ordering::Relaxed);
        }
        tally.sessions.fetch_add(1, Ordering::Relaxed);
        drop(turn);
        tokio::time::sleep(Duration::from_millis(20 + (round * 37 % 200))).await;
    }
}

/// A new ticket of `customer`'s, opened by them or by `agent`, or `None` if
/// the server would not open one.
async fn open_ticket(
    http: &reqwest::Client,
    base: &str,
    customer: i64,
    agent: Option<i64>,
    asunto: &str,
) -> Option<i64> {
    let request = http.post(format!("{base}/api/soporte/tickets/"));
    let request = match agent {
        None => request
            .bearer_auth(client::token(customer, Role::Customer))
            .json(&json!({ "asunto": asunto })),
        Some(agent) => request
            .bearer_auth(client::token(agent, Role::Agent))
            .json(&json!({ "asunto": asunto, "cliente": {"id": customer, "nombre": format!("Cliente {customer}")} })),
    };
    let created = request.send().await.ok()?;
    created.json::<Value>().await.ok()?["id"].as_i64()
}

/// A client that sends far faster than allowed, over and over: each round
/// must end with refusals and a close with 4102 (never with the server
/// taking it all, nor with a hang).
async fn flooder_loop(base: String, ws_base: String, tally: Arc<Tally>, traffic: Arc<Traffic>) {
    const BURST: usize = 200;
    let http = reqwest::Client::new();
    let flooder = 700_000;
    let mut round: u64 = 0;
    // One ticket, opened once: the flood is of messages (a flood of tickets
    // meets the server's ticket limits, tested in the API suite).
    let mut opened = None;
    while let Some(turn) = traffic.turn().await {
        round += 1;
        let ticket = match opened {
            Some(ticket) => ticket,
            None => match open_ticket(&http, &base, flooder, None, "flood").await {
                Some(ticket) => *opened.insert(ticket),
                None => {
                    eprintln!("soak: flooder: cannot open a ticket");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        tally.flood_rounds.fetch_add(1, Ordering::Relaxed);
        match flood_once(&ws_base, ticket, flooder, round, BURST, &tally).await {
            Ok(()) => {
                tally.flood_closed.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => eprintln!("soak: flooder round {round}: {error}"),
        }
        drop(turn);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// One flood: `burst` messages at once, then read until the server closes.
async fn flood_once(
    ws_base: &str,
    ticket: i64,
    flooder: i64,
    round: u64,
    burst: usize,
    tally: &Tally,
) -> Result<(), String> {
    let mut socket = connect(ws_base, ticket, flooder, Role::Customer).await?;
    next_of(&mut socket, &["connection_established"]).await?;
    for n in 0..burst {
        let frame = client::message_frame("¡mira esto!", &format!("flood-{round}-{n}"));
        // The server may close mid-burst: that is the point.
        if socket.feed(frame).await.is_err() {
            break;
        }
    }
    let _ = socket.flush().await;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .map_err(|_| "not closed within 10 s".to_string())?;
        match frame {
            Some(Ok(WsMessage::Text(text))) => {
                let value: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                if value["tipo"] == "error" && value["data"]["codigo"] == "limite_de_frecuencia" {
                    tally.flood_refusals.fetch_add(1, Ordering::Relaxed);
                }
            }
            Some(Ok(WsMessage::Close(Some(close))))
                if u16::from(close.code)
                    == soporte_protocol::CloseReason::TOO_MANY_MESSAGES.code =>
            {
                return Ok(())
            }
            Some(Ok(WsMessage::Close(close))) => return Err(format!("closed with {close:?}")),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(format!("failed before a close: {error}")),
            None => return Err("ended without a close frame".into()),
        }
    }
}

async fn connect(
    ws_base: &str,
    ticket: i64,
    user: i64,
    role: Role,
) -> Result<client::Socket, String> {
    let url = format!(
        "{ws_base}/ws/soporte/ticket/{ticket}/?token={}",
        client::token(user, role)
    );
    let (socket, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(client::socket_config()), true)
            .await
            .map_err(|e| e.to_string())?;
    Ok(socket)
}

/// Waits for the next frame of one of `tipos`, skipping others.
async fn next_of(socket: &mut client::Socket, tipos: &[&str]) -> Result<Value, String> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .map_err(|_| format!("no {tipos:?} within 10 s"))?
            .ok_or("closed")?
            .map_err(|e| e.to_string())?;
        if let WsMessage::Text(text) = frame {
            let value: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            if tipos.iter().any(|t| value["tipo"] == *t) {
                return Ok(value);
            }
        }
    }
}

async fn one_visit(
    http: &reqwest::Client,
    ws_base: &str,
    ticket: i64,
    customer: i64,
    agent: i64,
    round: u64,
    tally: &Tally,
) -> Result<(), String> {
    let mut c = connect(ws_base, ticket, customer, Role::Customer).await?;
    next_of(&mut c, &["connection_established"]).await?;
    let mut a = connect(ws_base, ticket, agent, Role::Agent).await?;
    next_of(&mut a, &["connection_established"]).await?;
    let send = |frame: Value| WsMessage::Text(frame.to_string().into());
    for n in 0..5 {
        c.send(send(json!({"tipo": "typing_start", "data": {}})))
            .await
            .map_err(|e| e.to_string())?;
        let client_id = format!("soak-{round}-{n}");
        c.send(client::message_frame(
            "mensaje de prueba de larga duración",
            &client_id,
        ))
        .await
        .map_err(|e| e.to_string())?;
        let answer = next_of(&mut c, &["mensaje_confirmado", "error"]).await?;
        if answer["tipo"] == "error" {
            return Err(format!("{client_id} refused: {answer}"));
        }
        tally.confirmed.fetch_add(1, Ordering::Relaxed);
        let got = next_of(&mut a, &["mensaje_recibido"]).await?;
        if got["data"]["client_id"] != client_id.as_str() {
            return Err(format!("agent got {got} instead of {client_id}"));
        }
        tally.delivered.fetch_add(1, Ordering::Relaxed);
    }
    if round.is_multiple_of(3) {
        c.send(send(json!({"tipo": "file_upload_request", "data": {"nombre_archivo": "captura.png", "tamaño": PNG.len(), "tipo_mime": "image/png"}})))
            .await
            .map_err(|e| e.to_string())?;
        let grant = next_of(&mut c, &["file_upload_authorized", "error"]).await?;
        let grant = &grant["data"];
        let url = grant["upload_url"]
            .as_str()
            .ok_or(format!("no upload_url in {grant}"))?;
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("captura.png"),
        );
        let mut request = http.post(url).multipart(form);
        for (name, value) in grant["headers"].as_object().into_iter().flatten() {
            request = request.header(name, value.as_str().unwrap_or_default());
        }
        let status = request.send().await.map_err(|e| e.to_string())?.status();
        if status.as_u16() != 201 {
            return Err(format!("upload answered {status}"));
        }
        next_of(&mut a, &["file_uploaded"]).await?;
        tally.uploads.fetch_add(1, Ordering::Relaxed);
    }
    if round.is_multiple_of(2) {
        let _ = c.close(None).await;
        let _ = a.close(None).await;
    } else {
        // Gone without a word (a phone losing its network).
        tally.abrupt.fetch_add(1, Ordering::Relaxed);
        drop(c);
        drop(a);
    }
    Ok(())
}
