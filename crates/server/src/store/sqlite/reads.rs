//! Queries: everything the read connections answer. Each takes the
//! connection it runs on, so the writer's jobs can use them too.

use super::rows::*;
use crate::store::{duration_stats, response_times, TicketScope, Viewer, VisiblePage};
use rusqlite::{params, Connection, OptionalExtension};
use soporte_protocol::rest::{AgentStats, CannedResponse, ChatStats, TeamStats, TicketView};
use soporte_protocol::server::AgentView;
use soporte_protocol::*;
use std::collections::BTreeMap;

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
    .query_row([id], ticket_from_row)
    .optional()
}

pub fn messages_between(
    conn: &Connection,
    ticket: TicketId,
    after: Seq,
    up_to: Seq,
    limit: usize,
    sees_internal: bool,
) -> rusqlite::Result<Vec<Message>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE ticket_id = ?1 AND seq > ?2 AND seq <= ?3{} ORDER BY seq LIMIT ?4",
        notes_filter(sees_internal)
    ))?;
    let rows = stmt.query_map(
        params![ticket, after, up_to, limit as i64],
        message_from_row,
    )?;
    rows.collect()
}

/// The newest `limit` visible messages, oldest first.
pub fn recent_messages(
    conn: &Connection,
    ticket: TicketId,
    limit: usize,
    sees_internal: bool,
) -> rusqlite::Result<Vec<Message>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = ?1{} ORDER BY seq DESC LIMIT ?2",
        notes_filter(sees_internal)
    ))?;
    let mut messages = stmt
        .query_map(params![ticket, limit as i64], message_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    messages.reverse();
    Ok(messages)
}

pub fn visible_page(
    conn: &Connection,
    ticket: TicketId,
    top: Seq,
    offset: usize,
    limit: usize,
) -> rusqlite::Result<VisiblePage> {
    let notes: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM messages WHERE ticket_id = ?1 AND interno = 1 AND seq <= ?2",
        )?
        .query_row(params![ticket, top], |row| row.get(0))?;
    if notes == 0 {
        // Nothing hidden below the cursor: the page is plain arithmetic on
        // `seq`, as for staff, and a deep page costs what the newest does.
        let up_to = (top - offset as i64).max(0);
        let after = (up_to - limit as i64).max(0);
        let messages = messages_between(conn, ticket, after, up_to, limit, false)?;
        return Ok(VisiblePage {
            count: top,
            messages,
        });
    }
    // Notes to skip: walk back from the cursor (a deep page by number costs
    // its offset; the `before` cursor keeps every page cheap).
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = ?1 AND interno = 0 AND seq <= ?2
         ORDER BY seq DESC LIMIT ?3 OFFSET ?4"
    ))?;
    let mut messages = stmt
        .query_map(
            params![ticket, top, limit as i64, offset as i64],
            message_from_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    messages.reverse();
    Ok(VisiblePage {
        count: top - notes,
        messages,
    })
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

pub fn ticket_view(
    conn: &Connection,
    ticket: Ticket,
    viewer: Viewer,
) -> rusqlite::Result<TicketView> {
    let last = recent_messages(conn, ticket.id, 1, viewer.sees_internal)?.pop();
    Ok(TicketView {
        unread: unread_count(conn, ticket.id, viewer)?,
        last_message: last,
        ticket,
    })
}

pub fn list_tickets(
    conn: &Connection,
    scope: TicketScope,
    viewer: Viewer,
    limit: usize,
) -> rusqlite::Result<Vec<TicketView>> {
    let (filter, owner) = match scope {
        TicketScope::OwnedBy(id) => ("t.cliente_id = ?1", id),
        TicketScope::AgentQueue(id) => ("(t.agente_id = ?1 OR t.agente_id IS NULL)", id),
        TicketScope::All => ("?1 = ?1", 0),
    };
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM {TICKET_FROM} WHERE {filter} ORDER BY t.actualizado DESC, t.id DESC LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let tickets = stmt
        .query_map(params![owner, limit as i64], ticket_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tickets
        .into_iter()
        .map(|ticket| ticket_view(conn, ticket, viewer))
        .collect()
}

pub fn stats(conn: &Connection, ticket: TicketId, viewer: Viewer) -> rusqlite::Result<ChatStats> {
    let mut stats = ChatStats::default();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT autor_tipo, creado, tipo, interno FROM messages WHERE ticket_id = ?1{} ORDER BY seq",
        notes_filter(viewer.sees_internal)
    ))?;
    let mut rows = stmt.query([ticket])?;
    let mut timeline = Vec::new();
    while let Some(row) = rows.next()? {
        let kind_text: String = row.get(0)?;
        let at = Timestamp::from_millis(row.get(1)?);
        let message_kind: String = row.get(2)?;
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
        let internal: bool = row.get(3)?;
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
    stats.unread = unread_count(conn, ticket, viewer)?;
    Ok(stats)
}

/// Open tickets (not resolved or closed) assigned to `agent`.
pub fn open_tickets_of(conn: &Connection, agent: UserId) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT COUNT(*) FROM tickets WHERE agente_id = ?1 AND estado IN ('ABIERTO', 'EN_ESPERA')",
    )?
    .query_row([agent], |row| row.get(0))
}

pub fn agents(conn: &Connection) -> rusqlite::Result<Vec<AgentView>> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, u.nombre, u.avatar, u.disponibilidad,
                (SELECT COUNT(*) FROM tickets t WHERE t.agente_id = u.id AND t.estado IN ('ABIERTO', 'EN_ESPERA'))
         FROM users u WHERE u.rol = 'AGENTE' ORDER BY u.nombre, u.id",
    )?;
    let rows = stmt.query_map([], |row| {
        let availability: String = row.get(3)?;
        Ok(AgentView {
            id: row.get(0)?,
            name: row.get(1)?,
            avatar: row.get(2)?,
            availability: Availability::parse(&availability).unwrap_or(Availability::Away),
            online: false,
            open_tickets: row.get(4)?,
        })
    })?;
    rows.collect()
}

pub fn user(conn: &Connection, id: UserId) -> rusqlite::Result<Option<(Person, Role)>> {
    conn.prepare_cached("SELECT id, nombre, rol, avatar FROM users WHERE id = ?1")?
        .query_row([id], |row| {
            let role: String = row.get(2)?;
            let role = Role::parse(&role).unwrap_or(Role::Customer);
            Ok((
                Person {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    kind: AuthorKind::from(role),
                    avatar: row.get(3)?,
                },
                role,
            ))
        })
        .optional()
}

pub fn team_stats(
    conn: &Connection,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> rusqlite::Result<TeamStats> {
    let mut stats = TeamStats {
        from,
        to,
        ..TeamStats::default()
    };
    let mut by_state =
        conn.prepare_cached("SELECT estado, COUNT(*) FROM tickets GROUP BY estado")?;
    for row in by_state.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })? {
        let (state, count) = row?;
        stats.by_state.insert(state, count);
    }
    for state in ["ABIERTO", "EN_ESPERA", "RESUELTO", "CERRADO"] {
        stats.by_state.entry(state.to_string()).or_default();
    }
    let mut stmt = conn.prepare_cached(
        "SELECT t.creado, t.asignado_at, t.primera_respuesta_at, t.resuelto_at, t.agente_id, a.nombre, a.avatar
         FROM tickets t LEFT JOIN users a ON a.id = t.agente_id
         WHERE t.creado >= ?1 AND t.creado <= ?2",
    )?;
    let from = from.map(|t| t.millis()).unwrap_or(i64::MIN);
    let to = to.map(|t| t.millis()).unwrap_or(i64::MAX);
    let (mut queue, mut first, mut resolution) = (Vec::new(), Vec::new(), Vec::new());
    let mut per_agent: BTreeMap<i64, (Person, usize, Vec<i64>, Vec<i64>)> = BTreeMap::new();
    let mut rows = stmt.query(params![from, to])?;
    while let Some(row) = rows.next()? {
        stats.tickets_created += 1;
        let created: i64 = row.get(0)?;
        let since = |at: Option<i64>| at.map(|at| (at - created).max(0));
        let (assigned, answered, resolved) =
            (since(row.get(1)?), since(row.get(2)?), since(row.get(3)?));
        queue.extend(assigned);
        first.extend(answered);
        resolution.extend(resolved);
        if let Some(agent) = row.get::<_, Option<i64>>(4)? {
            let person = Person {
                id: Some(agent),
                name: row.get(5)?,
                kind: AuthorKind::Agent,
                avatar: row.get(6)?,
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

fn canned_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CannedResponse> {
    Ok(CannedResponse {
        id: row.get(0)?,
        shortcut: row.get(1)?,
        text: row.get(2)?,
        created_by: row.get(3)?,
        created: Timestamp::from_millis(row.get(4)?),
        updated: Timestamp::from_millis(row.get(5)?),
    })
}

pub fn canned_responses(conn: &Connection) -> rusqlite::Result<Vec<CannedResponse>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CANNED_COLUMNS} FROM respuestas ORDER BY atajo"
    ))?;
    let rows = stmt.query_map([], canned_from_row)?;
    rows.collect()
}

pub fn canned_response(conn: &Connection, id: i64) -> rusqlite::Result<Option<CannedResponse>> {
    conn.prepare_cached(&format!(
        "SELECT {CANNED_COLUMNS} FROM respuestas WHERE id = ?1"
    ))?
    .query_row([id], canned_from_row)
    .optional()
}

/// Where attachment `id` is downloaded from.
pub fn attachment_url(base: &str, id: i64) -> String {
    format!("{base}/api/soporte/archivos/{id}/")
}

const ATTACHMENT_COLUMNS: &str =
    "id, mensaje_id, nombre, tamano, tipo_mime, ticket_id, storage_key, sha256, thumbnail_key";

/// Where the thumbnail of attachment `id` is downloaded from.
pub fn thumbnail_url(base: &str, id: i64) -> String {
    format!("{base}/api/soporte/archivos/{id}/miniatura/")
}

fn attachment_from_row(
    row: &rusqlite::Row<'_>,
    base: &str,
) -> rusqlite::Result<(MessageId, crate::store::AttachmentFile)> {
    let id: i64 = row.get(0)?;
    let size: i64 = row.get(3)?;
    let thumbnail_key: Option<String> = row.get(8)?;
    Ok((
        row.get(1)?,
        crate::store::AttachmentFile {
            attachment: Attachment {
                id,
                name: row.get(2)?,
                size: size as u64,
                mime_type: row.get(4)?,
                url: attachment_url(base, id),
                thumbnail_url: thumbnail_key.as_ref().map(|_| thumbnail_url(base, id)),
            },
            ticket: row.get(5)?,
            key: row.get(6)?,
            thumbnail_key,
            sha256: row.get(7)?,
        },
    ))
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
    let rows = stmt.query_map([], |row| attachment_from_row(row, base))?;
    for row in rows {
        let (message, file) = row?;
        if let Some(m) = messages.iter_mut().find(|m| m.id == message) {
            m.attachments.push(file.attachment);
        }
    }
    Ok(())
}

pub fn attachment_file(
    conn: &Connection,
    id: i64,
    base: &str,
) -> rusqlite::Result<Option<crate::store::AttachmentFile>> {
    conn.prepare_cached(&format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = ?1"
    ))?
    .query_row([id], |row| {
        attachment_from_row(row, base).map(|(_, file)| file)
    })
    .optional()
}

pub fn upload_grant(
    conn: &Connection,
    upload_id: &str,
) -> rusqlite::Result<Option<crate::store::GrantState>> {
    conn.prepare_cached(
        "SELECT id, credential_hash, user_id, ticket_id, nombre, tamano, extension, expires_at, used_at
         FROM upload_grants WHERE id = ?1",
    )?
    .query_row([upload_id], |row| {
        let size: i64 = row.get(5)?;
        Ok(crate::store::GrantState {
            grant: crate::store::UploadGrant {
                upload_id: row.get(0)?,
                credential_hash: row.get(1)?,
                user: row.get(2)?,
                ticket: row.get(3)?,
                name: row.get(4)?,
                size: size as u64,
                extension: row.get(6)?,
                expires_at: Timestamp::from_millis(row.get(7)?),
            },
            used: row.get::<_, Option<i64>>(8)?.is_some(),
        })
    })
    .optional()
}
