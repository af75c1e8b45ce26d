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
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Deliveries posted at once by one node.
const IN_FLIGHT: usize = 64;
/// How often the outbox is looked at with nothing ringing.
const POLL: Duration = Duration::from_millis(500);
/// How often finished deliveries past their retention are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

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
    let mut in_flight: JoinSet<Finished> = JoinSet::new();
    let mut finished: Vec<Finished> = Vec::new();
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = tokio::time::Instant::now();
    let mut look = true;
    loop {
        let room = IN_FLIGHT - in_flight.len();
        if !finished.is_empty() || (look && room > 0) {
            let now = Timestamp::now();
            let claim = DueClaim {
                now,
                lease_until: Timestamp::from_millis(now.millis() + lease.as_millis() as i64),
                limit: room,
            };
            let settled = finished.clone();
            match store
                .settle_and_claim(settled, claim, settings.policy)
                .await
            {
                Ok(round) => {
                    finished.clear();
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
                    for delivery in round.due {
                        let poster = poster.clone();
                        in_flight.spawn(attempt(poster, delivery));
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
                if let Ok(done) = done {
                    finished.push(done);
                }
                while let Some(Ok(done)) = in_flight.try_join_next() {
                    finished.push(done);
                }
            }
        }
    }
    // What is in flight is not recorded: its leases run out and it is
    // posted again (receivers dedupe by event id).
    in_flight.abort_all();
}

async fn attempt(poster: Poster, delivery: DueDelivery) -> Finished {
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
