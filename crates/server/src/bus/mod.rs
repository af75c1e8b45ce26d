//! How events reach every connection of a ticket, wherever it is.
//!
//! A [`Bus`] carries encoded [`TicketEvent`]s. On one node that means handing
//! them to the local [`Hub`]; in cluster mode an implementation also carries
//! them to the other nodes. Producers (the store's commit listener, sessions
//! for typing and presence, REST handlers for read receipts) only ever talk to
//! the bus, so clustering changes no producer.

use crate::hub::{Audience, Except, Hub, TicketEvent};
use crate::store::{CommitListener, Committed};
use soporte_protocol::ServerFrame;
use std::sync::Arc;

pub trait Bus: Send + Sync + 'static {
    /// Delivers `event` to the ticket's connections. Never blocks.
    fn publish(&self, event: TicketEvent);
}

/// One node: every connection is in this process's hub.
pub struct InProcessBus {
    hub: Arc<Hub>,
}

impl InProcessBus {
    pub fn new(hub: Arc<Hub>) -> Self {
        InProcessBus { hub }
    }
}

impl Bus for InProcessBus {
    fn publish(&self, event: TicketEvent) {
        self.hub.deliver(&event);
    }
}

/// Turns each committed message into a `mensaje_recibido` for everyone on the
/// ticket but the connection that sent it (it gets `mensaje_confirmado`).
/// Runs on the store's writer, in commit order, so `seq` order is kept.
pub struct CommitFanout {
    pub bus: Arc<dyn Bus>,
}

impl CommitListener for CommitFanout {
    fn committed(&self, messages: &[Committed]) {
        for committed in messages {
            self.bus.publish(TicketEvent {
                ticket: committed.message.ticket,
                seq: Some(committed.message.seq),
                audience: Audience::Everyone,
                except: committed.origin.map_or(Except::Nobody, Except::Conn),
                text: ServerFrame::encode_message_received(&committed.message).into(),
            });
        }
    }
}
