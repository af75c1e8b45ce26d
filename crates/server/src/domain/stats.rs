//! Stats, counted from plain rows the stores read: a conversation's
//! (`/chat/stats/`) and the team's (`/api/soporte/stats/`).

use soporte_protocol::rest::{AgentStats, ChatStats, CsatStats, DurationStats, TeamStats};
use soporte_protocol::{AuthorKind, MessageKind, Person, TicketState, Timestamp, UserId};
use std::collections::BTreeMap;

/// One message of a conversation, as its stats see it.
#[derive(Debug, Clone, Copy)]
pub struct MessageFacts {
    pub author: AuthorKind,
    pub at: Timestamp,
    pub kind: MessageKind,
    pub internal: bool,
}

/// A conversation's stats from its messages (the ones the viewer may see),
/// in `seq` order, and the viewer's unread count.
pub fn chat(messages: impl IntoIterator<Item = MessageFacts>, unread: i64) -> ChatStats {
    let mut stats = ChatStats::default();
    for kind in [
        AuthorKind::Customer,
        AuthorKind::Agent,
        AuthorKind::Supervisor,
        AuthorKind::System,
    ] {
        stats.by_author_kind.insert(kind.as_str().to_string(), 0);
    }
    let mut timeline = Vec::new();
    for message in messages {
        *stats
            .by_author_kind
            .entry(message.author.as_str().to_string())
            .or_default() += 1;
        stats.total_messages += 1;
        if message.kind == MessageKind::File {
            stats.files += 1;
        }
        stats.first_message.get_or_insert(message.at);
        stats.last_message = Some(message.at);
        // A note is not an answer the customer got.
        if !message.internal {
            timeline.push((message.author, message.at));
        }
    }
    let (first, average) = response_times(timeline);
    stats.first_response_seconds = first;
    stats.mean_response_seconds = average;
    stats.duration_seconds = match (stats.first_message, stats.last_message) {
        (Some(a), Some(b)) => Some((b.millis() - a.millis()) as f64 / 1000.0),
        _ => None,
    };
    stats.unread = unread;
    stats
}

/// First answer by staff, and the mean wait of each customer turn, from the
/// ticket's messages in order.
pub fn response_times(
    messages: impl IntoIterator<Item = (AuthorKind, Timestamp)>,
) -> (Option<f64>, Option<f64>) {
    let mut first_response = None;
    let mut waiting_since: Option<Timestamp> = None;
    let (mut total_ms, mut turns) = (0i64, 0i64);
    for (kind, at) in messages {
        match kind {
            AuthorKind::Customer => {
                waiting_since.get_or_insert(at);
            }
            AuthorKind::Agent | AuthorKind::Supervisor => {
                if let Some(since) = waiting_since.take() {
                    let wait = at.millis() - since.millis();
                    first_response.get_or_insert(wait as f64 / 1000.0);
                    total_ms += wait;
                    turns += 1;
                }
            }
            AuthorKind::System => {}
        }
    }
    let average = (turns > 0).then(|| total_ms as f64 / turns as f64 / 1000.0);
    (first_response, average)
}

/// Median and 90th percentile (nearest rank) of durations in milliseconds.
pub fn durations(mut millis: Vec<i64>) -> DurationStats {
    millis.sort_unstable();
    let at = |q: f64| -> Option<f64> {
        if millis.is_empty() {
            return None;
        }
        let rank = ((millis.len() as f64 * q).ceil() as usize).clamp(1, millis.len());
        Some(millis[rank - 1] as f64 / 1000.0)
    };
    DurationStats {
        n: millis.len(),
        median_seconds: at(0.5),
        p90_seconds: at(0.9),
    }
}

/// One ticket created in the period, as the team's stats see it.
#[derive(Debug, Clone)]
pub struct TicketFacts {
    pub created: Timestamp,
    pub assigned: Option<Timestamp>,
    pub first_response: Option<Timestamp>,
    pub resolved: Option<Timestamp>,
    /// The agent it is assigned to now.
    pub agent: Option<Person>,
    /// The customer's rating, 1 to 5.
    pub csat: Option<u8>,
}

/// Ratings counted: how many, the mean, and the share of 4s and 5s (the
/// usual CSAT score).
pub fn csat(scores: impl IntoIterator<Item = u8>) -> CsatStats {
    let mut stats = CsatStats::default();
    for score in scores {
        if (1..=5).contains(&score) {
            stats.by_score[usize::from(score) - 1] += 1;
            stats.n += 1;
        }
    }
    if stats.n > 0 {
        let n = stats.n as f64;
        let sum: usize = (1..=5).map(|s| s * stats.by_score[s - 1]).sum();
        stats.mean = Some(sum as f64 / n);
        stats.satisfied_percent = Some((stats.by_score[3] + stats.by_score[4]) as f64 * 100.0 / n);
    }
    stats
}

/// The team's stats: tickets by state (all of them, `by_state`), and for
/// the tickets created in `[from, to]` the queue wait, first response and
/// resolution times, overall and per agent.
pub fn team(
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    by_state: impl IntoIterator<Item = (TicketState, i64)>,
    tickets: impl IntoIterator<Item = TicketFacts>,
) -> TeamStats {
    let mut stats = TeamStats {
        from,
        to,
        ..TeamStats::default()
    };
    for state in [
        TicketState::Open,
        TicketState::Waiting,
        TicketState::Resolved,
        TicketState::Closed,
    ] {
        stats.by_state.insert(state.as_str().to_string(), 0);
    }
    for (state, count) in by_state {
        *stats
            .by_state
            .entry(state.as_str().to_string())
            .or_default() += count;
    }
    let (mut queue, mut first, mut resolution) = (Vec::new(), Vec::new(), Vec::new());
    let mut ratings = Vec::new();
    let mut per_agent: BTreeMap<UserId, AgentTally> = BTreeMap::new();
    for ticket in tickets {
        stats.tickets_created += 1;
        let since =
            |at: Option<Timestamp>| at.map(|at| (at.millis() - ticket.created.millis()).max(0));
        let (assigned, answered, resolved) = (
            since(ticket.assigned),
            since(ticket.first_response),
            since(ticket.resolved),
        );
        queue.extend(assigned);
        first.extend(answered);
        resolution.extend(resolved);
        ratings.extend(ticket.csat);
        if let Some(agent) = ticket.agent {
            let Some(id) = agent.id else { continue };
            let entry = per_agent.entry(id).or_insert_with(|| AgentTally {
                agent,
                tickets: 0,
                first: Vec::new(),
                resolved: Vec::new(),
                ratings: Vec::new(),
            });
            entry.tickets += 1;
            entry.first.extend(answered);
            entry.resolved.extend(resolved);
            entry.ratings.extend(ticket.csat);
        }
    }
    stats.queue_wait = durations(queue);
    stats.first_response = durations(first);
    stats.resolution = durations(resolution);
    stats.csat = csat(ratings);
    stats.by_agent = per_agent
        .into_values()
        .map(|tally| AgentStats {
            agent: Some(tally.agent),
            tickets: tally.tickets,
            first_response: durations(tally.first),
            resolution: durations(tally.resolved),
            csat: csat(tally.ratings),
        })
        .collect();
    stats
}

/// One agent's tickets, as they are counted.
struct AgentTally {
    agent: Person,
    tickets: usize,
    first: Vec<i64>,
    resolved: Vec<i64>,
    ratings: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use soporte_protocol::Role;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_millis(s * 1000)
    }

    #[test]
    fn csat_counts_each_score_and_the_share_of_fours_and_fives() {
        let stats = csat([5, 4, 3, 1, 5]);
        assert_eq!(stats.n, 5);
        assert_eq!(stats.by_score, [1, 0, 1, 1, 2]);
        assert_eq!(stats.mean, Some(3.6));
        assert_eq!(stats.satisfied_percent, Some(60.0));
        let none = csat([]);
        assert_eq!((none.n, none.mean, none.satisfied_percent), (0, None, None));
    }

    #[test]
    fn durations_use_nearest_rank() {
        let stats = durations((1..=10).map(|s| s * 1000).collect());
        assert_eq!(
            (stats.n, stats.median_seconds, stats.p90_seconds),
            (10, Some(5.0), Some(9.0))
        );
        assert_eq!(durations(vec![]).median_seconds, None);
    }

    #[test]
    fn response_times_measure_each_customer_turn() {
        let messages = vec![
            (AuthorKind::System, t(0)),
            (AuthorKind::Customer, t(10)),
            (AuthorKind::Customer, t(15)),
            (AuthorKind::Agent, t(40)), // waited 30 s
            (AuthorKind::Agent, t(50)),
            (AuthorKind::Customer, t(100)),
            (AuthorKind::Supervisor, t(110)), // waited 10 s
            (AuthorKind::Customer, t(200)),   // still waiting: not counted
        ];
        assert_eq!(response_times(messages), (Some(30.0), Some(20.0)));
        assert_eq!(
            response_times(vec![(AuthorKind::Customer, t(0))]),
            (None, None)
        );
    }

    #[test]
    fn a_conversations_stats_skip_notes_as_answers() {
        let m = |author, at, kind, internal| MessageFacts {
            author,
            at: t(at),
            kind,
            internal,
        };
        let stats = chat(
            [
                m(AuthorKind::Customer, 0, MessageKind::Text, false),
                m(AuthorKind::Agent, 5, MessageKind::Text, true), // a note
                m(AuthorKind::Agent, 20, MessageKind::File, false),
            ],
            2,
        );
        assert_eq!(stats.total_messages, 3);
        assert_eq!(stats.files, 1);
        assert_eq!(stats.first_response_seconds, Some(20.0));
        assert_eq!(stats.duration_seconds, Some(20.0));
        assert_eq!(stats.by_author_kind["AGENTE"], 2);
        assert_eq!(stats.by_author_kind["SISTEMA"], 0);
        assert_eq!(stats.unread, 2);
    }

    #[test]
    fn team_stats_count_per_agent_from_creation() {
        let ana = Person::user(5, "Ana", Role::Agent, None);
        let tickets = [
            TicketFacts {
                created: t(100),
                assigned: Some(t(110)),
                first_response: Some(t(130)),
                resolved: Some(t(400)),
                agent: Some(ana.clone()),
                csat: Some(4),
            },
            TicketFacts {
                created: t(100),
                assigned: None,
                first_response: None,
                resolved: None,
                agent: None,
                csat: None,
            },
        ];
        let stats = team(
            None,
            None,
            [(TicketState::Open, 1), (TicketState::Resolved, 1)],
            tickets,
        );
        assert_eq!(stats.tickets_created, 2);
        assert_eq!(stats.by_state["ABIERTO"], 1);
        assert_eq!(stats.by_state["CERRADO"], 0);
        assert_eq!(stats.queue_wait.median_seconds, Some(10.0));
        assert_eq!(stats.by_agent.len(), 1);
        assert_eq!(stats.by_agent[0].agent.as_ref(), Some(&ana));
        assert_eq!(stats.by_agent[0].resolution.median_seconds, Some(300.0));
        assert_eq!((stats.csat.n, stats.csat.mean), (1, Some(4.0)));
        assert_eq!(stats.by_agent[0].csat.by_score, [0, 0, 0, 1, 0]);
    }
}
