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
use soporte_protocol::webhook::{DeliveryState, MessageEventData, TicketRef, WebhookView};
use soporte_protocol::{MessageId, TicketId, Timestamp};
use std::collections::HashMap;
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
    pub body: EventBody<'a>,
    pub at: Timestamp,
}

/// What an event's body is made of.
#[derive(Debug, Clone, Copy)]
pub enum EventBody<'a> {
    /// Written with the event.
    Written(&'a str),
    /// A `mensaje.creado`: built from the message when it is posted.
    Message(MessageId),
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
    /// Deliveries of one ticket to one endpoint go in `id` order.
    pub ticket: Option<TicketId>,
}

impl DueDelivery {
    /// Its queue: deliveries of one queue are posted one after another.
    pub fn queue(&self) -> Option<(i64, TicketId)> {
        self.ticket.map(|ticket| (self.webhook, ticket))
    }
}

/// A due delivery as read, with the pending delivery before it in its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub delivery: DueDelivery,
    pub previous: Option<i64>,
    /// The message to build the body from, when none was written.
    pub message: Option<MessageId>,
}

/// Of the candidates (in `id` order), those that may be posted now, in
/// order: a delivery goes when it is the first pending one of its queue, or
/// comes right after one that goes (the worker posts a queue's run one after
/// another). Anything else waits: a candidate whose predecessor another
/// worker holds, or that was skipped (PostgreSQL's SKIP LOCKED), would be
/// posted out of order.
pub fn runs(candidates: Vec<Candidate>, limit: usize) -> Vec<Candidate> {
    let mut last_taken: std::collections::HashMap<(i64, TicketId), i64> = Default::default();
    let mut taken = Vec::new();
    for candidate in candidates {
        if taken.len() == limit {
            break;
        }
        let Some(queue) = candidate.delivery.queue() else {
            taken.push(candidate);
            continue;
        };
        let follows = match candidate.previous {
            None => true,
            Some(previous) => last_taken.get(&queue) == Some(&previous),
        };
        if follows {
            last_taken.insert(queue, candidate.delivery.id);
            taken.push(candidate);
        }
    }
    taken
}

/// What a worker claims: due deliveries of endpoints not paused, not leased
/// to another worker, whose queue has nothing earlier held (leased, or
/// tried and waiting for its retry). A delivery never tried is due at once, whatever its
/// `proximo_intento` (its creation on the writing node's clock, which may run
/// ahead of this one's); so every pending row is either held or claimable in
/// `id` order, and a queue's order holds across nodes.
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
    let body = webhooks::event_body(&id, event, at, data);
    for &webhook in webhooks {
        let row = DeliveryRow {
            webhook,
            event_id: &id,
            event,
            ticket,
            body: EventBody::Written(&body),
            at,
        };
        tx.insert_delivery(&row).await?;
    }
    Ok(())
}

/// Queues `mensaje.creado` for each of `webhooks`: a small row, its body
/// built when it is posted (see [`with_bodies`]).
pub(super) async fn queue_message(
    tx: &mut dyn WriteTx,
    webhooks: &[i64],
    ticket: TicketId,
    message: MessageId,
) -> StoreResult<()> {
    if webhooks.is_empty() {
        return Ok(());
    }
    let id = webhooks::new_event_id();
    let at = Timestamp::now();
    for &webhook in webhooks {
        let row = DeliveryRow {
            webhook,
            event_id: &id,
            event: EventType::MessageCreated,
            ticket: Some(ticket),
            body: EventBody::Message(message),
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

/// A worker's round: records `finished` (retry, give up, pause the endpoint),
/// gives back `released` (claimed, not posted: they followed a failure in
/// their queue), and claims what is due, in one write.
pub(super) async fn settle_and_claim<S: Store + ?Sized>(
    store: &S,
    finished: Vec<Finished>,
    released: Vec<i64>,
    claim: DueClaim,
    policy: RetryPolicy,
) -> StoreResult<Round> {
    write(store, Locks::default(), move |tx| {
        let finished = finished.clone();
        let released = released.clone();
        async move {
            let mut round = Round::default();
            for done in &finished {
                match settle(tx, done, policy).await? {
                    DeliveryState::Delivered => round.delivered += 1,
                    DeliveryState::Pending => round.retrying += 1,
                    DeliveryState::Failed => round.given_up += 1,
                }
            }
            if !released.is_empty() {
                tx.release_deliveries(&released).await?;
            }
            if claim.limit > 0 {
                let candidates = runs(tx.due_candidates(&claim).await?, claim.limit);
                round.due = with_bodies(tx, candidates).await?;
                let ids: Vec<i64> = round.due.iter().map(|d| d.id).collect();
                tx.lease_deliveries(&ids, claim.lease_until).await?;
            }
            Ok(round)
        }
        .boxed_local()
    })
    .await
}

/// The claimed deliveries with their bodies: those of `mensaje.creado` built
/// from the message (the same on every attempt: messages do not change,
/// except when a person's data is erased, and then the erased text is what
/// may be sent).
async fn with_bodies(
    tx: &mut dyn WriteTx,
    candidates: Vec<Candidate>,
) -> StoreResult<Vec<DueDelivery>> {
    let mut external_ids: HashMap<TicketId, Option<String>> = HashMap::new();
    let mut due = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let mut delivery = candidate.delivery;
        if let (Some(message), Some(ticket)) = (candidate.message, delivery.ticket) {
            let Some(message) = tx.message(ticket, message).await? else {
                tracing::error!(
                    delivery = delivery.id,
                    "the message of a webhook event is gone"
                );
                continue;
            };
            let external_id = match external_ids.get(&ticket) {
                Some(known) => known.clone(),
                None => {
                    let found = tx.ticket(ticket).await?.and_then(|t| t.external_id);
                    external_ids.insert(ticket, found.clone());
                    found
                }
            };
            let data = MessageEventData {
                message,
                ticket: TicketRef {
                    id: ticket,
                    external_id,
                },
            };
            let event = EventType::MessageCreated;
            delivery.body =
                webhooks::event_body(&delivery.event_id, event, delivery.created, &data);
        }
        due.push(delivery);
    }
    Ok(due)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: i64, ticket: Option<TicketId>, previous: Option<i64>) -> Candidate {
        let message = None;
        Candidate {
            delivery: DueDelivery {
                id,
                webhook: 1,
                url: String::new(),
                secret: String::new(),
                event_id: String::new(),
                body: String::new(),
                attempts: 0,
                created: Timestamp::from_millis(0),
                ticket,
            },
            previous,
            message,
        }
    }

    fn ids(due: &[Candidate]) -> Vec<i64> {
        due.iter().map(|c| c.delivery.id).collect()
    }

    #[test]
    fn a_queue_goes_as_a_run_from_its_first_pending_delivery_without_gaps() {
        let due = runs(
            vec![
                candidate(1, Some(7), None),
                candidate(2, Some(8), Some(0)), // behind a delivery not read
                candidate(3, Some(7), Some(1)),
                candidate(4, None, None),
                candidate(5, Some(8), Some(2)),
                candidate(6, Some(7), Some(5)), // 5 is not ticket 7's: a gap
                candidate(9, Some(7), Some(3)),
            ],
            10,
        );
        assert_eq!(ids(&due), vec![1, 3, 4, 9]);
        assert_eq!(
            ids(&runs(
                vec![candidate(1, Some(7), None), candidate(3, Some(7), Some(1))],
                1
            )),
            vec![1]
        );
    }
}
