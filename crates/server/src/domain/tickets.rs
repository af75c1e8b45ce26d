//! A ticket's life: who may assign, transfer or move it between states, what
//! each change records in the conversation, and who automatic assignment
//! picks. Each rule judges the ticket as it is in the transaction that
//! changes it (`store::writes` reads it under the writer's lock).

use super::{Refusal, User};
use soporte_protocol::server::TicketChange;
use soporte_protocol::{
    MessageKind, Person, Role, SystemEvent, Ticket, TicketState, Timestamp, UserId,
};
use std::time::Duration;

/// A change to a ticket, asked for by someone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketCommand {
    /// The actor (an agent) takes the unassigned ticket, or a supervisor
    /// assigns it to `agent`.
    Assign {
        agent: UserId,
    },
    /// The assigned agent or a supervisor hands the ticket to `agent`.
    Transfer {
        agent: UserId,
        reason: String,
    },
    SetState {
        state: TicketState,
    },
}

impl TicketCommand {
    /// The user the command names, whom the store looks up before deciding.
    pub fn target(&self) -> Option<UserId> {
        match self {
            TicketCommand::Assign { agent } | TicketCommand::Transfer { agent, .. } => Some(*agent),
            TicketCommand::SetState { .. } => None,
        }
    }
}

/// What a change writes: an assignment, a state, and the message that
/// records it in the conversation (if it is one the conversation shows).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub assign: Option<UserId>,
    pub state: Option<TicketState>,
    pub record: Option<Record>,
}

/// A message the server writes itself to record a change of the ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub kind: MessageKind,
    pub text: String,
    pub event: SystemEvent,
    pub change: TicketChange,
    /// The agent the ticket had before (transfers).
    pub previous_agent: Option<Person>,
}

/// What becomes of `resuelto_at` when the ticket moves to a state: the
/// moment it was resolved, kept through closing, forgotten when reopened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolvedAt {
    /// Now.
    Set,
    /// Now, unless it was resolved before (closing a resolved ticket).
    SetIfUnset,
    Clear,
}

impl ResolvedAt {
    pub fn on_entering(state: TicketState) -> ResolvedAt {
        match state {
            TicketState::Resolved => ResolvedAt::Set,
            TicketState::Closed => ResolvedAt::SetIfUnset,
            TicketState::Open | TicketState::Waiting => ResolvedAt::Clear,
        }
    }
}

const CLOSED: &str = "El ticket está cerrado.";

fn holder(ticket: &Ticket) -> Option<UserId> {
    ticket.agent.as_ref().and_then(|a| a.id)
}

/// The user that tickets may go to as `id`: someone we know as an agent.
pub fn known_agent(id: UserId, target: Option<&User>) -> Result<&User, Refusal> {
    match target {
        Some(user) if user.role == Role::Agent && user.id == id => Ok(user),
        _ => Err(Refusal::invalid(format!(
            "No hay ningún agente con id {id}."
        ))),
    }
}

/// Decides `command` by `actor` on `ticket`; `target` is the user the
/// command names ([`TicketCommand::target`]), as the store knows them.
pub fn decide(
    ticket: &Ticket,
    actor: &User,
    command: &TicketCommand,
    target: Option<&User>,
) -> Result<Plan, Refusal> {
    let holder = holder(ticket);
    match command {
        TicketCommand::Assign { agent } => {
            if ticket.state == TicketState::Closed {
                return Err(Refusal::conflict(CLOSED));
            }
            match actor.role {
                Role::Customer => {
                    return Err(Refusal::forbidden(
                        "Solo el equipo de soporte asigna tickets.",
                    ))
                }
                Role::Agent if *agent != actor.id => {
                    return Err(Refusal::forbidden(
                        "Un agente solo puede asignarse tickets a sí mismo.",
                    ))
                }
                _ => {}
            }
            // One way to move an assigned ticket: a transfer, which records
            // why and takes the ticket from the previous agent's screens.
            if holder.is_some() {
                return Err(Refusal::conflict(
                    "El ticket ya está asignado; transfiérelo para cambiar de agente.",
                ));
            }
            let agent = known_agent(*agent, target)?;
            // Taking a ticket from the queue is not a message of the
            // conversation (the customer sees the agent join).
            Ok(Plan {
                assign: Some(agent.id),
                state: None,
                record: None,
            })
        }
        TicketCommand::Transfer { agent, reason } => {
            if actor.role != Role::Supervisor && holder != Some(actor.id) {
                return Err(Refusal::forbidden(
                    "Solo el agente asignado o un supervisor pueden transferir el ticket.",
                ));
            }
            if ticket.state == TicketState::Closed {
                return Err(Refusal::conflict(CLOSED));
            }
            if holder == Some(*agent) {
                return Err(Refusal::conflict(
                    "El ticket ya está asignado a ese agente.",
                ));
            }
            let new_agent = known_agent(*agent, target)?.person();
            let reason = soporte_protocol::client::without_bidi_controls(reason.to_string());
            let reason = reason.trim();
            let from = ticket.agent.as_ref().map_or("la cola", |a| a.name.as_str());
            let mut text = format!("Chat transferido de {from} a {}.", new_agent.name);
            if !reason.is_empty() {
                text.push_str(&format!(" Motivo: {reason}"));
            }
            Ok(Plan {
                assign: Some(*agent),
                state: None,
                record: Some(Record {
                    kind: MessageKind::Transfer,
                    text,
                    event: SystemEvent::Transfer {
                        previous_agent: ticket.agent.clone(),
                        new_agent,
                        reason: reason.to_string(),
                        by: actor.person(),
                    },
                    change: TicketChange::Transferred,
                    previous_agent: ticket.agent.clone(),
                }),
            })
        }
        TicketCommand::SetState { state } => {
            if !ticket.state.may_become(*state, actor.role) {
                return Err(Refusal::conflict(format!(
                    "No se puede pasar de {} a {}.",
                    ticket.state.as_str(),
                    state.as_str()
                )));
            }
            if actor.role == Role::Agent && holder != Some(actor.id) {
                return Err(Refusal::forbidden(
                    "Solo el agente asignado o un supervisor cambian el estado.",
                ));
            }
            let name = &actor.name;
            let text = match state {
                TicketState::Open => format!("{name} reabrió el ticket."),
                TicketState::Waiting => {
                    format!("{name} dejó el ticket en espera de respuesta del cliente.")
                }
                TicketState::Resolved => format!("{name} marcó el ticket como resuelto."),
                TicketState::Closed => format!("{name} cerró el ticket."),
            };
            Ok(state_change(ticket.state, *state, text))
        }
    }
}

/// A move to `to`, recorded with `text`.
fn state_change(from: TicketState, to: TicketState, text: String) -> Plan {
    Plan {
        assign: None,
        state: Some(to),
        record: Some(Record {
            kind: MessageKind::System,
            text,
            event: SystemEvent::State {
                previous: from,
                new: to,
                csat_requested: false,
            },
            change: TicketChange::State,
            previous_agent: None,
        }),
    }
}

/// What a customer's message does to a ticket that waits for them or was
/// resolved: it is open again, and the conversation says why.
pub fn reopen_on_reply(state: TicketState) -> Option<Plan> {
    matches!(state, TicketState::Resolved | TicketState::Waiting).then(|| {
        state_change(
            state,
            TicketState::Open,
            "El cliente respondió: el ticket vuelve a estar abierto.".to_string(),
        )
    })
}

impl Plan {
    /// Marks the recorded move as the place the customer is asked to rate
    /// the conversation (see `domain::csat::asks_on`).
    pub fn ask_for_rating(&mut self) {
        if let Some(Record {
            event: SystemEvent::State { csat_requested, .. },
            ..
        }) = &mut self.record
        {
            *csat_requested = true;
        }
    }
}

/// A resolved ticket nobody touched for `after` closes on its own at `now`
/// (the customer did not come back; reopening is a new message away until
/// then). `None`: it stays as it is.
pub fn close_when_idle(ticket: &Ticket, now: Timestamp, after: Duration) -> Option<Plan> {
    let resolved = ticket.resolved_at?;
    let idle = now.millis() - resolved.millis() >= after.as_millis() as i64;
    (ticket.state == TicketState::Resolved && idle).then(|| {
        state_change(
            TicketState::Resolved,
            TicketState::Closed,
            format!(
                "El ticket se cerró automáticamente tras {} resuelto.",
                human_span(after)
            ),
        )
    })
}

/// A period as people say it: "7 días", "1 hora", "90 minutos".
pub fn human_span(span: Duration) -> String {
    let secs = span.as_secs();
    let (n, one, many) = if secs >= 86_400 && secs.is_multiple_of(86_400) {
        (secs / 86_400, "día", "días")
    } else if secs >= 3_600 && secs.is_multiple_of(3_600) {
        (secs / 3_600, "hora", "horas")
    } else if secs >= 60 {
        (secs / 60, "minuto", "minutos")
    } else {
        (secs, "segundo", "segundos")
    };
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The outcome of an agent opening a ticket from the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// It is theirs already.
    Theirs,
    /// It is taken: assign it to them.
    Take,
    /// Someone else holds it.
    HeldByOther,
    /// It is closed: nobody takes it by looking at it.
    Closed,
}

pub fn claim(ticket: &Ticket, agent: UserId) -> Claim {
    match holder(ticket) {
        Some(holder) if holder == agent => Claim::Theirs,
        Some(_) => Claim::HeldByOther,
        None if ticket.state == TicketState::Closed => Claim::Closed,
        None => Claim::Take,
    }
}

/// A customer named by staff for a new ticket must be a customer: an id we
/// know as someone else is refused rather than silently turned into one.
/// How many tickets a customer may open on their own: at once (open or
/// waiting for them) and in the last hour; 0 is no limit. A flood of
/// tickets would push real ones out of every agent's queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CustomerTicketLimits {
    pub open: u32,
    pub per_hour: u32,
}

/// Whether a customer with `open` tickets open, `last_hour` of them opened
/// in the last hour, may open one more on their own.
pub fn check_new_ticket(
    limits: CustomerTicketLimits,
    open: i64,
    last_hour: i64,
) -> Result<(), Refusal> {
    if limits.open > 0 && open >= i64::from(limits.open) {
        return Err(Refusal::TooMany(format!(
            "Ya tienes {open} tickets abiertos: escribe en uno de ellos o espera a que se resuelva."
        )));
    }
    if limits.per_hour > 0 && last_hour >= i64::from(limits.per_hour) {
        return Err(Refusal::TooMany(
            "Has abierto demasiados tickets en la última hora: inténtalo más tarde.".into(),
        ));
    }
    Ok(())
}

pub fn check_customer(customer: UserId, known_as: Option<Role>) -> Result<(), Refusal> {
    match known_as {
        Some(role) if role != Role::Customer => Err(Refusal::invalid(format!(
            "El usuario {customer} no es un cliente."
        ))),
        _ => Ok(()),
    }
}

/// Automatic assignment: of `candidates` (an agent and their open tickets),
/// the one with the fewest, under `max_open`; ties go to the lowest id, so
/// the choice is reproducible.
pub fn choose_agent(candidates: &[(UserId, i64)], max_open: i64) -> Option<UserId> {
    candidates
        .iter()
        .filter(|(_, open)| *open < max_open)
        .min_by_key(|(id, open)| (*open, *id))
        .map(|(id, _)| *id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_open_tickets_within_their_limits() {
        let limits = CustomerTicketLimits {
            open: 3,
            per_hour: 5,
        };
        assert!(check_new_ticket(limits, 2, 4).is_ok());
        let too_many_open = check_new_ticket(limits, 3, 0).unwrap_err();
        assert!(
            matches!(&too_many_open, Refusal::TooMany(text) if text.contains("3 tickets abiertos"))
        );
        let too_often = check_new_ticket(limits, 0, 5).unwrap_err();
        assert!(matches!(&too_often, Refusal::TooMany(text) if text.contains("última hora")));
        // 0 is no limit.
        assert!(check_new_ticket(CustomerTicketLimits::default(), 1_000, 1_000).is_ok());
    }
    use soporte_protocol::{AuthorKind, Timestamp};
    use TicketState::*;

    const CUSTOMER: UserId = 1;
    const HOLDER: UserId = 5;
    const OTHER_AGENT: UserId = 6;
    const SUPERVISOR: UserId = 9;

    fn user(id: UserId, role: Role) -> User {
        User {
            id,
            name: format!("u{id}"),
            role,
            avatar: None,
            email: None,
        }
    }

    fn ticket(state: TicketState, agent: Option<UserId>) -> Ticket {
        Ticket {
            id: 1,
            subject: "x".into(),
            state,
            customer: user(CUSTOMER, Role::Customer).person(),
            agent: agent.map(|a| user(a, Role::Agent).person()),
            created: Timestamp(0),
            updated: Timestamp(0),
            last_seq: 0,
            external_id: None,
            metadata: None,
            public_activity: None,
            resolved_at: None,
            rev: 0,
            csat: None,
        }
    }

    fn actors() -> [User; 4] {
        [
            user(CUSTOMER, Role::Customer),
            user(HOLDER, Role::Agent),
            user(OTHER_AGENT, Role::Agent),
            user(SUPERVISOR, Role::Supervisor),
        ]
    }

    /// The refusal's kind, or what the plan writes.
    #[derive(Debug, PartialEq)]
    enum Outcome {
        Assigns(UserId),
        Moves(TicketState),
        Conflict,
        Forbidden,
        Invalid,
    }

    fn outcome(result: Result<Plan, Refusal>) -> Outcome {
        match result {
            Ok(Plan {
                assign: Some(a), ..
            }) => Outcome::Assigns(a),
            Ok(Plan { state: Some(s), .. }) => Outcome::Moves(s),
            Ok(plan) => panic!("a plan that writes nothing: {plan:?}"),
            Err(Refusal::Conflict(_)) => Outcome::Conflict,
            Err(Refusal::Forbidden(_)) => Outcome::Forbidden,
            Err(Refusal::Invalid(_)) => Outcome::Invalid,
            Err(other) => panic!("unexpected refusal {other:?}"),
        }
    }

    #[test]
    fn assignment_by_role_and_ticket() {
        use Outcome::*;
        let target = user(OTHER_AGENT, Role::Agent);
        // (actor, ticket state, holder) -> assigning OTHER_AGENT
        let table = [
            (CUSTOMER, Open, None, Forbidden),
            (HOLDER, Open, None, Forbidden), // an agent assigns only to themself
            (OTHER_AGENT, Open, None, Assigns(OTHER_AGENT)),
            (OTHER_AGENT, Open, Some(HOLDER), Conflict), // a transfer moves it
            (SUPERVISOR, Waiting, None, Assigns(OTHER_AGENT)),
            (SUPERVISOR, Open, Some(HOLDER), Conflict),
            (SUPERVISOR, Closed, None, Conflict),
            (CUSTOMER, Closed, None, Conflict), // closed is said first
        ];
        for (actor, state, holder, expected) in table {
            let actor = actors().into_iter().find(|a| a.id == actor).unwrap();
            let command = TicketCommand::Assign { agent: OTHER_AGENT };
            let got = outcome(decide(
                &ticket(state, holder),
                &actor,
                &command,
                Some(&target),
            ));
            assert_eq!(got, expected, "{actor:?} on {state:?} held by {holder:?}");
        }
    }

    #[test]
    fn only_known_agents_are_assigned_or_transferred_to() {
        let supervisor = user(SUPERVISOR, Role::Supervisor);
        for command in [
            TicketCommand::Assign { agent: 42 },
            TicketCommand::Transfer {
                agent: 42,
                reason: String::new(),
            },
        ] {
            for known in [
                None,
                Some(user(42, Role::Customer)),
                Some(user(42, Role::Supervisor)),
            ] {
                let got = decide(&ticket(Open, None), &supervisor, &command, known.as_ref());
                assert_eq!(
                    got,
                    Err(Refusal::invalid("No hay ningún agente con id 42.")),
                    "{command:?} to {known:?}"
                );
            }
        }
    }

    #[test]
    fn transfers_by_role_and_ticket() {
        use Outcome::*;
        let target = user(OTHER_AGENT, Role::Agent);
        let table = [
            (CUSTOMER, Open, Some(HOLDER), Forbidden),
            (HOLDER, Open, Some(HOLDER), Assigns(OTHER_AGENT)),
            (HOLDER, Resolved, Some(HOLDER), Assigns(OTHER_AGENT)),
            (OTHER_AGENT, Open, Some(HOLDER), Forbidden),
            (OTHER_AGENT, Open, None, Forbidden),
            (SUPERVISOR, Open, None, Assigns(OTHER_AGENT)), // straight from the queue
            (SUPERVISOR, Open, Some(OTHER_AGENT), Conflict), // already theirs
            (SUPERVISOR, Closed, Some(HOLDER), Conflict),
            (HOLDER, Closed, Some(HOLDER), Conflict),
        ];
        for (actor, state, holder, expected) in table {
            let actor = actors().into_iter().find(|a| a.id == actor).unwrap();
            let command = TicketCommand::Transfer {
                agent: OTHER_AGENT,
                reason: "  turno  ".into(),
            };
            let got = outcome(decide(
                &ticket(state, holder),
                &actor,
                &command,
                Some(&target),
            ));
            assert_eq!(got, expected, "{actor:?} on {state:?} held by {holder:?}");
        }
    }

    #[test]
    fn a_transfer_records_who_from_whom_to_whom_and_why() {
        let supervisor = user(SUPERVISOR, Role::Supervisor);
        let target = user(OTHER_AGENT, Role::Agent);
        let command = TicketCommand::Transfer {
            agent: OTHER_AGENT,
            reason: "  turno de tarde ".into(),
        };
        let plan = decide(
            &ticket(Open, Some(HOLDER)),
            &supervisor,
            &command,
            Some(&target),
        )
        .unwrap();
        let record = plan.record.unwrap();
        assert_eq!(record.kind, MessageKind::Transfer);
        assert_eq!(record.change, TicketChange::Transferred);
        assert_eq!(
            record.text,
            "Chat transferido de u5 a u6. Motivo: turno de tarde"
        );
        assert_eq!(record.previous_agent.and_then(|p| p.id), Some(HOLDER));
        let SystemEvent::Transfer { reason, by, .. } = record.event else {
            panic!("not a transfer event");
        };
        assert_eq!(
            (reason.as_str(), by.kind),
            ("turno de tarde", AuthorKind::Supervisor)
        );
        // From the queue, without a reason.
        let command = TicketCommand::Transfer {
            agent: OTHER_AGENT,
            reason: " ".into(),
        };
        let plan = decide(&ticket(Open, None), &supervisor, &command, Some(&target)).unwrap();
        assert_eq!(
            plan.record.unwrap().text,
            "Chat transferido de la cola a u6."
        );
    }

    #[test]
    fn state_changes_by_role_state_and_holder() {
        use Outcome::*;
        let all = [Open, Waiting, Resolved, Closed];
        for actor in actors() {
            for from in all {
                for to in all {
                    for holder in [None, Some(HOLDER)] {
                        let command = TicketCommand::SetState { state: to };
                        let got = outcome(decide(&ticket(from, holder), &actor, &command, None));
                        let expected = if !from.may_become(to, actor.role) {
                            Conflict
                        } else if actor.role == Role::Agent && holder != Some(actor.id) {
                            Forbidden
                        } else {
                            Moves(to)
                        };
                        assert_eq!(
                            got, expected,
                            "{actor:?}: {from:?} -> {to:?}, held by {holder:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_state_change_is_recorded_for_everyone_to_read() {
        let agent = user(HOLDER, Role::Agent);
        let texts = [
            (
                Waiting,
                "u5 dejó el ticket en espera de respuesta del cliente.",
            ),
            (Resolved, "u5 marcó el ticket como resuelto."),
            (Closed, "u5 cerró el ticket."),
        ];
        for (to, text) in texts {
            let command = TicketCommand::SetState { state: to };
            let plan = decide(&ticket(Open, Some(HOLDER)), &agent, &command, None).unwrap();
            let record = plan.record.unwrap();
            assert_eq!(record.text, text);
            assert_eq!(
                record.event,
                SystemEvent::State {
                    previous: Open,
                    new: to,
                    csat_requested: false,
                }
            );
        }
        let command = TicketCommand::SetState { state: Open };
        let plan = decide(&ticket(Resolved, Some(HOLDER)), &agent, &command, None).unwrap();
        assert_eq!(plan.record.unwrap().text, "u5 reabrió el ticket.");
    }

    #[test]
    fn a_resolved_ticket_closes_itself_once_idle_long_enough() {
        const DAY: i64 = 86_400_000;
        let week = Duration::from_secs(7 * 86_400);
        let mut resolved = ticket(Resolved, Some(HOLDER));
        resolved.resolved_at = Some(Timestamp::from_millis(DAY));
        let at = |day: i64| Timestamp::from_millis(day * DAY);
        assert_eq!(close_when_idle(&resolved, at(7), week), None);
        let plan = close_when_idle(&resolved, at(8), week).expect("a week idle");
        assert_eq!(plan.state, Some(Closed));
        assert_eq!(
            plan.record.unwrap().text,
            "El ticket se cerró automáticamente tras 7 días resuelto."
        );
        // Reopened meanwhile, or never resolved: untouched.
        let mut reopened = resolved.clone();
        reopened.state = Open;
        assert_eq!(close_when_idle(&reopened, at(30), week), None);
        assert_eq!(close_when_idle(&ticket(Resolved, None), at(30), week), None);
        assert_eq!(human_span(Duration::from_secs(3_600)), "1 hora");
        assert_eq!(human_span(Duration::from_secs(90 * 60)), "90 minutos");
    }

    #[test]
    fn a_customers_reply_reopens_what_waits_for_them_or_was_resolved() {
        for (state, reopens) in [
            (Open, false),
            (Waiting, true),
            (Resolved, true),
            (Closed, false),
        ] {
            let plan = reopen_on_reply(state);
            assert_eq!(plan.is_some(), reopens, "{state:?}");
            if let Some(plan) = plan {
                assert_eq!(plan.state, Some(Open));
            }
        }
    }

    #[test]
    fn resolution_time_is_set_kept_through_closing_and_cleared_on_reopening() {
        assert_eq!(ResolvedAt::on_entering(Resolved), ResolvedAt::Set);
        assert_eq!(ResolvedAt::on_entering(Closed), ResolvedAt::SetIfUnset);
        assert_eq!(ResolvedAt::on_entering(Open), ResolvedAt::Clear);
        assert_eq!(ResolvedAt::on_entering(Waiting), ResolvedAt::Clear);
    }

    #[test]
    fn opening_a_queued_ticket_claims_it_unless_taken_or_closed() {
        assert_eq!(claim(&ticket(Open, None), HOLDER), Claim::Take);
        assert_eq!(claim(&ticket(Open, Some(HOLDER)), HOLDER), Claim::Theirs);
        assert_eq!(claim(&ticket(Closed, Some(HOLDER)), HOLDER), Claim::Theirs);
        assert_eq!(
            claim(&ticket(Open, Some(OTHER_AGENT)), HOLDER),
            Claim::HeldByOther
        );
        assert_eq!(claim(&ticket(Closed, None), HOLDER), Claim::Closed);
    }

    #[test]
    fn automatic_assignment_picks_the_least_loaded_under_the_limit() {
        assert_eq!(choose_agent(&[(7, 2), (3, 1), (5, 1)], 3), Some(3));
        assert_eq!(choose_agent(&[(7, 2), (3, 3)], 3), Some(7));
        assert_eq!(choose_agent(&[(7, 3)], 3), None);
        assert_eq!(choose_agent(&[], 3), None);
    }

    #[test]
    fn staff_cannot_turn_someone_else_into_a_customer() {
        assert!(check_customer(4, None).is_ok());
        assert!(check_customer(4, Some(Role::Customer)).is_ok());
        assert_eq!(
            check_customer(4, Some(Role::Agent)),
            Err(Refusal::invalid("El usuario 4 no es un cliente."))
        );
    }
}
