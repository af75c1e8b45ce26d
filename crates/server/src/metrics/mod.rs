//! Process-wide counters and gauges, rendered as Prometheus text at `/metrics`.
//!
//! Plain atomics rather than a metrics framework: the set is small and fixed,
//! the hot paths pay one relaxed add, and there is no registry to wire through.

mod labelled;
mod process;

pub use labelled::{method_label, Labelled};

use crate::store::Backlog;
use soporte_protocol::Timestamp;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

pub static METRICS: Metrics = Metrics::new();

/// HTTP requests answered by the router (a request refused for its
/// address's rate never reaches it: `soporte_http_rate_limited_total`).
pub static HTTP_REQUESTS: Labelled = Labelled::new(
    "soporte_http_requests_total",
    "HTTP requests answered, by route template (none: unmatched), method and status",
    &["route", "method", "status"],
);

/// Client frames answered with an `error` frame, by its `codigo`.
pub static FRAMES_REFUSED: Labelled = Labelled::new(
    "soporte_frames_refused_total",
    "Client frames answered with an error frame, by codigo",
    &["codigo"],
);

/// WebSocket connections ended, by the close code this server sent; `peer`
/// when the client closed first or went away.
pub static WS_CLOSES: Labelled = Labelled::new(
    "soporte_ws_closes_total",
    "WebSocket connections ended, by the close code the server sent (peer: the client closed or went away)",
    &["code"],
);

/// Emails this node attempted, by kind and how the attempt ended.
pub static EMAILS: Labelled = Labelled::new(
    "soporte_emails_total",
    "Emails this node attempted, by kind and outcome (enviado, cancelado, reintento, fallido)",
    &["tipo", "resultado"],
);

/// Upper bounds (seconds) of the commit latency histogram.
const COMMIT_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0];

pub struct Metrics {
    pub connections_open: AtomicI64,
    pub connections_total: AtomicU64,
    pub connections_refused: AtomicU64,
    pub frames_received: AtomicU64,
    pub messages_committed: AtomicU64,
    pub commit_batches: AtomicU64,
    pub commit_failures: AtomicU64,
    /// PostgreSQL: batches run again statement by statement (see
    /// `store::postgres::writer`).
    pub commit_stepwise: AtomicU64,
    pub writer_queue_depth: AtomicI64,
    pub events_delivered: AtomicU64,
    /// Connections closed because their outgoing queue was full.
    pub slow_consumers_closed: AtomicU64,
    pub rate_limited: AtomicU64,
    /// HTTP requests refused for their address's rate (`--requests-per-ip`).
    pub http_rate_limited: AtomicU64,
    /// Cluster mode: events published to / received from other nodes.
    pub cluster_published: AtomicU64,
    pub cluster_received: AtomicU64,
    /// Events that could not be published (Redis down for too long).
    pub cluster_publish_dropped: AtomicU64,
    /// Messages a room got from the database because Redis did not bring them.
    pub cluster_gap_filled: AtomicU64,
    /// 1 while this node's Redis subscription is live.
    pub cluster_subscribed: AtomicI64,
    commit_seconds_buckets: [AtomicU64; COMMIT_BUCKETS.len()],
    commit_seconds_count: AtomicU64,
    commit_micros_sum: AtomicU64,
    /// Checkpoints the SQLite writer ran between two batches so that the WAL
    /// starts over, and the time it spent in them: no batch commits meanwhile.
    pub wal_restarts: AtomicU64,
    /// Pages the SQLite writer's commits appended to the WAL.
    pub wal_frames: AtomicU64,
    wal_restart_micros: AtomicU64,
    /// Webhook deliveries this node's worker got a 2xx for.
    pub webhooks_delivered: AtomicU64,
    /// Webhook attempts that failed and will be tried again.
    pub webhooks_retries: AtomicU64,
    /// Webhook deliveries given up (older than `--webhook-max-age`).
    pub webhooks_given_up: AtomicU64,
}

impl Metrics {
    const fn new() -> Metrics {
        Metrics {
            connections_open: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            frames_received: AtomicU64::new(0),
            messages_committed: AtomicU64::new(0),
            commit_batches: AtomicU64::new(0),
            commit_failures: AtomicU64::new(0),
            commit_stepwise: AtomicU64::new(0),
            writer_queue_depth: AtomicI64::new(0),
            events_delivered: AtomicU64::new(0),
            slow_consumers_closed: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            http_rate_limited: AtomicU64::new(0),
            cluster_published: AtomicU64::new(0),
            cluster_received: AtomicU64::new(0),
            cluster_publish_dropped: AtomicU64::new(0),
            cluster_gap_filled: AtomicU64::new(0),
            cluster_subscribed: AtomicI64::new(0),
            commit_seconds_buckets: [const { AtomicU64::new(0) }; COMMIT_BUCKETS.len()],
            commit_seconds_count: AtomicU64::new(0),
            commit_micros_sum: AtomicU64::new(0),
            wal_restarts: AtomicU64::new(0),
            wal_frames: AtomicU64::new(0),
            wal_restart_micros: AtomicU64::new(0),
            webhooks_delivered: AtomicU64::new(0),
            webhooks_retries: AtomicU64::new(0),
            webhooks_given_up: AtomicU64::new(0),
        }
    }

    pub fn observe_commit(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        for (bound, bucket) in COMMIT_BUCKETS.iter().zip(&self.commit_seconds_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.commit_seconds_count.fetch_add(1, Ordering::Relaxed);
        self.commit_micros_sum
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn observe_wal_restart(&self, took: Duration) {
        self.wal_restarts.fetch_add(1, Ordering::Relaxed);
        self.wal_restart_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// The metrics in Prometheus text; `store_memory` is what the store's
    /// database library holds (SQLite), when it reports it; `free_space`
    /// what the file storage's disk has left, where it can be measured.
    pub fn render(
        &self,
        store_memory: Option<u64>,
        outbox: Option<Backlog>,
        free_space: Option<u64>,
    ) -> String {
        let mut out = String::with_capacity(4096);
        let counters: [(&str, &str, u64); 20] = [
            (
                "soporte_webhooks_delivered_total",
                "Webhook deliveries a receiver answered with 2xx (this node)",
                self.webhooks_delivered.load(Ordering::Relaxed),
            ),
            (
                "soporte_webhooks_retries_total",
                "Webhook attempts that failed and will be tried again (this node)",
                self.webhooks_retries.load(Ordering::Relaxed),
            ),
            (
                "soporte_webhooks_failed_total",
                "Webhook deliveries given up after --webhook-max-age (this node)",
                self.webhooks_given_up.load(Ordering::Relaxed),
            ),
            (
                "soporte_connections_total",
                "WebSocket connections accepted",
                self.connections_total.load(Ordering::Relaxed),
            ),
            (
                "soporte_connections_refused_total",
                "WebSocket upgrades refused (auth, permission, limits)",
                self.connections_refused.load(Ordering::Relaxed),
            ),
            (
                "soporte_frames_received_total",
                "Client frames received",
                self.frames_received.load(Ordering::Relaxed),
            ),
            (
                "soporte_messages_committed_total",
                "Messages durably committed",
                self.messages_committed.load(Ordering::Relaxed),
            ),
            (
                "soporte_commit_batches_total",
                "Write transactions committed (group commit batches)",
                self.commit_batches.load(Ordering::Relaxed),
            ),
            (
                "soporte_commit_failures_total",
                "Write transactions that failed to commit",
                self.commit_failures.load(Ordering::Relaxed),
            ),
            (
                "soporte_commit_stepwise_total",
                "Write batches run again statement by statement (PostgreSQL: a job that skipped its savepoint failed after writing)",
                self.commit_stepwise.load(Ordering::Relaxed),
            ),
            (
                "soporte_wal_frames_total",
                "Pages the SQLite writer's commits appended to the WAL (each is written and synced)",
                self.wal_frames.load(Ordering::Relaxed),
            ),
            (
                "soporte_wal_restarts_total",
                "Checkpoints the SQLite writer finished between two batches so the WAL starts over",
                self.wal_restarts.load(Ordering::Relaxed),
            ),
            (
                "soporte_events_delivered_total",
                "Events queued to connections",
                self.events_delivered.load(Ordering::Relaxed),
            ),
            (
                "soporte_slow_consumers_closed_total",
                "Connections closed because they did not read fast enough",
                self.slow_consumers_closed.load(Ordering::Relaxed),
            ),
            (
                "soporte_rate_limited_total",
                "Frames refused by the per-connection rate limit",
                self.rate_limited.load(Ordering::Relaxed),
            ),
            (
                "soporte_http_rate_limited_total",
                "HTTP requests refused for their client address's rate (--requests-per-ip)",
                self.http_rate_limited.load(Ordering::Relaxed),
            ),
            (
                "soporte_cluster_published_total",
                "Events published to the other nodes (cluster mode)",
                self.cluster_published.load(Ordering::Relaxed),
            ),
            (
                "soporte_cluster_received_total",
                "Events received from the other nodes (cluster mode)",
                self.cluster_received.load(Ordering::Relaxed),
            ),
            (
                "soporte_cluster_publish_dropped_total",
                "Events not published because Redis was unreachable (messages are recovered from the database)",
                self.cluster_publish_dropped.load(Ordering::Relaxed),
            ),
            (
                "soporte_cluster_gap_filled_total",
                "Messages delivered from the database because they did not arrive through Redis",
                self.cluster_gap_filled.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let gauges: [(&str, &str, i64); 3] = [
            (
                "soporte_connections_open",
                "WebSocket connections open now",
                self.connections_open.load(Ordering::Relaxed),
            ),
            (
                "soporte_writer_queue_depth",
                "Writes waiting for the database writer",
                self.writer_queue_depth.load(Ordering::Relaxed),
            ),
            (
                "soporte_cluster_subscribed",
                "1 while the Redis subscription of this node is live (cluster mode)",
                self.cluster_subscribed.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP soporte_build_info The version and commit this node runs\n\
             # TYPE soporte_build_info gauge\n\
             soporte_build_info{{version=\"{}\",commit=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            env!("SOPORTE_GIT_COMMIT")
        );
        HTTP_REQUESTS.render(&mut out);
        FRAMES_REFUSED.render(&mut out);
        WS_CLOSES.render(&mut out);
        EMAILS.render(&mut out);
        process::render(&mut out);
        if let Some(free) = free_space {
            let name = "soporte_storage_free_bytes";
            let _ = writeln!(
                out,
                "# HELP {name} Free bytes on the file storage's disk (uploads stop below --min-free-space)\n# TYPE {name} gauge\n{name} {free}"
            );
        }
        // The outbox is the database's, shared by every node.
        if let Some(outbox) = outbox {
            let oldest = outbox.oldest.map_or(0.0, |at| {
                (Timestamp::now().millis() - at.millis()).max(0) as f64 / 1000.0
            });
            let _ = writeln!(
                out,
                "# HELP soporte_webhooks_pending Webhook deliveries not delivered or given up yet\n\
                 # TYPE soporte_webhooks_pending gauge\nsoporte_webhooks_pending {}\n\
                 # HELP soporte_webhooks_oldest_pending_seconds Age of the oldest pending webhook delivery\n\
                 # TYPE soporte_webhooks_oldest_pending_seconds gauge\nsoporte_webhooks_oldest_pending_seconds {oldest:.3}",
                outbox.pending
            );
        }
        // Tasks of the runtime that renders this: a task that outlives its
        // connection shows as a count that does not come back down.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let name = "soporte_tasks_alive";
            let _ = writeln!(
                out,
                "# HELP {name} Tasks alive in the async runtime\n# TYPE {name} gauge\n{name} {}",
                runtime.metrics().num_alive_tasks()
            );
        }
        // RSS alone cannot tell a leak (more in use) from memory the
        // allocator keeps after it was freed; these two can.
        if let Some(heap) = crate::memory::heap() {
            let heap_gauges = [
                (
                    "soporte_heap_in_use_bytes",
                    "Heap bytes allocated and not yet freed (glibc mallinfo2)",
                    heap.in_use,
                ),
                (
                    "soporte_heap_free_bytes",
                    "Heap bytes freed but kept by the allocator (glibc mallinfo2)",
                    heap.free,
                ),
            ];
            for (name, help, value) in heap_gauges {
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
                );
            }
        }
        if let Some(value) = store_memory {
            let name = "soporte_sqlite_memory_bytes";
            let help = "Heap bytes SQLite holds: page caches, statements, schema (part of the heap in use)";
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let name = "soporte_commit_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to write and commit one batch\n# TYPE {name} histogram"
        );
        for (bound, bucket) in COMMIT_BUCKETS.iter().zip(&self.commit_seconds_buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.commit_seconds_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.commit_micros_sum.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
        let name = "soporte_wal_restart_seconds_total";
        let _ = writeln!(
            out,
            "# HELP {name} Time the SQLite writer spent in those checkpoints, committing nothing\n# TYPE {name} counter\n{name} {}",
            self.wal_restart_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        out
    }
}
