//! Queries: everything the read pool answers. Each takes the client it runs
//! on (a pooled connection or the writer's open transaction), so the
//! writer's transaction uses them too. Rows become values in `store::rows`;
//! stats are counted by the domain.

use crate::domain::webhooks::Subscription;
use crate::domain::{stats, User};
use crate::store::edits;
use crate::store::rows::{self, *};
use crate::store::*;
use deadpool_postgres::GenericClient;
use soporte_protocol::rest::{self, CannedResponse, ChatStats, TeamStats, TicketView};
use soporte_protocol::server::AgentView;
use soporte_protocol::webhook::{DeliveryView, WebhookView};
use soporte_protocol::*;
use std::collections::HashMap;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Row};

pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Runs a statement prepared once per connection.
pub async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query(&statement, params).await
}

pub async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query_opt(&statement, params).await
}

pub async fn query_one<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Row, Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query_one(&statement, params).await
}

pub async fn execute<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> Result<u64, Error> {
    let statement = c.prepare_cached(sql).await?;
    c.execute(&statement, params).await
}

/// Every row as a value.
pub(super) fn all<T>(
    found: &[Row],
    read: impl Fn(&Row) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    found.iter().map(read).collect()
}

/// At most one row as a value.
fn one<T>(found: Option<Row>, read: impl Fn(&Row) -> Result<T, Error>) -> Result<Option<T>, Error> {
    found.as_ref().map(read).transpose()
}

/// ` AND NOT interno` for viewers who may not see internal notes.
fn notes_filter(sees_internal: bool) -> &'static str {
    if sees_internal {
        ""
    } else {
        " AND NOT interno"
    }
}

pub async fn load_ticket<C: GenericClient>(c: &C, id: TicketId) -> Result<Option<Ticket>, Error> {
    let sql = format!("SELECT {TICKET_COLUMNS} FROM {TICKET_FROM} WHERE t.id = $1");
    one(query_opt(c, &sql, &[&id]).await?, rows::ticket)
}

pub async fn last_seqs<C: GenericClient>(
    c: &C,
    ids: &[TicketId],
) -> Result<HashMap<TicketId, Seq>, Error> {
    let sql = "SELECT id, last_seq FROM tickets WHERE id = ANY($1)";
    let found = query(c, sql, &[&ids]).await?;
    found
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

pub async fn find_sent<C: GenericClient>(c: &C, sent: Sent<'_>) -> Result<Option<Message>, Error> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = $1 AND autor_id = $2 AND client_id = $3"
    );
    let values: Params = &[&sent.ticket, &sent.author, &sent.client_id];
    one(query_opt(c, &sql, values).await?, rows::message)
}

pub async fn messages_between<C: GenericClient>(c: &C, span: Span) -> Result<Vec<Message>, Error> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE ticket_id = $1 AND seq > $2 AND seq <= $3{} ORDER BY seq LIMIT $4",
        notes_filter(span.sees_internal)
    );
    let limit = span.limit as i64;
    let found = query(c, &sql, &[&span.ticket, &span.after, &span.up_to, &limit]).await?;
    all(&found, rows::message)
}

/// See `Store::changed_messages`.
pub async fn changed_messages<C: GenericClient>(c: &C, span: Span) -> Result<Vec<Message>, Error> {
    let sql = dollars(&edits::changed_sql(
        MESSAGE_COLUMNS,
        notes_filter(span.sees_internal),
    ));
    let limit = span.limit as i64;
    let found = query(c, &sql, &[&span.ticket, &span.up_to, &(span.after), &limit]).await?;
    all(&found, rows::message)
}

/// See `Store::message_versions`.
pub async fn message_versions<C: GenericClient>(
    c: &C,
    ticket: TicketId,
    message: MessageId,
) -> Result<Option<Vec<rest::MessageVersion>>, Error> {
    let sql = "SELECT 1 FROM messages WHERE id = $1 AND ticket_id = $2";
    if query_opt(c, sql, &[&message, &ticket]).await?.is_none() {
        return Ok(None);
    }
    let found = query(c, &dollars(edits::VERSIONS_SQL), &[&message, &ticket]).await?;
    all(&found, rows::message_version).map(Some)
}

/// The newest `limit` visible messages, oldest first.
pub async fn recent_messages<C: GenericClient>(
    c: &C,
    newest: Newest,
) -> Result<Vec<Message>, Error> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = $1{} ORDER BY seq DESC LIMIT $2",
        notes_filter(newest.sees_internal)
    );
    let found = query(c, &sql, &[&newest.ticket, &(newest.limit as i64)]).await?;
    let mut messages = all(&found, rows::message)?;
    messages.reverse();
    Ok(messages)
}

pub async fn notes_up_to<C: GenericClient>(
    c: &C,
    ticket: TicketId,
    top: Seq,
) -> Result<i64, Error> {
    let sql = "SELECT COUNT(*) FROM messages WHERE ticket_id = $1 AND interno AND seq <= $2";
    query_one(c, sql, &[&ticket, &top]).await?.try_get(0)
}

pub async fn visible_skipping_notes<C: GenericClient>(
    c: &C,
    page: PageAt,
) -> Result<Vec<Message>, Error> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = $1 AND NOT interno AND seq <= $2
         ORDER BY seq DESC LIMIT $3 OFFSET $4"
    );
    let (limit, offset) = (page.limit as i64, page.offset as i64);
    let found = query(c, &sql, &[&page.ticket, &page.top, &limit, &offset]).await?;
    let mut messages = all(&found, rows::message)?;
    messages.reverse();
    Ok(messages)
}

pub async fn unread_count<C: GenericClient>(
    c: &C,
    ticket: TicketId,
    viewer: Viewer,
) -> Result<i64, Error> {
    let sql = format!(
        "SELECT COUNT(*) FROM messages
         WHERE ticket_id = $1
           AND seq > COALESCE((SELECT last_read_seq FROM ticket_reads WHERE ticket_id = $1 AND user_id = $2), 0)
           AND (autor_id IS NULL OR autor_id <> $2){}",
        notes_filter(viewer.sees_internal)
    );
    query_one(c, &sql, &[&ticket, &viewer.id]).await?.try_get(0)
}

/// Tickets in `scope`, newest activity first, each with the viewer's unread
/// count and the newest message they may see (with its files): four queries
/// for the page, however long.
pub async fn list_tickets<C: GenericClient>(
    c: &C,
    query_of: TicketQuery,
    base: &str,
) -> Result<Vec<TicketView>, Error> {
    let TicketQuery {
        scope,
        viewer,
        limit,
        filter: narrowed,
        after,
    } = query_of;
    let limit = limit as i64;
    let (after_at, after_id) = after.map_or((i64::MAX, i64::MAX), |(at, id)| (at.millis(), id));
    let activity = rows::activity_column(viewer.sees_internal);
    let order = format!("ORDER BY {activity} DESC, t.id DESC LIMIT");
    // $1 the scope's user (unused for all), $2 the limit, $3 and $4 the
    // page, $5 the agent filtered on.
    let page = format!(
        "{}{}",
        rows::after_page(viewer.sees_internal, "$3", "$4"),
        narrowed.conditions("$5::bigint")
    );
    let (filter, owner) = match scope {
        TicketScope::OwnedBy(id) => ("t.cliente_id = $1", id),
        TicketScope::AgentQueue(id) => ("(t.agente_id = $1 OR t.agente_id IS NULL)", id),
        TicketScope::All => ("$1::bigint IS NOT NULL", 0),
    };
    let sql =
        format!("SELECT {TICKET_COLUMNS} FROM {TICKET_FROM} WHERE {filter} AND {page} {order} $2");
    let agent = narrowed.agent_id();
    let found = query(c, &sql, &[&owner, &limit, &after_at, &after_id, &agent]).await?;
    let tickets = all(&found, rows::ticket)?;
    if tickets.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = tickets.iter().map(|t| t.id).collect();
    let notes = notes_filter(viewer.sees_internal);
    let sql = format!(
        "SELECT m.ticket_id, COUNT(*) FROM messages m
         LEFT JOIN ticket_reads r ON r.ticket_id = m.ticket_id AND r.user_id = $2
         WHERE m.ticket_id = ANY($1) AND m.seq > COALESCE(r.last_read_seq, 0)
           AND (m.autor_id IS NULL OR m.autor_id <> $2){}
         GROUP BY m.ticket_id",
        notes.replace("interno", "m.interno")
    );
    let mut unread: HashMap<i64, i64> = HashMap::new();
    for row in query(c, &sql, &[&ids, &viewer.id]).await? {
        unread.insert(row.try_get(0)?, row.try_get(1)?);
    }
    let sql = format!(
        "SELECT DISTINCT ON (ticket_id) {MESSAGE_COLUMNS} FROM messages
         WHERE ticket_id = ANY($1){notes} ORDER BY ticket_id, seq DESC"
    );
    let mut lasts = all(&query(c, &sql, &[&ids]).await?, rows::message)?;
    fill_attachments(c, &mut lasts, base).await?;
    let mut last: HashMap<i64, Message> = lasts.into_iter().map(|m| (m.ticket, m)).collect();
    Ok(tickets
        .into_iter()
        .map(|ticket| TicketView {
            unread: unread.get(&ticket.id).copied().unwrap_or(0),
            last_message: last.remove(&ticket.id),
            ticket,
            external_id: None,
            metadata: None,
        })
        .collect())
}

pub async fn stats<C: GenericClient>(
    c: &C,
    ticket: TicketId,
    viewer: Viewer,
) -> Result<ChatStats, Error> {
    let sql = format!(
        "SELECT {MESSAGE_FACTS_COLUMNS} FROM messages WHERE ticket_id = $1{} ORDER BY seq",
        notes_filter(viewer.sees_internal)
    );
    let messages = all(&query(c, &sql, &[&ticket]).await?, rows::message_facts)?;
    Ok(stats::chat(
        messages,
        unread_count(c, ticket, viewer).await?,
    ))
}

/// Open tickets (not resolved or closed) assigned to `agent`.
pub async fn open_tickets_of<C: GenericClient>(c: &C, agent: UserId) -> Result<i64, Error> {
    query_one(
        c,
        "SELECT COUNT(*) FROM tickets WHERE agente_id = $1 AND estado IN ('ABIERTO', 'EN_ESPERA')",
        &[&agent],
    )
    .await?
    .try_get(0)
}

/// Every agent, by name. `COLLATE "C"`: byte order, as SQLite sorts, so the
/// list reads the same whatever the database's locale.
pub async fn agents<C: GenericClient>(c: &C) -> Result<Vec<AgentView>, Error> {
    let sql = format!("{AGENT_VIEW_SELECT} ORDER BY u.nombre COLLATE \"C\", u.id");
    all(&query(c, &sql, &[]).await?, rows::agent_view)
}

pub async fn user<C: GenericClient>(c: &C, id: UserId) -> Result<Option<User>, Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    one(query_opt(c, &sql, &[&id]).await?, rows::user)
}

pub async fn last_seen<C: GenericClient>(
    c: &C,
    users: &[UserId],
) -> Result<HashMap<UserId, Timestamp>, Error> {
    let sql = "SELECT id, last_seen FROM users WHERE id = ANY($1) AND last_seen IS NOT NULL";
    let found = query(c, sql, &[&users]).await?;
    found
        .iter()
        .map(|row| Ok((row.try_get(0)?, Timestamp::from_millis(row.try_get(1)?))))
        .collect()
}

pub async fn team_stats<C: GenericClient>(c: &C, period: Period) -> Result<TeamStats, Error> {
    let Period { from, to } = period;
    let sql = "SELECT estado, COUNT(*) FROM tickets GROUP BY estado";
    let states = all(&query(c, sql, &[]).await?, rows::state_count)?;
    let (low, high) = (
        from.map_or(i64::MIN, Timestamp::millis),
        to.map_or(i64::MAX, Timestamp::millis),
    );
    let sql = format!("{TICKET_FACTS_SELECT} WHERE t.creado >= $1 AND t.creado <= $2");
    let tickets = all(&query(c, &sql, &[&low, &high]).await?, rows::ticket_facts)?;
    Ok(stats::team(from, to, states, tickets))
}

/// The candidate hits of `query` in what `scope` sees (`tsvector` indexes).
pub async fn search<C: GenericClient>(
    c: &C,
    wanted: &crate::domain::search::Query,
    raw: &str,
    scope: &crate::store::search::SearchScope,
) -> Result<Vec<crate::domain::search::Candidate>, Error> {
    use crate::store::search::{self, Match, Param, Source};
    // By id, the planner picks per query: the GIN index and a sort for a
    // rare word, the primary key walked backwards for a common one.
    const MESSAGES: Source = Source {
        from: "messages m JOIN tickets t ON t.id = m.ticket_id",
        matched: "m.busqueda @@ to_tsquery('simple', ?1)",
        newest_first: "m.id DESC",
    };
    const TSVECTOR: Match = Match {
        messages: MESSAGES,
        own_messages: MESSAGES,
        tickets: Source {
            from: "tickets t",
            matched: "t.busqueda @@ to_tsquery('simple', ?1)",
            newest_first: "t.id DESC",
        },
        users: Source {
            from: "users u JOIN tickets t ON t.cliente_id = u.id",
            matched: "u.busqueda @@ to_tsquery('simple', ?1)",
            newest_first: "t.id DESC",
        },
    };
    let expression = search::tsquery_expression(&wanted.terms, wanted.last_is_prefix);
    let id = wanted.ticket_id.unwrap_or(0);
    let mut found = Vec::new();
    for candidates in search::queries(&TSVECTOR, scope, &expression, id, raw.trim()) {
        let values: Vec<Box<dyn ToSql + Sync + Send>> = candidates
            .params
            .into_iter()
            .map(|param| -> Box<dyn ToSql + Sync + Send> {
                match param {
                    Param::Int(n) => Box::new(n),
                    Param::Text(t) => Box::new(t),
                    Param::Bool(b) => Box::new(b),
                }
            })
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref() as _).collect();
        let rows = query(c, &dollars(&candidates.sql), &refs).await?;
        for row in &rows {
            found.push(search::candidate(row, candidates.field)?);
        }
    }
    Ok(found)
}

/// `?N` placeholders as PostgreSQL's `$N` (the shared SQL has no other `?`).
pub(super) fn dollars(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('?', Some(d)) if d.is_ascii_digit() => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

pub async fn tickets_ahead<C: GenericClient>(c: &C, ticket: TicketId) -> Result<i64, Error> {
    let sql = dollars(rows::TICKETS_AHEAD_SQL);
    query_one(c, &sql, &[&ticket]).await?.try_get(0)
}

pub async fn first_replies<C: GenericClient>(
    c: &C,
    since: Timestamp,
) -> Result<Vec<(Timestamp, Timestamp)>, Error> {
    let sql = dollars(rows::FIRST_REPLIES_SQL);
    all(
        &query(c, &sql, &[&since.millis()]).await?,
        rows::first_reply,
    )
}

pub async fn setting<C: GenericClient>(c: &C, key: &str) -> Result<Option<String>, Error> {
    let sql = "SELECT valor FROM ajustes WHERE clave = $1";
    Ok(match query_opt(c, sql, &[&key]).await? {
        Some(row) => Some(row.try_get(0)?),
        None => None,
    })
}

/// By shortcut, in byte order (as SQLite sorts).
pub async fn canned_responses<C: GenericClient>(c: &C) -> Result<Vec<CannedResponse>, Error> {
    let sql = format!("SELECT {CANNED_COLUMNS} FROM respuestas ORDER BY atajo COLLATE \"C\"");
    all(&query(c, &sql, &[]).await?, rows::canned)
}

pub async fn canned_response<C: GenericClient>(
    c: &C,
    id: i64,
) -> Result<Option<CannedResponse>, Error> {
    let sql = format!("SELECT {CANNED_COLUMNS} FROM respuestas WHERE id = $1");
    one(query_opt(c, &sql, &[&id]).await?, rows::canned)
}

/// Puts each message's files in its `archivos`: one query per page.
pub async fn fill_attachments<C: GenericClient>(
    c: &C,
    messages: &mut [Message],
    base: &str,
) -> Result<(), Error> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
    let sql = format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE mensaje_id = ANY($1) ORDER BY id"
    );
    let found = query(c, &sql, &[&ids]).await?;
    let files = all(&found, |row| rows::attachment(row, base))?;
    rows::attach(messages, files);
    Ok(())
}

pub async fn attachment_file<C: GenericClient>(
    c: &C,
    id: i64,
    base: &str,
) -> Result<Option<AttachmentFile>, Error> {
    let sql = format!("SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = $1");
    one(query_opt(c, &sql, &[&id]).await?, |row| {
        rows::attachment(row, base).map(|(_, file)| file)
    })
}

pub async fn upload_grant<C: GenericClient>(
    c: &C,
    upload_id: &str,
) -> Result<Option<GrantState>, Error> {
    let sql = format!("SELECT {GRANT_COLUMNS} FROM upload_grants WHERE id = $1");
    one(query_opt(c, &sql, &[&upload_id]).await?, rows::grant)
}

/// By name, in byte order (as SQLite sorts).
pub async fn api_keys<C: GenericClient>(c: &C) -> Result<Vec<ApiKey>, Error> {
    let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY name COLLATE \"C\"");
    all(&query(c, &sql, &[]).await?, |row| {
        rows::api_key(row).map(|stored| stored.key)
    })
}

pub async fn api_key<C: GenericClient>(c: &C, prefix: &str) -> Result<Option<StoredApiKey>, Error> {
    let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE prefix = $1");
    one(query_opt(c, &sql, &[&prefix]).await?, rows::api_key)
}

pub async fn user_view<C: GenericClient>(
    c: &C,
    id: UserId,
) -> Result<Option<soporte_protocol::rest::UserView>, Error> {
    let sql = format!("SELECT {USER_VIEW_COLUMNS} FROM users WHERE id = $1");
    one(query_opt(c, &sql, &[&id]).await?, rows::user_view)
}

pub async fn ticket_by_external_id<C: GenericClient>(
    c: &C,
    external_id: &str,
) -> Result<Option<Ticket>, Error> {
    let sql = format!("SELECT {TICKET_COLUMNS} FROM {TICKET_FROM} WHERE t.external_id = $1");
    one(query_opt(c, &sql, &[&external_id]).await?, rows::ticket)
}

pub async fn webhooks<C: GenericClient>(c: &C) -> Result<Vec<WebhookView>, Error> {
    let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE borrado IS NULL ORDER BY id");
    all(&query(c, &sql, &[]).await?, rows::webhook)
}

pub async fn webhook<C: GenericClient>(c: &C, id: i64) -> Result<Option<WebhookView>, Error> {
    let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1");
    one(query_opt(c, &sql, &[&id]).await?, rows::webhook)
}

pub async fn subscriptions<C: GenericClient>(c: &C) -> Result<Vec<Subscription>, Error> {
    let sql =
        format!("SELECT {SUBSCRIPTION_COLUMNS} FROM webhooks WHERE borrado IS NULL ORDER BY id");
    all(&query(c, &sql, &[]).await?, rows::subscription)
}

pub async fn deliveries<C: GenericClient>(
    c: &C,
    webhook: i64,
    limit: usize,
) -> Result<Vec<DeliveryView>, Error> {
    let limit = limit as i64;
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2"
    );
    let deliveries = all(&query(c, &sql, &[&webhook, &limit]).await?, rows::delivery)?;
    let sql = format!(
        "SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts
         WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2)
         ORDER BY delivery_id, intento"
    );
    let attempts = all(&query(c, &sql, &[&webhook, &limit]).await?, rows::attempt)?;
    Ok(rows::fill_history(deliveries, attempts))
}

pub async fn outbox_backlog<C: GenericClient>(c: &C) -> Result<Backlog, Error> {
    let row = query_one(
        c,
        "SELECT COUNT(*), MIN(creado) FROM webhook_deliveries WHERE estado = 'pendiente'",
        &[],
    )
    .await?;
    Ok(Backlog {
        pending: row.try_get(0)?,
        oldest: row
            .try_get::<_, Option<i64>>(1)?
            .map(Timestamp::from_millis),
    })
}

pub async fn tickets_of_person<C: GenericClient>(
    c: &C,
    user: UserId,
) -> Result<Vec<Ticket>, Error> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM {TICKET_FROM} WHERE t.cliente_id = $1 OR t.agente_id = $1 ORDER BY t.id"
    );
    all(&query(c, &sql, &[&user]).await?, rows::ticket)
}

/// A person's messages (`$1`), found through the tickets they wrote on
/// (`ticket_authors`) rather than an index on every message.
pub const BY_AUTHOR: &str =
    "autor_id = $1 AND ticket_id IN (SELECT ticket_id FROM ticket_authors WHERE usuario_id = $1)";

pub async fn messages_by<C: GenericClient>(c: &C, user: UserId) -> Result<Vec<Message>, Error> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE {BY_AUTHOR} ORDER BY id");
    all(&query(c, &sql, &[&user]).await?, rows::message)
}

pub async fn pending_file_removals<C: GenericClient>(
    c: &C,
    limit: usize,
) -> Result<Vec<String>, Error> {
    let sql = "SELECT storage_key FROM file_deletions ORDER BY creado LIMIT $1";
    all(&query(c, sql, &[&(limit as i64)]).await?, |row| {
        row.try_get(0)
    })
}

pub async fn erasures_of<C: GenericClient>(
    c: &C,
    user: UserId,
) -> Result<Vec<rest::ErasureRecord>, Error> {
    let sql = format!("SELECT {ERASURE_COLUMNS} FROM erasures WHERE usuario_id = $1 ORDER BY id");
    all(&query(c, &sql, &[&user]).await?, rows::erasure)
}
