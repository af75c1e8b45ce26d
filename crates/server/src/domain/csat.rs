//! Customer satisfaction (CSAT): when a customer is asked to rate their
//! ticket, who may rate it, and what a rating must be.
//!
//! Asked only when the answer means something (as Intercom does): the team
//! replied, the customer wrote, the last reply is recent, and the ticket was
//! not rated before. One rating per ticket; the rating is judged again when
//! it arrives, so a prompt left open for weeks cannot rate a stale ticket.

use super::{Refusal, User};
use soporte_protocol::{Rating, Ticket, TicketState, Timestamp};
use std::time::Duration;

/// The longest comment, in characters.
pub const MAX_COMMENT: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsatPolicy {
    /// How long after the team's last reply a ticket may be rated; `None`:
    /// ratings are off.
    pub window: Option<Duration>,
}

impl Default for CsatPolicy {
    fn default() -> Self {
        CsatPolicy {
            window: Some(Duration::from_secs(7 * 86_400)),
        }
    }
}

/// What the conversation says about a ticket, read in the transaction that
/// judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CsatFacts {
    /// When staff last wrote to the customer (internal notes do not count).
    pub last_staff_reply: Option<Timestamp>,
    /// Whether the customer wrote anything.
    pub customer_wrote: bool,
}

/// Why a ticket cannot be rated (yet, or any more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    Off,
    NotFinished,
    AlreadyRated,
    NoReply,
    CustomerSilent,
    TooLate,
}

impl Ineligible {
    fn refusal(self) -> Refusal {
        match self {
            Ineligible::AlreadyRated => Refusal::conflict("Este ticket ya tiene tu valoración."),
            Ineligible::Off => Refusal::invalid("Las valoraciones están desactivadas."),
            Ineligible::NotFinished => {
                Refusal::invalid("Solo se valora un ticket resuelto o cerrado.")
            }
            Ineligible::NoReply => Refusal::invalid(
                "Nadie del equipo ha respondido en este ticket: no hay atención que valorar.",
            ),
            Ineligible::CustomerSilent => {
                Refusal::invalid("No hay conversación que valorar: no escribiste en este ticket.")
            }
            Ineligible::TooLate => Refusal::invalid("El plazo para valorar este ticket terminó."),
        }
    }
}

/// Whether `ticket` may be rated at `now`.
pub fn eligibility(
    policy: CsatPolicy,
    ticket: &Ticket,
    facts: CsatFacts,
    now: Timestamp,
) -> Result<(), Ineligible> {
    let window = policy.window.ok_or(Ineligible::Off)?;
    if ticket.csat.is_some() {
        return Err(Ineligible::AlreadyRated);
    }
    if !ends_conversation(ticket.state) {
        return Err(Ineligible::NotFinished);
    }
    let replied = facts.last_staff_reply.ok_or(Ineligible::NoReply)?;
    if !facts.customer_wrote {
        return Err(Ineligible::CustomerSilent);
    }
    if now.millis() - replied.millis() > window.as_millis() as i64 {
        return Err(Ineligible::TooLate);
    }
    Ok(())
}

/// Whether a move to `to` ends the conversation (where a rating is asked).
pub fn ends_conversation(to: TicketState) -> bool {
    matches!(to, TicketState::Resolved | TicketState::Closed)
}

/// Whether moving `ticket` to `to` asks its customer for a rating: it ends
/// the conversation and the ticket, as it will be, may be rated.
pub fn asks_on(
    policy: CsatPolicy,
    ticket: &Ticket,
    to: TicketState,
    facts: CsatFacts,
    now: Timestamp,
) -> bool {
    let mut after = ticket.clone();
    after.state = to;
    eligibility(policy, &after, facts, now).is_ok()
}

/// Judges a rating of `ticket` by `actor`: the rating to store, or why not.
pub fn rate(
    policy: CsatPolicy,
    ticket: &Ticket,
    actor: &User,
    facts: CsatFacts,
    score: i64,
    comment: Option<&str>,
    now: Timestamp,
) -> Result<Rating, Refusal> {
    if ticket.customer.id != Some(actor.id) {
        return Err(Refusal::forbidden(
            "Solo el cliente del ticket puede valorarlo.",
        ));
    }
    let score = u8::try_from(score)
        .ok()
        .filter(|score| (1..=5).contains(score))
        .ok_or_else(|| Refusal::invalid("La puntuación es un número entero del 1 al 5."))?;
    let comment = comment
        .map(|text| soporte_protocol::client::without_bidi_controls(text.trim().to_string()))
        .filter(|text| !text.is_empty());
    if comment
        .as_ref()
        .is_some_and(|text| text.chars().count() > MAX_COMMENT)
    {
        return Err(Refusal::invalid(format!(
            "El comentario admite hasta {MAX_COMMENT} caracteres."
        )));
    }
    eligibility(policy, ticket, facts, now).map_err(Ineligible::refusal)?;
    Ok(Rating {
        score,
        comment,
        created: now,
    })
}

/// The note staff read in the conversation when the customer rates it.
pub fn note(rating: &Rating) -> String {
    let stars = "★".repeat(rating.score as usize) + &"☆".repeat(5 - rating.score as usize);
    match &rating.comment {
        Some(comment) => format!(
            "El cliente valoró la atención con {}/5 {stars}: «{comment}»",
            rating.score
        ),
        None => format!(
            "El cliente valoró la atención con {}/5 {stars}.",
            rating.score
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use soporte_protocol::{AuthorKind, Person, Role};

    const DAY: i64 = 86_400_000;

    fn ticket(state: TicketState) -> Ticket {
        Ticket {
            id: 1,
            subject: "Factura".into(),
            state,
            customer: Person {
                id: Some(7),
                name: "Ana".into(),
                kind: AuthorKind::Customer,
                avatar: None,
            },
            agent: None,
            created: Timestamp::from_millis(0),
            updated: Timestamp::from_millis(0),
            last_seq: 3,
            external_id: None,
            metadata: None,
            public_activity: None,
            resolved_at: None,
            rev: 0,
            csat: None,
        }
    }

    fn user(id: i64, role: Role) -> User {
        User {
            id,
            name: "x".into(),
            role,
            avatar: None,
            email: None,
        }
    }

    fn talked(replied_day: i64) -> CsatFacts {
        CsatFacts {
            last_staff_reply: Some(Timestamp::from_millis(replied_day * DAY)),
            customer_wrote: true,
        }
    }

    #[test]
    fn only_a_finished_conversation_with_a_recent_reply_is_rated() {
        let policy = CsatPolicy::default();
        let now = Timestamp::from_millis(10 * DAY);
        let resolved = ticket(TicketState::Resolved);
        assert_eq!(eligibility(policy, &resolved, talked(9), now), Ok(()));
        assert_eq!(
            eligibility(policy, &ticket(TicketState::Closed), talked(3), now),
            Ok(()),
            "exactly seven days is still inside"
        );
        assert_eq!(
            eligibility(policy, &resolved, talked(2), now),
            Err(Ineligible::TooLate)
        );
        assert_eq!(
            eligibility(policy, &ticket(TicketState::Open), talked(9), now),
            Err(Ineligible::NotFinished)
        );
        let silent_team = CsatFacts {
            last_staff_reply: None,
            customer_wrote: true,
        };
        assert_eq!(
            eligibility(policy, &resolved, silent_team, now),
            Err(Ineligible::NoReply)
        );
        let silent_customer = CsatFacts {
            customer_wrote: false,
            ..talked(9)
        };
        assert_eq!(
            eligibility(policy, &resolved, silent_customer, now),
            Err(Ineligible::CustomerSilent)
        );
        let off = CsatPolicy { window: None };
        assert_eq!(
            eligibility(off, &resolved, talked(9), now),
            Err(Ineligible::Off)
        );
        assert!(asks_on(
            policy,
            &ticket(TicketState::Open),
            TicketState::Resolved,
            talked(9),
            now
        ));
        assert!(!asks_on(
            policy,
            &ticket(TicketState::Resolved),
            TicketState::Open,
            talked(9),
            now
        ));
    }

    #[test]
    fn the_customer_rates_once_from_one_to_five() {
        let policy = CsatPolicy::default();
        let now = Timestamp::from_millis(10 * DAY);
        let resolved = ticket(TicketState::Resolved);
        let customer = user(7, Role::Customer);
        let rating = rate(
            policy,
            &resolved,
            &customer,
            talked(9),
            4,
            Some("  Muy bien\u{202e}  "),
            now,
        )
        .unwrap();
        assert_eq!(
            (rating.score, rating.comment.as_deref()),
            (4, Some("Muy bien"))
        );
        let blank = rate(policy, &resolved, &customer, talked(9), 5, Some("  "), now).unwrap();
        assert_eq!(blank.comment, None);
        for score in [0, 6, -1, 256 + 4] {
            assert!(matches!(
                rate(policy, &resolved, &customer, talked(9), score, None, now),
                Err(Refusal::Invalid(_))
            ));
        }
        for other in [user(8, Role::Customer), user(7 + 100, Role::Agent)] {
            assert!(matches!(
                rate(policy, &resolved, &other, talked(9), 4, None, now),
                Err(Refusal::Forbidden(_))
            ));
        }
        let mut rated = resolved.clone();
        rated.csat = Some(rating);
        assert!(matches!(
            rate(policy, &rated, &customer, talked(9), 3, None, now),
            Err(Refusal::Conflict(_))
        ));
        let long = "a".repeat(MAX_COMMENT + 1);
        assert!(matches!(
            rate(policy, &resolved, &customer, talked(9), 3, Some(&long), now),
            Err(Refusal::Invalid(_))
        ));
    }

    #[test]
    fn staff_read_the_rating_as_a_note() {
        let rating = Rating {
            score: 2,
            comment: Some("Lento".into()),
            created: Timestamp::from_millis(0),
        };
        assert_eq!(
            note(&rating),
            "El cliente valoró la atención con 2/5 ★★☆☆☆: «Lento»"
        );
    }
}
