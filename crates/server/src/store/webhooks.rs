//! The webhook outbox, once for both databases: which subscriptions an
//! event is owed to (written in the transaction of the change it tells
//! of), subscriptions made and deleted, and the delivery workers' one write
//! per round: record what their attempts gave, then claim what is due.

use super::writes::{write, Locks, WriteTx};
use super::{Store, StoreResult};
use crate::domain::webhooks::{
    self, after_attempt, pause_for, AfterAttempt, EventFilter, EventType, RetryPolicy,
};
use futures_util::future::FutureExt;
use soporte_protocol::webhook::{DeliveryState, WebhookView};
use soporte_protocol::{TicketId, Timestamp};
use std::time::Duration;

/// A subscription to store.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub events: EventFilter,
    pub include_internal: bool,
    pub description: Option<String>,
    pub secret: String,
}

#[derive(Debug, Clone, Copy)]
pub struct WebhookRow<'a> {
    pub url: &'a str,
    /// JSON array of names.
    pub events: &'a str,
    pub include_internal: bool,
    pub description: Option<&'a str>,
    pub secret: &'a str,
    pub at: Timestamp,
}

/// One event owed to one subscription.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryRow<'a> {
    pub webhook: i64,
    pub event_id: &'a str,
    pub event: EventType,
    pub ticket: Option<TicketId>,
    pub body: &'a str,
    pub at: Timestamp,
}

/// A delivery a worker claimed: what to post, where, signed with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    pub id: i64,
    pub webhook: i64,
    pub url: String,
    pub secret: String,
    pub event_id: String,
    pub body: String,
    /// Attempts before this one.
    pub attempts: u32,
    pub created: Timestamp,
}

/// What a worker claims: due deliveries, each the oldest pending one of its
/// ticket for its endpoint, of endpoints not paused, not leased to another.
#[derive(Debug, Clone, Copy)]
pub struct DueClaim {
    pub now: Timestamp,
    /// Nobody else posts them before then (a worker that dies loses nothing:
    /// the lease runs out and another takes them).
    pub lease_until: Timestamp,
    pub limit: usize,
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub struct Finished {
    pub delivery: DueDelivery,
    pub at: Timestamp,
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// Why no answer came.
    pub error: Option<String>,
    pub latency_ms: u64,
    /// In `[0, 1)`: spreads the retries (see `webhooks::after_attempt`).
    pub jitter: f64,
}

impl Finished {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// An attempt to record, and where its delivery goes from there.
#[derive(Debug, Clone, Copy)]
pub struct AttemptRow<'a> {
    pub delivery: i64,
    /// 1 for the first.
    pub attempt: u32,
    pub at: Timestamp,
    pub status: Option<u16>,
    pub error: Option<&'a str>,
    pub latency_ms: u64,
    pub state: DeliveryState,
    /// Pending: when to try again.
    pub next_attempt: Timestamp,
}

/// What a worker's round recorded, and what it claimed.
#[derive(Debug, Clone, Default)]
pub struct Round {
    pub due: Vec<DueDelivery>,
    pub delivered: u64,
    /// Failed attempts that will be tried again.
    pub retrying: u64,
    /// Failed attempts past the maximum age: given up.
    pub given_up: u64,
}

/// The outbox's backlog, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub pending: i64,
    pub oldest: Option<Timestamp>,
}

/// The subscriptions an event of `event` is owed to (`internal`: an
/// internal note's).
pub(super) async fn owed_to(
    tx: &mut dyn WriteTx,
    event: EventType,
    internal: bool,
) -> StoreResult<Vec<i64>> {
    let subscriptions = tx.subscriptions().await?;
    Ok(subscriptions
        .iter()
        .filter(|s| s.wants(event, internal))
        .map(|s| s.id)
        .collect())
}

/// Queues one event for each of `webhooks` (from [`owed_to`]), in the open
/// transaction: the change and its event commit together or not at all.
pub(super) async fn queue<T: serde::Serialize>(
    tx: &mut dyn WriteTx,
    webhooks: &[i64],
    event: EventType,
    ticket: Option<TicketId>,
    data: &T,
) -> StoreResult<()> {
    if webhooks.is_empty() {
        return Ok(());
    }
    let at = Timestamp::now();
    let id = webhooks::new_event_id();
    let data = serde_json::to_value(data).expect("event data serializes");
    let body = webhooks::event_body(id.clone(), event, at, data);
    for &webhook in webhooks {
        let row = DeliveryRow {
            webhook,
            event_id: &id,
            event,
            ticket,
            body: &body,
            at,
        };
        tx.insert_delivery(&row).await?;
    }
    Ok(())
}

/// [`owed_to`] then [`queue`], for data at hand.
pub(super) async fn emit<T: serde::Serialize>(
    tx: &mut dyn WriteTx,
    event: EventType,
    ticket: Option<TicketId>,
    internal: bool,
    data: &T,
) -> StoreResult<()> {
    let webhooks = owed_to(tx, event, internal).await?;
    queue(tx, &webhooks, event, ticket, data).await
}

pub(super) async fn create_webhook<S: Store + ?Sized>(
    store: &S,
    new: NewWebhook,
) -> StoreResult<WebhookView> {
    write(store, Locks::default(), move |tx| {
        let new = new.clone();
        async move {
            let names = new.events.names();
            let events = serde_json::to_string(&names).expect("names serialize");
            let at = Timestamp::now();
            let row = WebhookRow {
                url: &new.url,
                events: &events,
                include_internal: new.include_internal,
                description: new.description.as_deref(),
                secret: &new.secret,
                at,
            };
            let id = tx.insert_webhook(&row).await?;
            Ok(WebhookView {
                id,
                url: new.url.clone(),
                events: names,
                include_internal: new.include_internal,
                description: new.description.clone(),
                created: at,
                failures: 0,
                paused_until: None,
                secret: Some(new.secret.clone()),
            })
        }
        .boxed_local()
    })
    .await
}

/// False when there is no such subscription (or it was deleted before).
pub(super) async fn delete_webhook<S: Store + ?Sized>(store: &S, id: i64) -> StoreResult<bool> {
    write(store, Locks::default(), move |tx| {
        tx.delete_webhook(id, Timestamp::now())
    })
    .await
}

/// Puts a delivery back in the queue, due now, whatever became of it.
pub(super) async fn redeliver<S: Store + ?Sized>(
    store: &S,
    webhook: i64,
    delivery: i64,
) -> StoreResult<bool> {
    write(store, Locks::default(), move |tx| {
        tx.redeliver(webhook, delivery, Timestamp::now())
    })
    .await
}

/// A worker's round: records `finished` (retry, give up, pause the endpoint)
/// and claims what is due, in one write.
pub(super) async fn settle_and_claim<S: Store + ?Sized>(
    store: &S,
    finished: Vec<Finished>,
    claim: DueClaim,
    policy: RetryPolicy,
) -> StoreResult<Round> {
    write(store, Locks::default(), move |tx| {
        let finished = finished.clone();
        async move {
            let mut round = Round::default();
            for done in &finished {
                match settle(tx, done, policy).await? {
                    DeliveryState::Delivered => round.delivered += 1,
                    DeliveryState::Pending => round.retrying += 1,
                    DeliveryState::Failed => round.given_up += 1,
                }
            }
            if claim.limit > 0 {
                round.due = tx.claim_deliveries(&claim).await?;
            }
            Ok(round)
        }
        .boxed_local()
    })
    .await
}

/// Records one attempt; returns where its delivery stands now.
async fn settle(
    tx: &mut dyn WriteTx,
    done: &Finished,
    policy: RetryPolicy,
) -> StoreResult<DeliveryState> {
    let attempt = done.delivery.attempts + 1;
    let age = Duration::from_millis(
        done.at
            .millis()
            .saturating_sub(done.delivery.created.millis())
            .max(0) as u64,
    );
    let (state, next_attempt) =
        match after_attempt(done.succeeded(), attempt, age, policy, done.jitter) {
            AfterAttempt::Delivered => (DeliveryState::Delivered, done.at),
            AfterAttempt::GiveUp => (DeliveryState::Failed, done.at),
            AfterAttempt::Retry(wait) => (
                DeliveryState::Pending,
                Timestamp::from_millis(done.at.millis() + wait.as_millis() as i64),
            ),
        };
    let row = AttemptRow {
        delivery: done.delivery.id,
        attempt,
        at: done.at,
        status: done.status,
        error: done.error.as_deref(),
        latency_ms: done.latency_ms,
        state,
        next_attempt,
    };
    tx.record_attempt(&row).await?;
    let failures = tx
        .count_failure(done.delivery.webhook, !done.succeeded())
        .await?;
    if let Some(pause) = pause_for(failures) {
        let until = Timestamp::from_millis(done.at.millis() + pause.as_millis() as i64);
        tx.pause_webhook(done.delivery.webhook, until).await?;
    }
    Ok(state)
}

/// Forgets deliveries finished (delivered or given up) before `before`.
pub(super) async fn prune_deliveries<S: Store + ?Sized>(
    store: &S,
    before: Timestamp,
) -> StoreResult<usize> {
    write(store, Locks::default(), move |tx| {
        tx.prune_deliveries(before)
    })
    .await
}
