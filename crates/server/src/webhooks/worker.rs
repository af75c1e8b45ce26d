//! One delivery worker per node. Each round is one write: record what the
//! finished attempts gave (retry, give up, pause an endpoint), then claim
//! as many due deliveries as there is room for in flight. Claims are leases
//! (nodes never post the same delivery at once; a node that dies loses
//! nothing, its leases run out). The store's doorbell wakes it right after
//! a local commit queues events; a short poll finds other nodes' events and
//! retries coming due.

use super::client::Poster;
use crate::config::WebhookSettings;
use crate::metrics::METRICS;
use crate::store::{DueClaim, DueDelivery, DynStore, Finished};
use soporte_protocol::Timestamp;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Deliveries claimed and not yet recorded, at most, on one node. A queue's
/// (one ticket's, to one endpoint) run is posted in order by one task;
/// different queues go in parallel.
const IN_FLIGHT: usize = 512;
/// How often the outbox is looked at with nothing ringing.
const POLL: Duration = Duration::from_millis(500);
/// The store's writer is saturated when its batches (group commit) grow
/// past this many messages: messages queue for it. Then rounds wait (their
/// writes, and the posting they start, would take from the chat), once a
/// second at least; the events are safe in the outbox meanwhile.
const SATURATED_BATCH: f64 = 16.0;
const YIELD_STEP: Duration = Duration::from_millis(10);
const YIELD_AT_MOST: Duration = Duration::from_secs(1);

/// Whether the store's writer has been saturated lately: its mean batch
/// since the last look (at least 50 ms ago).
struct WriterLoad {
    at: std::time::Instant,
    messages: u64,
    batches: u64,
    saturated: bool,
}

impl WriterLoad {
    fn new() -> WriterLoad {
        WriterLoad {
            at: std::time::Instant::now(),
            messages: METRICS.messages_committed.load(Ordering::Relaxed),
            batches: METRICS.commit_batches.load(Ordering::Relaxed),
            saturated: false,
        }
    }

    fn saturated(&mut self) -> bool {
        if self.at.elapsed() >= Duration::from_millis(50) {
            let messages = METRICS.messages_committed.load(Ordering::Relaxed);
            let batches = METRICS.commit_batches.load(Ordering::Relaxed);
            let (dm, db) = (messages - self.messages, batches - self.batches);
            self.saturated = db > 0 && dm as f64 / db as f64 > SATURATED_BATCH;
            *self = WriterLoad {
                at: std::time::Instant::now(),
                messages,
                batches,
                saturated: self.saturated,
            };
        }
        self.saturated
    }
}

/// How often finished deliveries past their retention are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Starts the node's worker on a thread of its own, at a lower CPU priority
/// than the threads serving sockets: when the two cores are busy, people's
/// messages go first and webhooks catch up after (their events are safe in
/// the outbox meanwhile). Its runtime does no store reads, so no pooled
/// connection ends up driven by this thread.
pub fn start(
    store: DynStore,
    settings: WebhookSettings,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("webhooks".into())
        .spawn(move || {
            lower_priority();
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(run(store, settings, shutdown)),
                Err(error) => tracing::error!(%error, "webhook deliveries are off"),
            }
        })
        .map(drop)
}

/// Nice 19 (the lowest) for this thread (and the threads it starts). Linux's nice value
/// is per thread; elsewhere this does nothing.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take and return plain integers; they
    // only change this thread's scheduling priority.
    unsafe {
        let tid = libc::gettid();
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19) != 0 {
            tracing::debug!("could not lower the webhook thread's priority");
        }
    }
}

pub async fn run(store: DynStore, settings: WebhookSettings, shutdown: CancellationToken) {
    let poster = match Poster::new(settings.allow_private, settings.timeout) {
        Ok(poster) => poster,
        Err(error) => {
            tracing::error!(%error, "webhook deliveries are off");
            return;
        }
    };
    let doorbell = store.outbox_signal();
    // A lease outlasts an attempt with room to record it.
    let lease = settings.timeout * 2 + Duration::from_secs(5);
    let mut in_flight: JoinSet<RunOutcome> = JoinSet::new();
    let mut busy = 0;
    let mut finished: Vec<Finished> = Vec::new();
    let mut released: Vec<i64> = Vec::new();
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = tokio::time::Instant::now();
    let mut last_round = tokio::time::Instant::now();
    let mut load = WriterLoad::new();
    let mut look = true;
    loop {
        let room = IN_FLIGHT - busy;
        let work = !finished.is_empty() || !released.is_empty() || (look && room > 0);
        if work && load.saturated() && last_round.elapsed() < YIELD_AT_MOST {
            // People's messages first: a round's writes wait while the
            // writer has a queue, once a second at least.
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(YIELD_STEP) => continue,
            }
        }
        if work {
            last_round = tokio::time::Instant::now();
            let now = Timestamp::now();
            let claim = DueClaim {
                now,
                lease_until: Timestamp::from_millis(now.millis() + lease.as_millis() as i64),
                limit: room,
            };
            let settled = finished.clone();
            let given_back = released.clone();
            match store
                .settle_and_claim(settled, given_back, claim, settings.policy)
                .await
            {
                Ok(round) => {
                    finished.clear();
                    released.clear();
                    METRICS
                        .webhooks_delivered
                        .fetch_add(round.delivered, Ordering::Relaxed);
                    METRICS
                        .webhooks_retries
                        .fetch_add(round.retrying, Ordering::Relaxed);
                    METRICS
                        .webhooks_given_up
                        .fetch_add(round.given_up, Ordering::Relaxed);
                    // A full claim: more may be due at once.
                    look = room > 0 && round.due.len() == room;
                    busy += round.due.len();
                    for run in queues(round.due) {
                        in_flight.spawn(post_run(poster.clone(), run));
                    }
                }
                Err(error) => {
                    // Kept, and recorded on the next round.
                    tracing::warn!(%error, "could not record or claim webhook deliveries");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(POLL) => {}
                    }
                    look = true;
                    continue;
                }
            }
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = tokio::time::Instant::now();
            prune(&store, &settings).await;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = doorbell.notified() => look = true,
            _ = poll.tick() => look = true,
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                let mut outcomes = vec![done];
                while let Some(done) = in_flight.try_join_next() {
                    outcomes.push(done);
                }
                for outcome in outcomes.into_iter().flatten() {
                    busy -= outcome.finished.len() + outcome.released.len();
                    finished.extend(outcome.finished);
                    released.extend(outcome.released);
                }
            }
        }
    }
    // What is in flight is not recorded: its leases run out and it is
    // posted again (receivers dedupe by event id).
    in_flight.abort_all();
}

/// What posting one queue's run gave.
struct RunOutcome {
    finished: Vec<Finished>,
    /// Not posted: an earlier delivery of the queue failed.
    released: Vec<i64>,
}

/// The claimed deliveries as runs: each queue's in order, a delivery
/// without a ticket alone.
fn queues(due: Vec<DueDelivery>) -> Vec<Vec<DueDelivery>> {
    let mut runs: Vec<Vec<DueDelivery>> = Vec::new();
    let mut at: HashMap<(i64, soporte_protocol::TicketId), usize> = HashMap::new();
    for delivery in due {
        match delivery.queue() {
            Some(queue) => match at.get(&queue) {
                Some(&index) => runs[index].push(delivery),
                None => {
                    at.insert(queue, runs.len());
                    runs.push(vec![delivery]);
                }
            },
            None => runs.push(vec![delivery]),
        }
    }
    runs
}

/// Posts a run in order, stopping at the first failure: what follows it
/// must not overtake it.
async fn post_run(poster: Poster, run: Vec<DueDelivery>) -> RunOutcome {
    let mut outcome = RunOutcome {
        finished: Vec::with_capacity(run.len()),
        released: Vec::new(),
    };
    let mut failed = false;
    for delivery in run {
        if failed {
            outcome.released.push(delivery.id);
            continue;
        }
        let done = attempt(&poster, delivery).await;
        failed = !done.succeeded();
        outcome.finished.push(done);
    }
    outcome
}

async fn attempt(poster: &Poster, delivery: DueDelivery) -> Finished {
    let at = Timestamp::now();
    let attempted = poster.post(&delivery).await;
    if let Some(error) = &attempted.error {
        tracing::debug!(delivery = delivery.id, %error, "webhook attempt failed");
    }
    Finished {
        delivery,
        at,
        status: attempted.status,
        error: attempted.error,
        latency_ms: attempted.latency.as_millis() as u64,
        jitter: jitter(),
    }
}

/// In `[0, 1)`, from the OS random source.
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    u32::from_le_bytes(bytes) as f64 / (u32::MAX as f64 + 1.0)
}

async fn prune(store: &DynStore, settings: &WebhookSettings) {
    let before =
        Timestamp::from_millis(Timestamp::now().millis() - settings.retention.as_millis() as i64);
    match store.prune_deliveries(before).await {
        Ok(0) => {}
        Ok(pruned) => tracing::debug!(pruned, "finished webhook deliveries forgotten"),
        Err(error) => tracing::warn!(%error, "could not prune webhook deliveries"),
    }
}
