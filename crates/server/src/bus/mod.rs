//! How events reach every connection that should see them, wherever it is.
//!
//! A [`Bus`] carries [`Event`]s: encoded frames for a ticket's room or for
//! agents' inboxes, and the changes rooms must know of (a ticket's new
//! assignment or state, a user's access taken away). On one node that means
//! handing them to the local hubs; in cluster mode an implementation also
//! carries them to the other nodes. Producers (the store's commit listener,
//! sessions, REST handlers) only ever talk to the bus, so clustering changes
//! no producer.

use crate::hub::inbox::{InboxEvent, InboxRoute, Inboxes};
use crate::hub::{Audience, Except, Hub, TicketEvent};
use crate::store::{CommitListener, Committed};
use soporte_protocol::server::{ChatTransferred, InboxMessage, TicketChange, TicketUpdated};
use soporte_protocol::*;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum Event {
    /// A frame for a ticket's room.
    Room(TicketEvent),
    /// A frame for agents' inboxes.
    Inbox(InboxEvent),
    /// The ticket as it is now, for the permission checks of open sockets.
    TicketChanged(Box<Ticket>),
    /// `user` lost access to `ticket`: their sockets on it close.
    Revoke { ticket: TicketId, user: UserId },
}

pub trait Bus: Send + Sync + 'static {
    /// Delivers `event` everywhere it is meant for. Never blocks.
    fn publish(&self, event: Event);
}

/// One node: every connection is in this process's hubs.
pub struct InProcessBus {
    hub: Arc<Hub>,
    inboxes: Arc<Inboxes>,
}

impl InProcessBus {
    pub fn new(hub: Arc<Hub>, inboxes: Arc<Inboxes>) -> Self {
        InProcessBus { hub, inboxes }
    }
}

impl Bus for InProcessBus {
    fn publish(&self, event: Event) {
        match event {
            Event::Room(event) => self.hub.deliver(&event),
            Event::Inbox(event) => self.inboxes.deliver(&event),
            Event::TicketChanged(ticket) => self.hub.update_ticket(&ticket),
            Event::Revoke { ticket, user } => {
                self.hub.revoke(ticket, user, CloseReason::TRANSFERRED)
            }
        }
    }
}

/// Tells rooms (their permission checks) and every inbox (it leaves the
/// queue) that `ticket` was just assigned.
pub fn announce_assignment(bus: &dyn Bus, ticket: &Ticket) {
    bus.publish(Event::TicketChanged(Box::new(ticket.clone())));
    let frame = ServerFrame::TicketUpdated(TicketUpdated {
        change: TicketChange::Assigned,
        ticket: ticket.clone(),
    });
    bus.publish(Event::Inbox(InboxEvent {
        route: InboxRoute::Everyone,
        text: frame.encode().into(),
    }));
}

/// Characters of a message shown in inbox previews.
const PREVIEW_CHARS: usize = 140;

/// Fans committed messages out, in commit order (it runs on the store's
/// writer), so `seq` order is kept everywhere:
/// - the room gets `mensaje_recibido` (staff only for internal notes), or
///   `chat_transferred` for a transfer, except the sending connection (it
///   gets `mensaje_confirmado`);
/// - inboxes get a preview, routed by the ticket's agent;
/// - a message that records a change of the ticket also updates rooms'
///   permission checks, tells room and inboxes `ticket_actualizado`, and on a
///   transfer closes the previous agent's sockets on the ticket.
pub struct CommitFanout {
    pub bus: Arc<dyn Bus>,
}

impl CommitListener for CommitFanout {
    fn committed(&self, messages: &[Committed]) {
        for committed in messages {
            let message = &committed.message;
            let ticket = message.ticket;
            if let Some(record) = &committed.ticket_change {
                // Before the message itself: what is delivered after it is
                // checked against the ticket as it now is.
                self.bus
                    .publish(Event::TicketChanged(Box::new(record.ticket.clone())));
            }
            let except = committed.origin.map_or(Except::Nobody, Except::Conn);
            let mut room_event = message_event(message, except);
            let transfer = match (&committed.ticket_change, message.kind) {
                (Some(record), MessageKind::Transfer) => transferred(record, message),
                _ => None,
            };
            if let Some(transfer) = &transfer {
                room_event.text = ServerFrame::ChatTransferred(transfer.clone())
                    .encode()
                    .into();
            }
            self.bus.publish(Event::Room(room_event));
            let preview = ServerFrame::InboxMessage(InboxMessage {
                ticket,
                message_id: message.id,
                seq: message.seq,
                author: message.author.clone(),
                content: message.content.chars().take(PREVIEW_CHARS).collect(),
                kind: message.kind,
                internal: message.internal,
                timestamp: message.timestamp,
            });
            self.bus.publish(Event::Inbox(InboxEvent {
                route: InboxRoute::Ticket {
                    agent: committed.ticket_agent,
                },
                text: preview.encode().into(),
            }));
            let Some(record) = &committed.ticket_change else {
                continue;
            };
            let update = ServerFrame::TicketUpdated(TicketUpdated {
                change: record.change,
                ticket: record.ticket.clone(),
            })
            .encode();
            self.bus.publish(Event::Room(TicketEvent {
                ticket,
                seq: None,
                audience: Audience::Everyone,
                except: Except::Nobody,
                text: update.clone().into(),
            }));
            let previous = record.previous_agent.as_ref().and_then(|p| p.id);
            let route = match record.change {
                // Both agents' inboxes: one loses the ticket, one gains it.
                TicketChange::Transferred if previous.is_some() => {
                    InboxRoute::Agents(previous.into_iter().chain(committed.ticket_agent).collect())
                }
                // Straight from the queue: it leaves every agent's queue.
                TicketChange::Transferred => InboxRoute::Everyone,
                // Its agent's, or every agent's while it waits in the queue.
                _ => InboxRoute::Ticket {
                    agent: committed.ticket_agent,
                },
            };
            self.bus.publish(Event::Inbox(InboxEvent {
                route: route.clone(),
                text: update.into(),
            }));
            if record.change == TicketChange::Transferred {
                if let Some(transfer) = transfer {
                    let event = ServerFrame::ChatTransferred(transfer).encode();
                    self.bus.publish(Event::Inbox(InboxEvent {
                        route,
                        text: event.into(),
                    }));
                }
                if let Some(previous) = previous {
                    self.bus.publish(Event::Revoke {
                        ticket,
                        user: previous,
                    });
                }
            }
        }
    }
}

/// A stored message as its ticket's room gets it: `mensaje_recibido`, for
/// staff only if it is an internal note.
pub fn message_event(message: &Message, except: Except) -> TicketEvent {
    TicketEvent {
        ticket: message.ticket,
        seq: Some(message.seq),
        audience: if message.internal {
            Audience::StaffOnly
        } else {
            Audience::Everyone
        },
        except,
        text: ServerFrame::encode_message_received(message).into(),
    }
}

fn participant(person: &Person) -> Option<Participant> {
    Some(Participant {
        id: person.id?,
        name: person.name.clone(),
        role: Role::Agent,
        avatar: person.avatar.clone(),
        online: false,
        last_seen: None,
    })
}

/// `chat_transferred` in the shape the seed's hook reads. This runs on the
/// store's writer thread, so a record without a new agent (which the rules
/// never write) is logged and left out rather than panicking there.
fn transferred(
    record: &crate::store::TicketChangeRecord,
    message: &Message,
) -> Option<ChatTransferred> {
    let Some(new_agent) = record.ticket.agent.as_ref().and_then(participant) else {
        tracing::error!(
            ticket = record.ticket.id,
            "a transfer record without a new agent"
        );
        return None;
    };
    Some(ChatTransferred {
        ticket: record.ticket.id,
        previous_agent: record.previous_agent.as_ref().and_then(participant),
        new_agent,
        reason: record.reason.clone(),
        automatic_message: message.content.clone(),
        timestamp: message.timestamp,
        message: message.clone(),
    })
}
