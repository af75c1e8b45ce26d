//! Queries: everything the read connections answer. Each takes the
//! connection it runs on, so the writer's transaction can use them too.
//! Rows become values in `store::rows`; stats are counted by the domain.

use crate::domain::webhooks::Subscription;
use crate::domain::{stats, User};
use crate::store::edits;
use crate::store::rows::{self, *};
use crate::store::*;
use rusqlite::{params, Connection, OptionalExtension};
use soporte_protocol::rest::{self, CannedResponse, ChatStats, TeamStats, TicketView};
use soporte_protocol::server::AgentView;
use soporte_protocol::webhook::{DeliveryView, WebhookView};
use soporte_protocol::*;

/// `AND interno = 0` for viewers who may not see internal notes.
fn notes_filter(sees_internal: bool) -> &'static str {
    if sees_internal {
        ""
    } else {
        " AND interno = 0"
    }
}

pub fn load_ticket(conn: &Connection, id: TicketId) -> rusqlite::Result<Option<Ticket>> {
    conn.prepare_cached(&format!(
        "SELECT {TICKET_COLUMNS} FROM {TICKET_FROM} WHERE t.id = ?1"
    ))?
    .query_row([id], |row| rows::ticket(row))
    .optional()
}

pub fn find_sent(conn: &Connection, sent: Sent<'_>) -> rusqlite::Result<Option<Message>> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = ?1 AND autor_id = ?2 AND client_id = ?3"
    ))?
    .query_row(params![sent.ticket, sent.author, sent.client_id], |row| {
        rows::message(row)
    })
    .optional()
}

pub fn messages_between(conn: &Connection, span: Span) -> rusqlite::Result<Vec<Message>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE ticket_id = ?1 AND seq > ?2 AND seq <= ?3{} ORDER BY seq LIMIT ?4",
        notes_filter(span.sees_internal)
    ))?;
    let values = params![span.ticket, span.after, span.up_to, span.limit as i64];
    let found = stmt.query_map(values, |row| rows::message(row))?;
    found.collect()
}

/// See `Store::changed_messages`.
pub fn changed_messages(conn: &Connection, span: Span) -> rusqlite::Result<Vec<Message>> {
    let sql = edits::changed_sql(MESSAGE_COLUMNS, notes_filter(span.sees_internal));
    let mut stmt = conn.prepare_cached(&sql)?;
    let values = params![span.ticket, span.up_to, span.after, span.limit as i64];
    let found = stmt.query_map(values, |row| rows::message(row))?;
    found.collect()
}

/// See `Store::message_versions`.
pub fn message_versions(
    conn: &Connection,
    ticket: TicketId,
    message: MessageId,
) -> rusqlite::Result<Option<Vec<rest::MessageVersion>>> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM messages WHERE id = ?1 AND ticket_id = ?2")?
        .query_row(params![message, ticket], |_| Ok(()))
        .optional()?;
    if exists.is_none() {
        return Ok(None);
    }
    let mut stmt = conn.prepare_cached(edits::VERSIONS_SQL)?;
    let found = stmt.query_map(params![message, ticket], |row| rows::message_version(row))?;
    found.collect::<rusqlite::Result<Vec<_>>>().map(Some)
}

/// The newest `limit` visible messages, oldest first.
pub fn recent_messages(conn: &Connection, newest: Newest) -> rusqlite::Result<Vec<Message>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = ?1{} ORDER BY seq DESC LIMIT ?2",
        notes_filter(newest.sees_internal)
    ))?;
    let mut messages = stmt
        .query_map(params![newest.ticket, newest.limit as i64], |row| {
            rows::message(row)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    messages.reverse();
    Ok(messages)
}

pub fn notes_up_to(conn: &Connection, ticket: TicketId, top: Seq) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT COUNT(*) FROM messages WHERE ticket_id = ?1 AND interno = 1 AND seq <= ?2",
    )?
    .query_row(params![ticket, top], |row| row.get(0))
}

pub fn visible_skipping_notes(conn: &Connection, page: PageAt) -> rusqlite::Result<Vec<Message>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = ?1 AND interno = 0 AND seq <= ?2
         ORDER BY seq DESC LIMIT ?3 OFFSET ?4"
    ))?;
    let values = params![page.ticket, page.top, page.limit as i64, page.offset as i64];
    let mut messages = stmt
        .query_map(values, |row| rows::message(row))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    messages.reverse();
    Ok(messages)
}

pub fn unread_count(conn: &Connection, ticket: TicketId, viewer: Viewer) -> rusqlite::Result<i64> {
    conn.prepare_cached(&format!(
        "SELECT COUNT(*) FROM messages
         WHERE ticket_id = ?1
           AND seq > COALESCE((SELECT last_read_seq FROM ticket_reads WHERE ticket_id = ?1 AND user_id = ?2), 0)
           AND (autor_id IS NULL OR autor_id != ?2){}",
        notes_filter(viewer.sees_internal)
    ))?
    .query_row(params![ticket, viewer.id], |row| row.get(0))
}

/// Tickets in `scope`, newest activity first, each with the viewer's unread
/// count and the newest message they may see (with its files).
pub fn list_tickets(
    conn: &Connection,
    query: TicketQuery,
    base: &str,
) -> rusqlite::Result<Vec<TicketView>> {
    let TicketQuery {
        scope,
        viewer,
        limit,
        filter: narrowed,
        after,
    } = query;
    let (after_at, after_id) = after.map_or((i64::MAX, i64::MAX), |(at, id)| (at.millis(), id));
    // In each index walk too, so that a walk's page is of matching tickets.
    let page = format!(
        "{}{}",
        rows::after_page(viewer.sees_internal, "?3", "?4"),
        narrowed.conditions("?5")
    );
    let activity = rows::activity_column(viewer.sees_internal);
    // An agent's page is the newest of two index walks (theirs, the queue),
    // each stopping at the page's size: SQLite's plan for the `OR` read
    // every ticket of both and sorted them (100 ms at a million tickets).
    let newest = |which: &str| {
        format!(
            "SELECT id FROM (SELECT t.id FROM tickets t WHERE {which} AND {page}
             ORDER BY {activity} DESC, t.id DESC LIMIT ?2)"
        )
    };
    let agent_queue = format!(
        "t.id IN ({} UNION ALL {})",
        newest("t.agente_id = ?1"),
        newest("t.agente_id IS NULL")
    );
    let (filter, owner) = match scope {
        TicketScope::OwnedBy(id) => ("t.cliente_id = ?1", id),
        TicketScope::AgentQueue(id) => (agent_queue.as_str(), id),
        TicketScope::All => ("?1 = ?1", 0),
    };
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM {TICKET_FROM} WHERE {filter} AND {page}
         ORDER BY {activity} DESC, t.id DESC LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let tickets = stmt
        .query_map(
            params![owner, limit as i64, after_at, after_id, narrowed.agent_id()],
            |row| rows::ticket(row),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tickets
        .into_iter()
        .map(|ticket| {
            let mut last = recent_messages(conn, Newest::new(ticket.id, 1, viewer.sees_internal))?;
            fill_attachments(conn, &mut last, base)?;
            Ok(TicketView {
                unread: unread_count(conn, ticket.id, viewer)?,
                last_message: last.pop(),
                ticket,
                external_id: None,
                metadata: None,
            })
        })
        .collect()
}

pub fn stats(conn: &Connection, ticket: TicketId, viewer: Viewer) -> rusqlite::Result<ChatStats> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_FACTS_COLUMNS} FROM messages WHERE ticket_id = ?1{} ORDER BY seq",
        notes_filter(viewer.sees_internal)
    ))?;
    let messages = stmt
        .query_map([ticket], |row| rows::message_facts(row))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(stats::chat(messages, unread_count(conn, ticket, viewer)?))
}

/// Open tickets (not resolved or closed) assigned to `agent`.
pub fn open_tickets_of(conn: &Connection, agent: UserId) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT COUNT(*) FROM tickets WHERE agente_id = ?1 AND estado IN ('ABIERTO', 'EN_ESPERA')",
    )?
    .query_row([agent], |row| row.get(0))
}

pub fn agents(conn: &Connection) -> rusqlite::Result<Vec<AgentView>> {
    let mut stmt = conn.prepare_cached(&format!("{AGENT_VIEW_SELECT} ORDER BY u.nombre, u.id"))?;
    let found = stmt.query_map([], |row| rows::agent_view(row))?;
    found.collect()
}

pub fn user(conn: &Connection, id: UserId) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([id], |row| rows::user(row))
        .optional()
}

pub fn team_stats(conn: &Connection, period: Period) -> rusqlite::Result<TeamStats> {
    let Period { from, to } = period;
    let mut by_state =
        conn.prepare_cached("SELECT estado, COUNT(*) FROM tickets GROUP BY estado")?;
    let states = by_state
        .query_map([], |row| rows::state_count(row))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut stmt = conn.prepare_cached(&format!(
        "{TICKET_FACTS_SELECT} WHERE t.creado >= ?1 AND t.creado <= ?2"
    ))?;
    let (low, high) = (
        from.map_or(i64::MIN, Timestamp::millis),
        to.map_or(i64::MAX, Timestamp::millis),
    );
    let tickets = stmt
        .query_map(params![low, high], |row| rows::ticket_facts(row))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(stats::team(from, to, states, tickets))
}

pub fn first_replies(
    conn: &Connection,
    since: Timestamp,
) -> rusqlite::Result<Vec<(Timestamp, Timestamp)>> {
    let mut stmt = conn.prepare_cached(rows::FIRST_REPLIES_SQL)?;
    let found = stmt.query_map([since.millis()], |row| rows::first_reply(row))?;
    found.collect()
}

/// Customers sharing a name from which their tickets are walked rather
/// than listed (see `NAMES_WALKED` in [`search`]).
const MANY_NAMED: i64 = 1_000;

/// The candidate hits of `query` in what `scope` sees (FTS5 indexes).
pub fn search(
    conn: &Connection,
    query: &crate::domain::search::Query,
    raw: &str,
    scope: &crate::store::search::SearchScope,
) -> rusqlite::Result<Vec<crate::domain::search::Candidate>> {
    use crate::store::search::{self, Match, Param, Source};
    use rusqlite::types::Value;
    // The FTS5 tables drive, newest rowid first, so a common word stops at
    // the first matches in scope; a customer's own tickets drive instead,
    // each message checked by one seek in the index.
    const FTS: Match = Match {
        messages: Source {
            from: "messages_fts f JOIN messages m ON m.id = f.rowid JOIN tickets t ON t.id = m.ticket_id",
            matched: "messages_fts MATCH ?1",
            newest_first: "f.rowid DESC",
        },
        own_messages: Source {
            from: "messages m JOIN tickets t ON t.id = m.ticket_id",
            matched: "EXISTS (SELECT 1 FROM messages_fts WHERE messages_fts MATCH ?1 AND rowid = m.id)",
            newest_first: "m.id DESC",
        },
        tickets: Source {
            from: "tickets_fts tf JOIN tickets t ON t.id = tf.rowid",
            matched: "tickets_fts MATCH ?1",
            newest_first: "tf.rowid DESC",
        },
        users: NAMES_BY_CUSTOMER,
    };
    // A name few customers have: their tickets, by the customer index, sorted.
    const NAMES_BY_CUSTOMER: Source = Source {
        from: "users_fts uf JOIN users u ON u.id = uf.rowid JOIN tickets t ON t.cliente_id = u.id",
        matched: "users_fts MATCH ?1",
        newest_first: "t.id DESC",
    };
    // A name many have (a common surname: 5,000 customers, 25,000 tickets
    // on the seeded store, 16-70 ms sorted): tickets walked newest first,
    // each customer looked up in the list of matches (`+` keeps the customer
    // index out), 4 ms.
    const NAMES_WALKED: Source = Source {
        from: "tickets t JOIN users u ON u.id = t.cliente_id",
        matched: "+t.cliente_id IN (SELECT rowid FROM users_fts WHERE users_fts MATCH ?1)",
        newest_first: "t.id DESC",
    };
    const FTS_NAMES_WALKED: Match = Match {
        users: NAMES_WALKED,
        ..FTS
    };
    // A prefix, as the whole words it starts (when there are few enough).
    let starts = match (query.last_is_prefix, query.terms.last()) {
        (true, Some(prefix)) => super::words::starting_with(conn, prefix)?,
        _ => None,
    };
    let last = match (&starts, query.last_is_prefix) {
        (Some(words), _) => search::LastWord::AnyOf(words),
        (None, true) => search::LastWord::Prefix,
        (None, false) => search::LastWord::Whole,
    };
    let expression = search::fts5_expression(&query.terms, last);
    let id = query.ticket_id.unwrap_or(0);
    let many_named: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM users_fts WHERE users_fts MATCH ?1 LIMIT ?2)",
        )?
        .query_row(rusqlite::params![expression, MANY_NAMED], |row| row.get(0))?;
    let sources = match many_named >= MANY_NAMED {
        true => &FTS_NAMES_WALKED,
        false => &FTS,
    };
    let mut found = Vec::new();
    for candidates in search::queries(sources, scope, &expression, id, raw.trim()) {
        let values: Vec<Value> = candidates
            .params
            .into_iter()
            .map(|param| match param {
                Param::Int(n) => Value::Integer(n),
                Param::Text(t) => Value::Text(t),
                Param::Bool(b) => Value::Integer(b.into()),
            })
            .collect();
        let mut stmt = conn.prepare_cached(&candidates.sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(values), |row| {
            search::candidate(row, candidates.field)
        })?;
        for row in rows {
            found.push(row?);
        }
    }
    Ok(found)
}

pub fn tickets_ahead(conn: &Connection, ticket: TicketId) -> rusqlite::Result<i64> {
    conn.prepare_cached(rows::TICKETS_AHEAD_SQL)?
        .query_row([ticket], |row| row.get(0))
}

pub fn setting(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT valor FROM ajustes WHERE clave = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()
}

pub fn canned_responses(conn: &Connection) -> rusqlite::Result<Vec<CannedResponse>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CANNED_COLUMNS} FROM respuestas ORDER BY atajo"
    ))?;
    let found = stmt.query_map([], |row| rows::canned(row))?;
    found.collect()
}

pub fn canned_response(conn: &Connection, id: i64) -> rusqlite::Result<Option<CannedResponse>> {
    conn.prepare_cached(&format!(
        "SELECT {CANNED_COLUMNS} FROM respuestas WHERE id = ?1"
    ))?
    .query_row([id], |row| rows::canned(row))
    .optional()
}

/// Puts each message's files in its `archivos`: one query per page.
pub fn fill_attachments(
    conn: &Connection,
    messages: &mut [Message],
    base: &str,
) -> rusqlite::Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    // Integer ids only: safe to inline, and one statement per page size.
    let ids: Vec<String> = messages.iter().map(|m| m.id.to_string()).collect();
    let sql = format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE mensaje_id IN ({}) ORDER BY id",
        ids.join(",")
    );
    let mut stmt = conn.prepare(&sql)?;
    let files = stmt
        .query_map([], |row| rows::attachment(row, base))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows::attach(messages, files);
    Ok(())
}

pub fn attachment_file(
    conn: &Connection,
    id: i64,
    base: &str,
) -> rusqlite::Result<Option<AttachmentFile>> {
    conn.prepare_cached(&format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = ?1"
    ))?
    .query_row([id], |row| {
        rows::attachment(row, base).map(|(_, file)| file)
    })
    .optional()
}

pub fn upload_grant(conn: &Connection, upload_id: &str) -> rusqlite::Result<Option<GrantState>> {
    conn.prepare_cached(&format!(
        "SELECT {GRANT_COLUMNS} FROM upload_grants WHERE id = ?1"
    ))?
    .query_row([upload_id], |row| rows::grant(row))
    .optional()
}

pub fn last_seen(
    conn: &Connection,
    users: &[UserId],
) -> rusqlite::Result<Vec<(UserId, Timestamp)>> {
    let mut stmt = conn.prepare_cached("SELECT last_seen FROM users WHERE id = ?1")?;
    let mut seen = Vec::new();
    for &user in users {
        let at: Option<Option<i64>> = stmt.query_row([user], |row| row.get(0)).optional()?;
        if let Some(Some(at)) = at {
            seen.push((user, Timestamp::from_millis(at)));
        }
    }
    Ok(seen)
}

pub fn api_keys(conn: &Connection) -> rusqlite::Result<Vec<ApiKey>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY name"
    ))?;
    let found = stmt.query_map([], |row| rows::api_key(row).map(|stored| stored.key))?;
    found.collect()
}

pub fn api_key(conn: &Connection, prefix: &str) -> rusqlite::Result<Option<StoredApiKey>> {
    conn.prepare_cached(&format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE prefix = ?1"
    ))?
    .query_row([prefix], |row| rows::api_key(row))
    .optional()
}

pub fn user_view(
    conn: &Connection,
    id: UserId,
) -> rusqlite::Result<Option<soporte_protocol::rest::UserView>> {
    conn.prepare_cached(&format!(
        "SELECT {USER_VIEW_COLUMNS} FROM users WHERE id = ?1"
    ))?
    .query_row([id], |row| rows::user_view(row))
    .optional()
}

pub fn ticket_by_external_id(
    conn: &Connection,
    external_id: &str,
) -> rusqlite::Result<Option<Ticket>> {
    conn.prepare_cached(&format!(
        "SELECT {TICKET_COLUMNS} FROM {TICKET_FROM} WHERE t.external_id = ?1"
    ))?
    .query_row([external_id], |row| rows::ticket(row))
    .optional()
}

pub fn webhooks(conn: &Connection) -> rusqlite::Result<Vec<WebhookView>> {
    let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE borrado IS NULL ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let found = stmt.query_map([], |row| rows::webhook(row))?;
    found.collect()
}

pub fn webhook(conn: &Connection, id: i64) -> rusqlite::Result<Option<WebhookView>> {
    let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([id], |row| rows::webhook(row))
        .optional()
}

pub fn subscriptions(conn: &Connection) -> rusqlite::Result<Vec<Subscription>> {
    let sql =
        format!("SELECT {SUBSCRIPTION_COLUMNS} FROM webhooks WHERE borrado IS NULL ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let found = stmt.query_map([], |row| rows::subscription(row))?;
    found.collect()
}

pub fn deliveries(
    conn: &Connection,
    webhook: i64,
    limit: usize,
) -> rusqlite::Result<Vec<DeliveryView>> {
    let limit = limit as i64;
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?2"
    );
    let deliveries = conn
        .prepare_cached(&sql)?
        .query_map(params![webhook, limit], |row| rows::delivery(row))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let sql = format!(
        "SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts
         WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?2)
         ORDER BY delivery_id, intento"
    );
    let attempts = conn
        .prepare_cached(&sql)?
        .query_map(params![webhook, limit], |row| rows::attempt(row))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows::fill_history(deliveries, attempts))
}

pub fn outbox_backlog(conn: &Connection) -> rusqlite::Result<Backlog> {
    conn.prepare_cached(
        "SELECT COUNT(*), MIN(creado) FROM webhook_deliveries WHERE estado = 'pendiente'",
    )?
    .query_row([], |row| {
        Ok(Backlog {
            pending: row.get(0)?,
            oldest: row.get::<_, Option<i64>>(1)?.map(Timestamp::from_millis),
        })
    })
}

pub fn tickets_of_person(conn: &Connection, user: UserId) -> rusqlite::Result<Vec<Ticket>> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM {TICKET_FROM} WHERE t.cliente_id = ?1 OR t.agente_id = ?1 ORDER BY t.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let found = stmt.query_map([user], |row| rows::ticket(row))?;
    found.collect()
}

/// A person's messages (`?1`), found through the tickets they wrote on
/// (`ticket_authors`) rather than an index on every message.
pub const BY_AUTHOR: &str =
    "autor_id = ?1 AND ticket_id IN (SELECT ticket_id FROM ticket_authors WHERE usuario_id = ?1)";

pub fn messages_by(conn: &Connection, user: UserId) -> rusqlite::Result<Vec<Message>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE {BY_AUTHOR} ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let found = stmt.query_map([user], |row| rows::message(row))?;
    found.collect()
}

pub fn pending_file_removals(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT storage_key FROM file_deletions ORDER BY creado LIMIT ?1")?;
    let found = stmt.query_map([limit as i64], |row| row.get(0))?;
    found.collect()
}

pub fn erasures_of(conn: &Connection, user: UserId) -> rusqlite::Result<Vec<rest::ErasureRecord>> {
    let sql = format!("SELECT {ERASURE_COLUMNS} FROM erasures WHERE usuario_id = ?1 ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let found = stmt.query_map([user], |row| rows::erasure(row))?;
    found.collect()
}
