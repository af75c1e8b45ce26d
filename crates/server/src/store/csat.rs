//! A customer's rating of their ticket: judged by [`crate::domain::csat`]
//! on the ticket as the writer holds it, and stored with the note staff
//! read and the event the host is owed, in one transaction.

use super::webhooks::emit;
use super::writes::{insert, missing, on_ticket, write};
use super::{NewMessage, Store, StoreResult};
use crate::domain::csat::{self, CsatPolicy};
use crate::domain::webhooks::EventType;
use crate::domain::User;
use futures_util::FutureExt;
use soporte_protocol::rest::CsatRequest;
use soporte_protocol::webhook::CsatEventData;
use soporte_protocol::{MessageKind, Person, SystemEvent, Ticket, TicketId, Timestamp};

pub(super) async fn rate_ticket<S: Store + ?Sized>(
    store: &S,
    id: TicketId,
    actor: User,
    request: CsatRequest,
    policy: CsatPolicy,
    now: Timestamp,
) -> StoreResult<Ticket> {
    write(store, on_ticket(id), move |tx| {
        let (actor, request) = (actor.clone(), request.clone());
        async move {
            let ticket = missing(tx.ticket(id).await?)?;
            let facts = tx.csat_facts(id).await?;
            let comment = request.comment.as_deref();
            let rating = csat::rate(policy, &ticket, &actor, facts, request.score, comment, now)?;
            tx.set_csat(id, &rating).await?;
            let event = SystemEvent::Rated {
                score: rating.score,
                comment: rating.comment.clone(),
            };
            let note = NewMessage {
                ticket: id,
                author: Person::system(),
                client_id: None,
                content: csat::note(&rating),
                kind: MessageKind::System,
                metadata: event.to_metadata(),
                internal: true,
                origin: None,
                unread_email: None,
                reply_to: None,
            };
            insert(tx, &note, false, None).await?;
            let ticket = missing(tx.ticket(id).await?)?;
            let data = CsatEventData {
                ticket: ticket.clone().into(),
                csat: rating,
            };
            emit(tx, EventType::CsatReceived, Some(id), false, &data).await?;
            Ok(ticket)
        }
        .boxed_local()
    })
    .await
}
