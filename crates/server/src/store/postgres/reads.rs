//! Queries: everything the read pool answers. Each takes the client it runs
//! on (a pooled connection or the writer's open transaction), so the
//! writer's jobs use them too.

use super::rows::*;
use crate::store::{
    duration_stats, response_times, AttachmentFile, GrantState, TicketScope, UploadGrant, Viewer,
    VisiblePage,
};
use deadpool_postgres::GenericClient;
use soporte_protocol::rest::{AgentStats, CannedResponse, ChatStats, TeamStats, TicketView};
use soporte_protocol::server::AgentView;
use soporte_protocol::*;
use std::collections::{BTreeMap, HashMap};
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
    query_opt(c, &sql, &[&id])
        .await?
        .map(|row| ticket_from_row(&row))
        .transpose()
}

pub async fn last_seqs<C: GenericClient>(
    c: &C,
    ids: &[TicketId],
) -> Result<HashMap<TicketId, Seq>, Error> {
    let rows = query(
        c,
        "SELECT id, last_seq FROM tickets WHERE id = ANY($1)",
        &[&ids],
    )
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

pub async fn find_sent<C: GenericClient>(
    c: &C,
    ticket: TicketId,
    author: UserId,
    client_id: &str,
) -> Result<Option<Message>, Error> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = $1 AND autor_id = $2 AND client_id = $3"
    );
    query_opt(c, &sql, &[&ticket, &author, &client_id])
        .await?
        .map(|row| message_from_row(&row))
        .transpose()
}

pub async fn messages_between<C: GenericClient>(
    c: &C,
    ticket: TicketId,
    after: Seq,
    up_to: Seq,
    limit: usize,
    sees_internal: bool,
) -> Result<Vec<Message>, Error> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE ticket_id = $1 AND seq > $2 AND seq <= $3{} ORDER BY seq LIMIT $4",
        notes_filter(sees_internal)
    );
    let rows = query(c, &sql, &[&ticket, &after, &up_to, &(limit as i64)]).await?;
    messages_from_rows(&rows)
}

/// The newest `limit` visible messages, oldest first.
pub async fn recent_messages<C: GenericClient>(
    c: &C,
    ticket: TicketId,
    limit: usize,
    sees_internal: bool,
) -> Result<Vec<Message>, Error> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = $1{} ORDER BY seq DESC LIMIT $2",
        notes_filter(sees_internal)
    );
    let rows = query(c, &sql, &[&ticket, &(limit as i64)]).await?;
    let mut messages = messages_from_rows(&rows)?;
    messages.reverse();
    Ok(messages)
}

pub async fn visible_page<C: GenericClient>(
    c: &C,
    ticket: TicketId,
    top: Seq,
    offset: usize,
    limit: usize,
) -> Result<VisiblePage, Error> {
    let notes: i64 = query_one(
        c,
        "SELECT COUNT(*) FROM messages WHERE ticket_id = $1 AND interno AND seq <= $2",
        &[&ticket, &top],
    )
    .await?
    .try_get(0)?;
    if notes == 0 {
        // Nothing hidden below the cursor: the page is plain arithmetic on
        // `seq`, as for staff, and a deep page costs what the newest does.
        let up_to = (top - offset as i64).max(0);
        let after = (up_to - limit as i64).max(0);
        let messages = messages_between(c, ticket, after, up_to, limit, false).await?;
        return Ok(VisiblePage {
            count: top,
            messages,
        });
    }
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = $1 AND NOT interno AND seq <= $2
         ORDER BY seq DESC LIMIT $3 OFFSET $4"
    );
    let rows = query(c, &sql, &[&ticket, &top, &(limit as i64), &(offset as i64)]).await?;
    let mut messages = messages_from_rows(&rows)?;
    messages.reverse();
    Ok(VisiblePage {
        count: top - notes,
        messages,
    })
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
    scope: TicketScope,
    viewer: Viewer,
    limit: usize,
    base: &str,
) -> Result<Vec<TicketView>, Error> {
    let limit = limit as i64;
    let order = "ORDER BY t.actualizado DESC, t.id DESC LIMIT";
    let rows = match scope {
        TicketScope::OwnedBy(id) => {
            let sql = format!(
                "SELECT {TICKET_COLUMNS} FROM {TICKET_FROM} WHERE t.cliente_id = $1 {order} $2"
            );
            query(c, &sql, &[&id, &limit]).await?
        }
        TicketScope::AgentQueue(id) => {
            let sql = format!(
                "SELECT {TICKET_COLUMNS} FROM {TICKET_FROM}
                 WHERE (t.agente_id = $1 OR t.agente_id IS NULL) {order} $2"
            );
            query(c, &sql, &[&id, &limit]).await?
        }
        TicketScope::All => {
            let sql = format!("SELECT {TICKET_COLUMNS} FROM {TICKET_FROM} {order} $1");
            query(c, &sql, &[&limit]).await?
        }
    };
    let tickets = rows
        .iter()
        .map(ticket_from_row)
        .collect::<Result<Vec<_>, _>>()?;
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
    let mut lasts = messages_from_rows(&query(c, &sql, &[&ids]).await?)?;
    fill_attachments(c, &mut lasts, base).await?;
    let mut last: HashMap<i64, Message> = lasts.into_iter().map(|m| (m.ticket, m)).collect();
    Ok(tickets
        .into_iter()
        .map(|ticket| TicketView {
            unread: unread.get(&ticket.id).copied().unwrap_or(0),
            last_message: last.remove(&ticket.id),
            ticket,
        })
        .collect())
}

pub async fn stats<C: GenericClient>(
    c: &C,
    ticket: TicketId,
    viewer: Viewer,
) -> Result<ChatStats, Error> {
    let mut stats = ChatStats::default();
    let sql = format!(
        "SELECT autor_tipo, creado, tipo, interno FROM messages WHERE ticket_id = $1{} ORDER BY seq",
        notes_filter(viewer.sees_internal)
    );
    let mut timeline = Vec::new();
    for row in query(c, &sql, &[&ticket]).await? {
        let kind_text: String = row.try_get(0)?;
        let at = Timestamp::from_millis(row.try_get(1)?);
        let message_kind: String = row.try_get(2)?;
        let kind = AuthorKind::parse(&kind_text).unwrap_or(AuthorKind::System);
        *stats
            .by_author_kind
            .entry(kind.as_str().to_string())
            .or_default() += 1;
        stats.total_messages += 1;
        if message_kind == MessageKind::File.as_str() {
            stats.files += 1;
        }
        stats.first_message.get_or_insert(at);
        stats.last_message = Some(at);
        // A note is not an answer the customer got.
        let internal: bool = row.try_get(3)?;
        if !internal {
            timeline.push((kind, at));
        }
    }
    for kind in ["CLIENTE", "AGENTE", "SUPERVISOR", "SISTEMA"] {
        stats.by_author_kind.entry(kind.to_string()).or_default();
    }
    let (first, average) = response_times(timeline);
    stats.first_response_seconds = first;
    stats.mean_response_seconds = average;
    stats.duration_seconds = match (stats.first_message, stats.last_message) {
        (Some(a), Some(b)) => Some((b.millis() - a.millis()) as f64 / 1000.0),
        _ => None,
    };
    stats.unread = unread_count(c, ticket, viewer).await?;
    Ok(stats)
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
    let rows = query(
        c,
        "SELECT u.id, u.nombre, u.avatar, u.disponibilidad,
                (SELECT COUNT(*) FROM tickets t WHERE t.agente_id = u.id AND t.estado IN ('ABIERTO', 'EN_ESPERA'))
         FROM users u WHERE u.rol = 'AGENTE' ORDER BY u.nombre COLLATE \"C\", u.id",
        &[],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let availability: String = row.try_get(3)?;
            Ok(AgentView {
                id: row.try_get(0)?,
                name: row.try_get(1)?,
                avatar: row.try_get(2)?,
                availability: Availability::parse(&availability).unwrap_or(Availability::Away),
                online: false,
                open_tickets: row.try_get(4)?,
            })
        })
        .collect()
}

pub async fn user<C: GenericClient>(c: &C, id: UserId) -> Result<Option<(Person, Role)>, Error> {
    let Some(row) = query_opt(
        c,
        "SELECT id, nombre, rol, avatar FROM users WHERE id = $1",
        &[&id],
    )
    .await?
    else {
        return Ok(None);
    };
    let role: String = row.try_get(2)?;
    let role = Role::parse(&role).unwrap_or(Role::Customer);
    Ok(Some((
        Person {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            kind: AuthorKind::from(role),
            avatar: row.try_get(3)?,
        },
        role,
    )))
}

pub async fn last_seen<C: GenericClient>(
    c: &C,
    users: &[UserId],
) -> Result<HashMap<UserId, Timestamp>, Error> {
    let rows = query(
        c,
        "SELECT id, last_seen FROM users WHERE id = ANY($1) AND last_seen IS NOT NULL",
        &[&users],
    )
    .await?;
    let mut seen = HashMap::new();
    for row in rows {
        seen.insert(row.try_get(0)?, Timestamp::from_millis(row.try_get(1)?));
    }
    Ok(seen)
}

pub async fn team_stats<C: GenericClient>(
    c: &C,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Result<TeamStats, Error> {
    let mut stats = TeamStats {
        from,
        to,
        ..TeamStats::default()
    };
    for row in query(
        c,
        "SELECT estado, COUNT(*) FROM tickets GROUP BY estado",
        &[],
    )
    .await?
    {
        stats.by_state.insert(row.try_get(0)?, row.try_get(1)?);
    }
    for state in ["ABIERTO", "EN_ESPERA", "RESUELTO", "CERRADO"] {
        stats.by_state.entry(state.to_string()).or_default();
    }
    let from = from.map(|t| t.millis()).unwrap_or(i64::MIN);
    let to = to.map(|t| t.millis()).unwrap_or(i64::MAX);
    let rows = query(
        c,
        "SELECT t.creado, t.asignado_at, t.primera_respuesta_at, t.resuelto_at, t.agente_id, a.nombre, a.avatar
         FROM tickets t LEFT JOIN users a ON a.id = t.agente_id
         WHERE t.creado >= $1 AND t.creado <= $2",
        &[&from, &to],
    )
    .await?;
    let (mut queue, mut first, mut resolution) = (Vec::new(), Vec::new(), Vec::new());
    let mut per_agent: BTreeMap<i64, (Person, usize, Vec<i64>, Vec<i64>)> = BTreeMap::new();
    for row in rows {
        stats.tickets_created += 1;
        let created: i64 = row.try_get(0)?;
        let since = |at: Option<i64>| at.map(|at| (at - created).max(0));
        let (assigned, answered, resolved) = (
            since(row.try_get(1)?),
            since(row.try_get(2)?),
            since(row.try_get(3)?),
        );
        queue.extend(assigned);
        first.extend(answered);
        resolution.extend(resolved);
        if let Some(agent) = row.try_get::<_, Option<i64>>(4)? {
            let person = Person {
                id: Some(agent),
                name: row.try_get(5)?,
                kind: AuthorKind::Agent,
                avatar: row.try_get(6)?,
            };
            let entry = per_agent
                .entry(agent)
                .or_insert((person, 0, Vec::new(), Vec::new()));
            entry.1 += 1;
            entry.2.extend(answered);
            entry.3.extend(resolved);
        }
    }
    stats.queue_wait = duration_stats(queue);
    stats.first_response = duration_stats(first);
    stats.resolution = duration_stats(resolution);
    stats.by_agent = per_agent
        .into_values()
        .map(|(agent, tickets, first, resolved)| AgentStats {
            agent: Some(agent),
            tickets,
            first_response: duration_stats(first),
            resolution: duration_stats(resolved),
        })
        .collect();
    Ok(stats)
}

const CANNED_COLUMNS: &str = "id, atajo, texto, creado_por, creado, actualizado";

fn canned_from_row(row: &Row) -> Result<CannedResponse, Error> {
    Ok(CannedResponse {
        id: row.try_get(0)?,
        shortcut: row.try_get(1)?,
        text: row.try_get(2)?,
        created_by: row.try_get(3)?,
        created: Timestamp::from_millis(row.try_get(4)?),
        updated: Timestamp::from_millis(row.try_get(5)?),
    })
}

/// By shortcut, in byte order (as SQLite sorts).
pub async fn canned_responses<C: GenericClient>(c: &C) -> Result<Vec<CannedResponse>, Error> {
    let sql = format!("SELECT {CANNED_COLUMNS} FROM respuestas ORDER BY atajo COLLATE \"C\"");
    query(c, &sql, &[])
        .await?
        .iter()
        .map(canned_from_row)
        .collect()
}

pub async fn canned_response<C: GenericClient>(
    c: &C,
    id: i64,
) -> Result<Option<CannedResponse>, Error> {
    let sql = format!("SELECT {CANNED_COLUMNS} FROM respuestas WHERE id = $1");
    query_opt(c, &sql, &[&id])
        .await?
        .map(|row| canned_from_row(&row))
        .transpose()
}

/// Where attachment `id` is downloaded from.
pub fn attachment_url(base: &str, id: i64) -> String {
    format!("{base}/api/soporte/archivos/{id}/")
}

/// Where the thumbnail of attachment `id` is downloaded from.
pub fn thumbnail_url(base: &str, id: i64) -> String {
    format!("{base}/api/soporte/archivos/{id}/miniatura/")
}

const ATTACHMENT_COLUMNS: &str =
    "id, mensaje_id, nombre, tamano, tipo_mime, ticket_id, storage_key, sha256, thumbnail_key";

fn attachment_from_row(row: &Row, base: &str) -> Result<(MessageId, AttachmentFile), Error> {
    let id: i64 = row.try_get(0)?;
    let size: i64 = row.try_get(3)?;
    let thumbnail_key: Option<String> = row.try_get(8)?;
    Ok((
        row.try_get(1)?,
        AttachmentFile {
            attachment: Attachment {
                id,
                name: row.try_get(2)?,
                size: size as u64,
                mime_type: row.try_get(4)?,
                url: attachment_url(base, id),
                thumbnail_url: thumbnail_key.as_ref().map(|_| thumbnail_url(base, id)),
            },
            ticket: row.try_get(5)?,
            key: row.try_get(6)?,
            thumbnail_key,
            sha256: row.try_get(7)?,
        },
    ))
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
    for row in query(c, &sql, &[&ids]).await? {
        let (message, file) = attachment_from_row(&row, base)?;
        if let Some(m) = messages.iter_mut().find(|m| m.id == message) {
            m.attachments.push(file.attachment);
        }
    }
    Ok(())
}

pub async fn attachment_file<C: GenericClient>(
    c: &C,
    id: i64,
    base: &str,
) -> Result<Option<AttachmentFile>, Error> {
    let sql = format!("SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = $1");
    query_opt(c, &sql, &[&id])
        .await?
        .map(|row| attachment_from_row(&row, base).map(|(_, file)| file))
        .transpose()
}

pub async fn upload_grant<C: GenericClient>(
    c: &C,
    upload_id: &str,
) -> Result<Option<GrantState>, Error> {
    let Some(row) = query_opt(
        c,
        "SELECT id, credential_hash, user_id, ticket_id, nombre, tamano, extension, expires_at, used_at
         FROM upload_grants WHERE id = $1",
        &[&upload_id],
    )
    .await?
    else {
        return Ok(None);
    };
    let size: i64 = row.try_get(5)?;
    Ok(Some(GrantState {
        grant: UploadGrant {
            upload_id: row.try_get(0)?,
            credential_hash: row.try_get(1)?,
            user: row.try_get(2)?,
            ticket: row.try_get(3)?,
            name: row.try_get(4)?,
            size: size as u64,
            extension: row.try_get(6)?,
            expires_at: Timestamp::from_millis(row.try_get(7)?),
        },
        used: row.try_get::<_, Option<i64>>(8)?.is_some(),
    }))
}
