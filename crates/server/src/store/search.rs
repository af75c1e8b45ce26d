//! Search as SQL: the candidate queries both stores run, built once here
//! with `?N` placeholders (PostgreSQL rewrites them to `$N`). Only the
//! full-text match differs by store ([`Match`]); what matches and how hits
//! rank is `domain::search`.

use super::rows::SqlRow;
use super::TicketScope;
use crate::domain::search::{Candidate, Field, CANDIDATES};
use soporte_protocol::{TicketState, Timestamp, UserId};

/// What a search may see and is narrowed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchScope {
    pub scope: TicketScope,
    /// Staff see internal notes; customers never.
    pub sees_internal: bool,
    pub state: Option<TicketState>,
    pub agent: Option<UserId>,
    pub customer: Option<UserId>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// How a store finds what matches the query in `?1`, for one kind of hit:
/// the tables (aliases `m` messages, `t` tickets, `u` users), the match
/// condition, and the order that lists the newest first.
///
/// Newest first is by id: both stores give ids in the order rows are made,
/// and ordering by the key lets a store walk its full-text matches (SQLite's
/// FTS5 by rowid) or its table (PostgreSQL's primary key, when a word is
/// common) from the newest and stop at [`CANDIDATES`], instead of sorting
/// every match of a common word on a store of millions.
pub struct Source {
    pub from: &'static str,
    pub matched: &'static str,
    pub newest_first: &'static str,
}

/// A store's [`Source`] of each kind of hit; `own_messages` is for a
/// customer, whose few tickets are better walked than every match.
pub struct Match {
    pub messages: Source,
    pub own_messages: Source,
    pub tickets: Source,
    pub users: Source,
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Int(i64),
    Text(String),
    Bool(bool),
}

/// One candidate query and the values of its `?N` placeholders.
pub struct CandidateQuery {
    pub field: Field,
    pub sql: String,
    pub params: Vec<Param>,
}

fn bind(params: &mut Vec<Param>, value: Param) -> String {
    params.push(value);
    format!("?{}", params.len())
}

/// ` AND …` for the tickets `scope` may see and is narrowed to, and for
/// hits between its dates on `column`.
fn filters(scope: &SearchScope, column: &str, params: &mut Vec<Param>) -> String {
    let mut sql = String::new();
    match scope.scope {
        TicketScope::OwnedBy(id) => {
            sql += &format!(" AND t.cliente_id = {}", bind(params, Param::Int(id)))
        }
        TicketScope::AgentQueue(id) => {
            let me = bind(params, Param::Int(id));
            sql += &format!(" AND (t.agente_id = {me} OR t.agente_id IS NULL)")
        }
        TicketScope::All => {}
    }
    if let Some(state) = scope.state {
        sql += &format!(
            " AND t.estado = {}",
            bind(params, Param::Text(state.as_str().into()))
        );
    }
    if let Some(agent) = scope.agent {
        sql += &format!(" AND t.agente_id = {}", bind(params, Param::Int(agent)));
    }
    if let Some(customer) = scope.customer {
        sql += &format!(" AND t.cliente_id = {}", bind(params, Param::Int(customer)));
    }
    if let Some(from) = scope.from {
        sql += &format!(
            " AND {column} >= {}",
            bind(params, Param::Int(from.millis()))
        );
    }
    if let Some(to) = scope.to {
        sql += &format!(" AND {column} <= {}", bind(params, Param::Int(to.millis())));
    }
    sql
}

/// The candidate queries: messages, subjects and customers matching
/// `expression` (the store's full-text syntax), and the ticket whose id is
/// `id` or whose `external_id` is `external`; newest first, each at most
/// [`CANDIDATES`].
pub fn queries(
    m: &Match,
    scope: &SearchScope,
    expression: &str,
    id: i64,
    external: &str,
) -> Vec<CandidateQuery> {
    let limit = CANDIDATES;
    let text_param = |params: &mut Vec<Param>| bind(params, Param::Text(expression.to_string()));

    let mut params = Vec::new();
    let source = match scope.scope {
        TicketScope::OwnedBy(_) => &m.own_messages,
        TicketScope::AgentQueue(_) | TicketScope::All => &m.messages,
    };
    let matched = source.matched.replace("?1", &text_param(&mut params));
    let mut where_ = filters(scope, "m.creado", &mut params);
    where_ += &format!(
        " AND m.eliminado = {}",
        bind(&mut params, Param::Bool(false))
    );
    if !scope.sees_internal {
        where_ += &format!(" AND m.interno = {}", bind(&mut params, Param::Bool(false)));
    }
    let messages = CandidateQuery {
        field: Field::Message,
        sql: format!(
            "SELECT m.ticket_id, m.id, m.seq, m.contenido, m.creado FROM {}
             WHERE {matched}{where_} ORDER BY {} LIMIT {limit}",
            source.from, source.newest_first
        ),
        params,
    };

    // Subjects and customers' names: a ticket per hit, newest first.
    let by_ticket = |field: Field, text: &str, source: &Source| {
        let mut params = Vec::new();
        let matched = source.matched.replace("?1", &text_param(&mut params));
        let where_ = filters(scope, "t.creado", &mut params);
        CandidateQuery {
            field,
            sql: format!(
                "SELECT t.id, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), {text}, t.creado
                 FROM {} WHERE {matched}{where_} ORDER BY {} LIMIT {limit}",
                source.from, source.newest_first
            ),
            params,
        }
    };
    let subjects = by_ticket(Field::Subject, "t.asunto", &m.tickets);
    let customers = by_ticket(Field::Customer, "u.nombre", &m.users);

    let mut params = Vec::new();
    let by_id = bind(&mut params, Param::Int(id));
    let by_external = bind(&mut params, Param::Text(external.to_string()));
    let where_ = filters(scope, "t.creado", &mut params);
    let ticket = CandidateQuery {
        field: Field::Subject,
        sql: format!(
            "SELECT t.id, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), t.asunto, t.creado FROM tickets t
             WHERE (t.id = {by_id} OR t.external_id = {by_external}){where_} LIMIT 2"
        ),
        params,
    };
    vec![messages, subjects, customers, ticket]
}

/// A candidate row of the queries above.
pub fn candidate<R: SqlRow>(row: &R, field: Field) -> Result<Candidate, R::Error> {
    let message = match (row.col::<Option<i64>>(1)?, row.col::<Option<i64>>(2)?) {
        (Some(id), Some(seq)) => Some((id, seq)),
        _ => None,
    };
    Ok(Candidate {
        ticket: row.col(0)?,
        field,
        message,
        text: row.col(3)?,
        at: row.at(4)?,
    })
}

/// How the last word of a query is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastWord<'a> {
    Whole,
    /// By the index's own prefix matching.
    Prefix,
    /// As any of these whole words (those it starts); none known, by
    /// prefix matching (cheap then: it starts few or no words).
    AnyOf(&'a [String]),
}

/// The FTS5 expression for the query's terms, all of them: each a quoted
/// string (terms are letters and digits only), the last one as `last` says.
///
/// FTS5 answers a prefix (`"fac"*`) by merging the doclists of every word
/// it starts before it yields a row: half a second for a common one on ten
/// million messages, whatever the `LIMIT`. The same words OR-ed are walked
/// lazily, newest first, and stop at the limit; so a store that knows the
/// words a prefix starts passes them as [`LastWord::AnyOf`].
pub fn fts5_expression(terms: &[String], last: LastWord<'_>) -> String {
    let n = terms.len();
    terms
        .iter()
        .enumerate()
        .map(|(i, t)| match (i + 1 == n, last) {
            (true, LastWord::AnyOf([])) | (true, LastWord::Prefix) => format!("\"{t}\"*"),
            (true, LastWord::AnyOf(words)) => {
                let words: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
                format!("({})", words.join(" OR "))
            }
            _ => format!("\"{t}\""),
        })
        .collect::<Vec<_>>()
        // Explicit: FTS5 reads two phrases side by side as AND, but not a
        // phrase beside a parenthesised group.
        .join(" AND ")
}

/// The `tsquery` for the query's terms (letters and digits only, so no
/// operator can be smuggled in), the last one a prefix when typed so.
pub fn tsquery_expression(terms: &[String], last_is_prefix: bool) -> String {
    let n = terms.len();
    terms
        .iter()
        .enumerate()
        .map(|(i, t)| match last_is_prefix && i + 1 == n {
            true => format!("{t}:*"),
            false => t.clone(),
        })
        .collect::<Vec<_>>()
        .join(" & ")
}
