//! Fan-out across nodes through Redis pub/sub, with no message lost or
//! repeated whatever Redis does.
//!
//! Every event a node produces is delivered to its own connections and
//! published on one channel that every node subscribes to. Events that carry
//! a message (`seq`) go through the node's `Sequencer` before they reach a
//! room: a room takes them strictly in `seq` order. What comes early waits a
//! moment for what is missing (local commits and other nodes' publications
//! interleave); if the missing messages do not come, they are read from the
//! database and delivered first. Pub/sub loses what is published while a
//! subscriber is disconnected, and a node killed between commit and publish
//! never publishes: so the sequencer also compares every watched room with
//! the database's `last_seq`, right after each (re)subscription and every
//! few seconds, and fills what is behind.
//!
//! Events without a `seq` (typing, presence, inbox updates) are best effort
//! across nodes: an outage of Redis loses them for the other nodes, which is
//! what they are worth a few seconds later.

use super::Redis;
use crate::bus::{message_event, Bus, Event, InProcessBus};
use crate::hub::inbox::{InboxEvent, InboxRoute, Inboxes};
use crate::hub::{Audience, Except, Hub, InOrder, TicketEvent};
use crate::metrics::METRICS;
use crate::store::Span;
use crate::store::{DynStore, StoreResult};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use soporte_protocol::CloseReason;
use soporte_protocol::{Message, Seq, Ticket, TicketId, UserId};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The one channel every node publishes to and subscribes to.
const CHANNEL: &str = "soporte:events";
/// Events waiting to be published; past it they are dropped (and messages
/// among them recovered from the database by the receivers).
const OUTGOING_QUEUE: usize = 65_536;
/// Publications sent to Redis in one round trip.
const PUBLISH_BATCH: usize = 256;
/// An event not published within this time (Redis down) is dropped: typing
/// or presence replayed late would be wrong, and messages are recovered.
const PUBLISH_PATIENCE: Duration = Duration::from_secs(3);
/// How long an early message waits for the ones before it.
const HOLD_BACK: Duration = Duration::from_millis(100);
/// How often every watched room is compared with the database.
const SWEEP_EVERY: Duration = Duration::from_secs(2);
/// Messages read from the database per gap fill.
const FILL_LIMIT: usize = 1000;
/// Messages waiting in the sequencer; a full queue drops the event, and the
/// sweep recovers it from the database.
const ORDERED_QUEUE: usize = 65_536;

/// The envelope of one event on the channel: a JSON header line, then the
/// frame text as it goes to clients (no second encoding).
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    node: String,
    #[serde(flatten)]
    kind: Kind,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
enum Kind {
    Room {
        ticket: TicketId,
        seq: Option<Seq>,
        staff_only: bool,
        /// A user whose own connections do not get it (their typing). The
        /// sending connection is always on the publishing node.
        except_user: Option<UserId>,
    },
    Inbox {
        route: Route,
    },
    /// The body is the ticket as JSON.
    TicketChanged,
    Revoke {
        ticket: TicketId,
        user: UserId,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Route {
    Ticket { agent: Option<UserId> },
    Agents(Vec<UserId>),
    Everyone,
}

fn encode(node: &str, event: &Event) -> Vec<u8> {
    let (kind, body): (Kind, &[u8]) = match event {
        Event::Room(event) => (
            Kind::Room {
                ticket: event.ticket,
                seq: event.seq,
                staff_only: event.audience == Audience::StaffOnly,
                except_user: match event.except {
                    Except::User(user) => Some(user),
                    _ => None,
                },
            },
            event.text.as_bytes(),
        ),
        Event::Inbox(event) => (
            Kind::Inbox {
                route: match &event.route {
                    InboxRoute::Ticket { agent } => Route::Ticket { agent: *agent },
                    InboxRoute::Agents(agents) => Route::Agents(agents.clone()),
                    InboxRoute::Everyone => Route::Everyone,
                },
            },
            event.text.as_bytes(),
        ),
        Event::TicketChanged(ticket) => {
            let header = Header {
                node: node.to_string(),
                kind: Kind::TicketChanged,
            };
            let mut wire = serde_json::to_vec(&header).expect("header serializes");
            wire.push(b'\n');
            serde_json::to_writer(&mut wire, ticket).expect("ticket serializes");
            return wire;
        }
        Event::Revoke { ticket, user } => (
            Kind::Revoke {
                ticket: *ticket,
                user: *user,
            },
            &[],
        ),
    };
    let header = Header {
        node: node.to_string(),
        kind,
    };
    let mut wire = serde_json::to_vec(&header).expect("header serializes");
    wire.push(b'\n');
    wire.extend_from_slice(body);
    wire
}

/// The event another node published, as this node delivers it; `None` for
/// this node's own publications and for anything malformed.
fn decode(own_node: &str, wire: &[u8]) -> Option<Event> {
    let split = wire.iter().position(|b| *b == b'\n')?;
    let header: Header = serde_json::from_slice(&wire[..split]).ok()?;
    if header.node == own_node {
        return None;
    }
    let body = &wire[split + 1..];
    let text = || std::str::from_utf8(body).ok().map(|t| t.to_string().into());
    Some(match header.kind {
        Kind::Room {
            ticket,
            seq,
            staff_only,
            except_user,
        } => Event::Room(TicketEvent {
            ticket,
            seq,
            audience: if staff_only {
                Audience::StaffOnly
            } else {
                Audience::Everyone
            },
            except: except_user.map_or(Except::Nobody, Except::User),
            text: text()?,
        }),
        Kind::Inbox { route } => Event::Inbox(InboxEvent {
            route: match route {
                Route::Ticket { agent } => InboxRoute::Ticket { agent },
                Route::Agents(agents) => InboxRoute::Agents(agents),
                Route::Everyone => InboxRoute::Everyone,
            },
            text: text()?,
        }),
        Kind::TicketChanged => {
            Event::TicketChanged(Box::new(serde_json::from_slice::<Ticket>(body).ok()?))
        }
        Kind::Revoke { ticket, user } => Event::Revoke { ticket, user },
    })
}

/// The bus of a cluster node.
pub struct RedisBus {
    local: InProcessBus,
    node: Arc<str>,
    ordered: mpsc::Sender<Input>,
    outgoing: mpsc::Sender<(Instant, Vec<u8>)>,
}

impl RedisBus {
    fn deliver_here(&self, event: Event) {
        match event {
            // Every room event, so what follows a message (its file, a
            // receipt) never overtakes it while it waits for its turn.
            Event::Room(event) => {
                if self.ordered.try_send(Input::Event(event)).is_err() {
                    // The sweep finds the room behind and reads the message
                    // from the database.
                    tracing::warn!("sequencer queue full; the message is recovered by the sweep");
                }
            }
            other => self.local.publish(other),
        }
    }
}

impl Bus for RedisBus {
    fn publish(&self, event: Event) {
        let wire = encode(&self.node, &event);
        self.deliver_here(event);
        if self.outgoing.try_send((Instant::now(), wire)).is_err() {
            METRICS
                .cluster_publish_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The tasks that make a [`RedisBus`] work, started once the store is open
/// (the sequencer reads from it; the store's commits flow into the bus).
pub struct ClusterTasks {
    redis: Arc<Redis>,
    bus: Arc<RedisBus>,
    hub: Arc<Hub>,
    ordered: mpsc::Receiver<Input>,
    loopback: mpsc::Sender<Input>,
    outgoing: mpsc::Receiver<(Instant, Vec<u8>)>,
}

/// A bus that reaches every node, and its tasks to start.
pub fn redis_bus(
    redis: Arc<Redis>,
    hub: Arc<Hub>,
    inboxes: Arc<Inboxes>,
) -> (Arc<RedisBus>, ClusterTasks) {
    let (ordered_tx, ordered) = mpsc::channel(ORDERED_QUEUE);
    let (outgoing_tx, outgoing) = mpsc::channel(OUTGOING_QUEUE);
    let bus = Arc::new(RedisBus {
        local: InProcessBus::new(hub.clone(), inboxes),
        node: redis.node.clone(),
        ordered: ordered_tx.clone(),
        outgoing: outgoing_tx,
    });
    let tasks = ClusterTasks {
        redis,
        bus: bus.clone(),
        hub,
        ordered,
        loopback: ordered_tx,
        outgoing,
    };
    (bus, tasks)
}

impl ClusterTasks {
    pub fn spawn(self, store: DynStore, shutdown: CancellationToken) {
        let resubscribed = Arc::new(Notify::new());
        tokio::spawn(publish(self.redis.clone(), self.outgoing, shutdown.clone()));
        tokio::spawn(subscribe(
            self.redis.clone(),
            self.bus.clone(),
            resubscribed.clone(),
            shutdown.clone(),
        ));
        let sequencer = Sequencer {
            hub: self.hub,
            store,
            loopback: self.loopback,
            held: HashMap::new(),
        };
        tokio::spawn(sequencer.run(self.ordered, resubscribed, shutdown));
    }
}

/// Publishes this node's events, many per round trip.
async fn publish(
    redis: Arc<Redis>,
    mut outgoing: mpsc::Receiver<(Instant, Vec<u8>)>,
    shutdown: CancellationToken,
) {
    let mut conn = redis.conn();
    let mut batch: Vec<(Instant, Vec<u8>)> = Vec::with_capacity(PUBLISH_BATCH);
    loop {
        if batch.is_empty() {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                received = outgoing.recv_many(&mut batch, PUBLISH_BATCH) => {
                    if received == 0 {
                        return;
                    }
                }
            }
        }
        let mut pipe = redis::pipe();
        for (_, wire) in &batch {
            pipe.publish(CHANNEL, wire.as_slice()).ignore();
        }
        match super::within(pipe.query_async::<()>(&mut conn)).await {
            Ok(()) => {
                METRICS
                    .cluster_published
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                batch.clear();
            }
            Err(error) => {
                tracing::warn!(%error, "cannot publish to Redis; retrying");
                let before = batch.len();
                batch.retain(|(at, _)| at.elapsed() < PUBLISH_PATIENCE);
                METRICS
                    .cluster_publish_dropped
                    .fetch_add((before - batch.len()) as u64, Ordering::Relaxed);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        }
    }
}

/// Receives the other nodes' events for as long as the node runs,
/// resubscribing after any failure; each new subscription wakes the
/// sequencer's sweep (what was published meanwhile is lost to pub/sub).
async fn subscribe(
    redis: Arc<Redis>,
    bus: Arc<RedisBus>,
    resubscribed: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = async {
            let mut pubsub = super::within(redis.client.get_async_pubsub()).await?;
            super::within(pubsub.subscribe(CHANNEL)).await?;
            Ok::<_, String>(pubsub)
        };
        let pubsub = tokio::select! {
            _ = shutdown.cancelled() => return,
            connected = connected => connected,
        };
        match pubsub {
            Ok(pubsub) => {
                tracing::info!(node = %redis.node, "subscribed to the cluster's events");
                METRICS.cluster_subscribed.store(1, Ordering::Relaxed);
                backoff = Duration::from_millis(100);
                resubscribed.notify_one();
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        message = messages.next() => {
                            let Some(message) = message else { break };
                            METRICS.cluster_received.fetch_add(1, Ordering::Relaxed);
                            if let Some(event) = decode(&redis.node, message.get_payload_bytes()) {
                                bus.deliver_here(event);
                            }
                        }
                    }
                }
                METRICS.cluster_subscribed.store(0, Ordering::Relaxed);
                tracing::warn!("lost the Redis subscription; reconnecting");
            }
            Err(error) => {
                tracing::warn!(%error, "cannot subscribe to Redis; retrying");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

enum Input {
    /// A message's event for a room, from this node or another.
    Event(TicketEvent),
    /// Messages read from the database to fill a room's gap (boxed: rare,
    /// and much larger than an event).
    Filled {
        ticket: TicketId,
        result: Box<StoreResult<(Option<Ticket>, Vec<Message>)>>,
    },
    /// The database's newest `seq` of watched tickets.
    Latest(HashMap<TicketId, Seq>),
}

/// Where a held event goes in its room's line: a message by its `seq`; any
/// other event right after the last event held before it.
type Place = (Seq, u32);

/// Messages that came early for one room, and what came after them.
struct Held {
    events: BTreeMap<Place, TicketEvent>,
    /// When the room started waiting.
    since: Instant,
    /// A read of the missing messages is under way.
    filling: bool,
}

/// Puts each room's messages in `seq` order, filling gaps from the database.
/// One task owns all the waiting state: no locks, and fills never race.
struct Sequencer {
    hub: Arc<Hub>,
    store: DynStore,
    loopback: mpsc::Sender<Input>,
    held: HashMap<TicketId, Held>,
}

impl Sequencer {
    async fn run(
        mut self,
        mut inputs: mpsc::Receiver<Input>,
        resubscribed: Arc<Notify>,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(HOLD_BACK / 4);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                input = inputs.recv() => match input {
                    None => return,
                    Some(Input::Event(event)) => self.on_event(event),
                    Some(Input::Filled { ticket, result }) => self.on_filled(ticket, *result),
                    Some(Input::Latest(latest)) => self.on_latest(latest),
                },
                _ = tick.tick(), if !self.held.is_empty() => self.fill_overdue(),
                _ = sweep.tick() => self.sweep(),
                _ = resubscribed.notified() => self.sweep(),
            }
        }
    }

    fn on_event(&mut self, event: TicketEvent) {
        let ticket = event.ticket;
        if let Some(held) = self.held.get_mut(&ticket) {
            let place = match event.seq {
                Some(seq) => (seq, 0),
                None => held
                    .events
                    .last_key_value()
                    .map_or((0, 0), |(&(seq, n), _)| (seq, n + 1)),
            };
            held.events.insert(place, event);
            self.drain(ticket);
            return;
        }
        let Some(seq) = event.seq else {
            self.hub.deliver(&event);
            return;
        };
        if let InOrder::Gap { .. } = self.hub.deliver_in_order(&event) {
            self.held.insert(
                ticket,
                Held {
                    events: BTreeMap::from([((seq, 0), event)]),
                    since: Instant::now(),
                    filling: false,
                },
            );
        }
    }

    /// Delivers what has become next in line.
    fn drain(&mut self, ticket: TicketId) {
        let Some(held) = self.held.get_mut(&ticket) else {
            return;
        };
        while let Some(entry) = held.events.first_entry() {
            match self.hub.deliver_in_order(entry.get()) {
                InOrder::Done | InOrder::Stale => {
                    entry.remove();
                }
                InOrder::Gap { .. } => break,
            }
        }
        if held.events.is_empty() && !held.filling {
            self.held.remove(&ticket);
        }
    }

    /// Rooms that waited long enough: read what they miss.
    fn fill_overdue(&mut self) {
        let overdue: Vec<(TicketId, Seq)> = self
            .held
            .iter()
            .filter(|(_, held)| !held.filling && held.since.elapsed() >= HOLD_BACK)
            .filter_map(|(ticket, held)| Some((*ticket, held.events.keys().next()?.0 - 1)))
            .collect();
        for (ticket, up_to) in overdue {
            self.fill(ticket, up_to);
        }
    }

    /// Reads the messages a room lacks, up to `up_to`, from the database.
    fn fill(&mut self, ticket: TicketId, up_to: Seq) {
        let Some(after) = self.hub.delivered(ticket) else {
            // Nobody watches it here any more.
            self.held.remove(&ticket);
            return;
        };
        if up_to <= after {
            self.drain(ticket);
            return;
        }
        let held = self.held.entry(ticket).or_insert_with(|| Held {
            events: BTreeMap::new(),
            since: Instant::now(),
            filling: false,
        });
        held.filling = true;
        let store = self.store.clone();
        let loopback = self.loopback.clone();
        tokio::spawn(async move {
            let result = async {
                let fresh = store.ticket(ticket).await?;
                let messages = store
                    .messages_between(Span::new(ticket, after, up_to, FILL_LIMIT, true))
                    .await?;
                Ok((fresh, messages))
            }
            .await;
            let _ = loopback
                .send(Input::Filled {
                    ticket,
                    result: Box::new(result),
                })
                .await;
        });
    }

    fn on_filled(&mut self, ticket: TicketId, result: StoreResult<(Option<Ticket>, Vec<Message>)>) {
        let Some(held) = self.held.get_mut(&ticket) else {
            return;
        };
        held.filling = false;
        match result {
            Ok((fresh, messages)) => {
                if let Some(fresh) = &fresh {
                    // A transfer this node missed: the room's checks follow
                    // the ticket as it is, and the previous agent goes.
                    self.hub.update_ticket(fresh);
                }
                let mut filled = 0;
                for message in &messages {
                    if self
                        .hub
                        .deliver_in_order(&message_event(message, Except::Nobody))
                        == InOrder::Done
                    {
                        filled += 1;
                    }
                }
                METRICS
                    .cluster_gap_filled
                    .fetch_add(filled, Ordering::Relaxed);
                if filled > 0 {
                    tracing::debug!(ticket, filled, "room caught up from the database");
                }
                if fresh.is_some() {
                    self.hub.revoke_reassigned(ticket, CloseReason::TRANSFERRED);
                }
                let held = self.held.get_mut(&ticket).expect("still held");
                // What is still missing (a long gap) is read on the next tick.
                held.since = Instant::now() - HOLD_BACK;
                self.drain(ticket);
            }
            Err(error) => {
                tracing::warn!(%error, ticket, "cannot read missed messages; retrying");
                held.since = Instant::now();
            }
        }
    }

    /// Compares every watched room with the database, off this task.
    fn sweep(&self) {
        let watched: Vec<TicketId> = self.hub.watched().into_iter().map(|(t, _)| t).collect();
        if watched.is_empty() {
            return;
        }
        let store = self.store.clone();
        let loopback = self.loopback.clone();
        tokio::spawn(async move {
            match store.last_seqs(watched).await {
                Ok(latest) => {
                    let _ = loopback.send(Input::Latest(latest)).await;
                }
                Err(error) => tracing::warn!(%error, "cannot compare rooms with the database"),
            }
        });
    }

    fn on_latest(&mut self, latest: HashMap<TicketId, Seq>) {
        for (ticket, last) in latest {
            let behind = self
                .hub
                .delivered(ticket)
                .is_some_and(|delivered| delivered < last);
            let waiting = self.held.get(&ticket).is_some_and(|h| h.filling);
            if behind && !waiting {
                let up_to = match self.held.get(&ticket) {
                    // Early messages wait: fill up to the first of them.
                    Some(held) => held.events.keys().next().map_or(last, |first| first.0 - 1),
                    None => last,
                };
                self.fill(ticket, up_to);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_cross_the_wire_unchanged_except_the_sending_connection() {
        let event = Event::Room(TicketEvent {
            ticket: 7,
            seq: Some(42),
            audience: Audience::StaffOnly,
            except: Except::Conn(3),
            text: r#"{"tipo":"mensaje_recibido","data":{"a":"b\nc"}}"#.into(),
        });
        let wire = encode("node-a", &event);
        assert!(decode("node-a", &wire).is_none(), "own events are skipped");
        let Some(Event::Room(decoded)) = decode("node-b", &wire) else {
            panic!("a room event");
        };
        assert_eq!(
            (
                decoded.ticket,
                decoded.seq,
                decoded.audience,
                decoded.except
            ),
            (7, Some(42), Audience::StaffOnly, Except::Nobody)
        );
        assert_eq!(
            decoded.text.as_str(),
            r#"{"tipo":"mensaje_recibido","data":{"a":"b\nc"}}"#
        );
    }

    #[test]
    fn inbox_routes_and_revocations_survive_the_wire() {
        let event = Event::Inbox(InboxEvent {
            route: InboxRoute::Agents(vec![1, 2]),
            text: "x".into(),
        });
        let Some(Event::Inbox(decoded)) = decode("b", &encode("a", &event)) else {
            panic!("an inbox event");
        };
        assert_eq!(decoded.route, InboxRoute::Agents(vec![1, 2]));
        let revoke = encode("a", &Event::Revoke { ticket: 5, user: 9 });
        assert!(matches!(
            decode("b", &revoke),
            Some(Event::Revoke { ticket: 5, user: 9 })
        ));
        assert!(decode("b", b"not json\n").is_none());
        assert!(decode("b", b"no newline").is_none());
    }
}
