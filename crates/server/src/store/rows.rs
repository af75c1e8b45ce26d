//! Rows to values, once for both databases: each store runs its own SQL
//! and hands the rows here. Column lists live next to the code that reads
//! them by position, so the two cannot drift apart.

use super::columns::{JsonObject, Stored, StoredEvents};
use super::webhooks::{Candidate, DueDelivery};
use super::{ApiKey, AttachmentFile, GrantState, StoredApiKey, UploadGrant};
use crate::domain::stats::{MessageFacts, TicketFacts};
use crate::domain::tickets::ResolvedAt;
use crate::domain::uploads::{Held, UploadUsage};
use crate::domain::webhooks::Subscription;
use crate::domain::User;
use soporte_protocol::rest::CannedResponse;
use soporte_protocol::server::AgentView;
use soporte_protocol::webhook::{AttemptView, DeliveryState, DeliveryView, WebhookView};
use soporte_protocol::*;
use std::collections::HashMap;

/// What both databases' rows can be read as.
pub trait Column: rusqlite::types::FromSql + for<'a> tokio_postgres::types::FromSql<'a> {}
impl<T: rusqlite::types::FromSql + for<'a> tokio_postgres::types::FromSql<'a>> Column for T {}

/// A row of either database, read by position.
pub trait SqlRow {
    type Error;
    fn col<T: Column>(&self, index: usize) -> Result<T, Self::Error>;

    fn at(&self, index: usize) -> Result<Timestamp, Self::Error> {
        self.col(index).map(Timestamp::from_millis)
    }

    fn at_opt(&self, index: usize) -> Result<Option<Timestamp>, Self::Error> {
        Ok(self.col::<Option<i64>>(index)?.map(Timestamp::from_millis))
    }
}

impl SqlRow for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn col<T: Column>(&self, index: usize) -> rusqlite::Result<T> {
        self.get(index)
    }
}

impl SqlRow for tokio_postgres::Row {
    type Error = tokio_postgres::Error;
    fn col<T: Column>(&self, index: usize) -> Result<T, tokio_postgres::Error> {
        self.try_get(index)
    }
}

pub const MESSAGE_COLUMNS: &str =
    "id, client_id, ticket_id, seq, creado, autor_id, autor_nombre, autor_tipo, \
     autor_avatar, contenido, tipo, estado, reply_to, metadata, interno, eliminado, rev, editado_en";

/// [`MESSAGE_COLUMNS`] of the table named `alias` in a join.
pub fn message_columns_of(alias: &str) -> String {
    MESSAGE_COLUMNS
        .split(',')
        .map(|column| format!("{alias}.{}", column.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn message<R: SqlRow>(row: &R) -> Result<Message, R::Error> {
    message_at(row, 0)
}

/// The message whose [`MESSAGE_COLUMNS`] start at column `at`.
pub fn message_at<R: SqlRow>(row: &R, at: usize) -> Result<Message, R::Error> {
    let metadata: Option<JsonObject> = row.col(at + 13)?;
    let deleted: bool = row.col(at + 15)?;
    let rev = row.col::<i64>(at + 16)? as u64;
    Ok(Message {
        id: row.col(at)?,
        client_id: row.col(at + 1)?,
        ticket: row.col(at + 2)?,
        seq: row.col(at + 3)?,
        timestamp: row.at(at + 4)?,
        author: Person {
            id: row.col(at + 5)?,
            name: row.col(at + 6)?,
            kind: row.col::<Stored<AuthorKind>>(at + 7)?.0,
            avatar: row.col(at + 8)?,
        },
        content: row.col(at + 9)?,
        kind: row.col::<Stored<MessageKind>>(at + 10)?.0,
        state: row.col::<Stored<MessageState>>(at + 11)?.0,
        attachments: Vec::new(),
        reply_to: row.col(at + 12)?,
        // Deleted after an edit, it reads as deleted only.
        edited: rev > 0 && !deleted,
        deleted,
        edited_at: row.at_opt(at + 17)?,
        rev,
        metadata: metadata.unwrap_or_default().0,
        internal: row.col(at + 14)?,
    })
}

pub const TICKET_COLUMNS: &str = "t.id, t.asunto, t.estado, t.creado, t.actualizado, t.last_seq, \
     c.id, c.nombre, c.avatar, a.id, a.nombre, a.rol, a.avatar, t.external_id, t.metadata, \
     t.publico_actualizado, t.publico_seq, t.resuelto_at, t.csat_puntuacion, t.csat_comentario, \
     t.csat_creado, t.rev";

/// The activity a viewer's ticket lists are ordered by: customers do not
/// see when internal notes were written (see `Ticket::seen_by_customer`).
pub fn activity_column(sees_internal: bool) -> &'static str {
    if sees_internal {
        "t.actualizado"
    } else {
        "t.publico_actualizado"
    }
}

/// Tickets after a page's last one in the order of `activity_column`;
/// `at` and `id` are the placeholders of its activity time and id (a page
/// from the start passes the largest of both).
pub fn after_page(sees_internal: bool, at: &str, id: &str) -> String {
    let activity = activity_column(sees_internal);
    format!("({activity} < {at} OR ({activity} = {at} AND t.id < {id}))")
}

pub const TICKET_FROM: &str =
    "tickets t JOIN users c ON c.id = t.cliente_id LEFT JOIN users a ON a.id = t.agente_id";

pub fn ticket<R: SqlRow>(row: &R) -> Result<Ticket, R::Error> {
    let agent = match row.col::<Option<i64>>(9)? {
        None => None,
        Some(id) => Some(Person {
            id: Some(id),
            name: row.col(10)?,
            kind: AuthorKind::from(row.col::<Stored<Role>>(11)?.0),
            avatar: row.col(12)?,
        }),
    };
    Ok(Ticket {
        id: row.col(0)?,
        subject: row.col(1)?,
        state: row.col::<Stored<TicketState>>(2)?.0,
        created: row.at(3)?,
        updated: row.at(4)?,
        last_seq: row.col(5)?,
        customer: Person {
            id: row.col(6)?,
            name: row.col(7)?,
            kind: AuthorKind::Customer,
            avatar: row.col(8)?,
        },
        agent,
        external_id: row.col(13)?,
        metadata: row.col::<Option<JsonObject>>(14)?.map(|json| json.0),
        public_activity: Some((row.at(15)?, row.col(16)?)),
        resolved_at: row.at_opt(17)?,
        csat: rating(row, 18)?,
        rev: row.col::<i64>(21)? as u64,
    })
}

/// The rating in the three columns from `first` (score, comment, when).
fn rating<R: SqlRow>(row: &R, first: usize) -> Result<Option<Rating>, R::Error> {
    let Some(score) = row.col::<Option<i16>>(first)? else {
        return Ok(None);
    };
    Ok(Some(Rating {
        // The column's CHECK keeps it within 1..=5.
        score: score.clamp(1, 5) as u8,
        comment: row.col(first + 1)?,
        created: row.at_opt(first + 2)?.unwrap_or(Timestamp::from_millis(0)),
    }))
}

pub const USER_COLUMNS: &str = "id, nombre, rol, avatar, email";

pub fn user<R: SqlRow>(row: &R) -> Result<User, R::Error> {
    Ok(User {
        id: row.col(0)?,
        name: row.col(1)?,
        role: row.col::<Stored<Role>>(2)?.0,
        avatar: row.col(3)?,
        email: row.col(4)?,
    })
}

pub const USER_VIEW_COLUMNS: &str = "id, nombre, rol, avatar, email, activo";

pub fn user_view<R: SqlRow>(row: &R) -> Result<soporte_protocol::rest::UserView, R::Error> {
    Ok(soporte_protocol::rest::UserView {
        id: row.col(0)?,
        name: row.col(1)?,
        role: row.col::<Stored<Role>>(2)?.0,
        avatar: row.col(3)?,
        email: row.col(4)?,
        active: row.col(5)?,
    })
}

/// Every active agent with their open tickets (`online` is presence's to
/// fill); agents the host marked inactive are left out.
pub const AGENT_VIEW_SELECT: &str = "SELECT u.id, u.nombre, u.avatar, u.disponibilidad,
        (SELECT COUNT(*) FROM tickets t WHERE t.agente_id = u.id AND t.estado IN ('ABIERTO', 'EN_ESPERA'))
     FROM users u WHERE u.rol = 'AGENTE' AND u.activo = TRUE";

pub fn agent_view<R: SqlRow>(row: &R) -> Result<AgentView, R::Error> {
    Ok(AgentView {
        id: row.col(0)?,
        name: row.col(1)?,
        avatar: row.col(2)?,
        availability: row.col::<Stored<Availability>>(3)?.0,
        online: false,
        open_tickets: row.col(4)?,
    })
}

pub const CANNED_COLUMNS: &str = "id, atajo, texto, creado_por, creado, actualizado";

pub fn canned<R: SqlRow>(row: &R) -> Result<CannedResponse, R::Error> {
    Ok(CannedResponse {
        id: row.col(0)?,
        shortcut: row.col(1)?,
        text: row.col(2)?,
        created_by: row.col(3)?,
        created: row.at(4)?,
        updated: row.at(5)?,
    })
}

pub const ATTACHMENT_COLUMNS: &str =
    "id, mensaje_id, nombre, tamano, tipo_mime, ticket_id, storage_key, sha256, thumbnail_key";

/// Where attachment `id` is downloaded from.
pub fn attachment_url(base: &str, id: i64) -> String {
    format!("{base}/api/soporte/archivos/{id}/")
}

/// Where the thumbnail of attachment `id` is downloaded from.
pub fn thumbnail_url(base: &str, id: i64) -> String {
    format!("{base}/api/soporte/archivos/{id}/miniatura/")
}

/// An attachment and the message it belongs to.
pub fn attachment<R: SqlRow>(row: &R, base: &str) -> Result<(MessageId, AttachmentFile), R::Error> {
    let id: i64 = row.col(0)?;
    let size: i64 = row.col(3)?;
    let thumbnail_key: Option<String> = row.col(8)?;
    Ok((
        row.col(1)?,
        AttachmentFile {
            attachment: Attachment {
                id,
                name: row.col(2)?,
                size: size as u64,
                mime_type: row.col(4)?,
                url: attachment_url(base, id),
                thumbnail_url: thumbnail_key.as_ref().map(|_| thumbnail_url(base, id)),
            },
            ticket: row.col(5)?,
            key: row.col(6)?,
            thumbnail_key,
            sha256: row.col(7)?,
        },
    ))
}

/// Puts each file of `files` (message id, file) in its message's `archivos`.
pub fn attach(
    messages: &mut [Message],
    files: impl IntoIterator<Item = (MessageId, AttachmentFile)>,
) {
    for (message, file) in files {
        if let Some(m) = messages.iter_mut().find(|m| m.id == message) {
            m.attachments.push(file.attachment);
        }
    }
}

pub const GRANT_COLUMNS: &str =
    "id, credential_hash, user_id, ticket_id, nombre, tamano, extension, expires_at, used_at, creado";

pub fn grant<R: SqlRow>(row: &R) -> Result<GrantState, R::Error> {
    let size: i64 = row.col(5)?;
    Ok(GrantState {
        grant: UploadGrant {
            upload_id: row.col(0)?,
            credential_hash: row.col(1)?,
            user: row.col(2)?,
            ticket: row.col(3)?,
            name: row.col(4)?,
            size: size as u64,
            extension: row.col(6)?,
            expires_at: row.at(7)?,
            created_at: row.at(9)?,
        },
        used: row.col::<Option<i64>>(8)?.is_some(),
    })
}

/// Upload usage from its nine sums, in the order the stores select them:
/// the user's files (bytes, count) and open grants (bytes, count), the
/// ticket's the same, and the bytes granted to the user in the window.
pub fn upload_usage(v: [i64; 9]) -> UploadUsage {
    let n = |i: usize| v[i].max(0) as u64;
    UploadUsage {
        user: Held {
            bytes: n(0) + n(2),
            files: n(1) + n(3),
        },
        ticket: Held {
            bytes: n(4) + n(6),
            files: n(5) + n(7),
        },
        user_last_hour: n(8),
    }
}

/// A conversation's messages as its stats see them.
pub const MESSAGE_FACTS_COLUMNS: &str = "autor_tipo, creado, tipo, interno";

pub fn message_facts<R: SqlRow>(row: &R) -> Result<MessageFacts, R::Error> {
    Ok(MessageFacts {
        author: row.col::<Stored<AuthorKind>>(0)?.0,
        at: row.at(1)?,
        kind: row.col::<Stored<MessageKind>>(2)?.0,
        internal: row.col(3)?,
    })
}

/// A claimed email, in the columns both stores return.
pub const OWED_EMAIL_COLUMNS: &str = "id, ticket_id, usuario_id, para, desde_seq, intentos, tipo";

pub fn owed_email<R: SqlRow>(row: &R) -> Result<crate::store::email::OwedEmail, R::Error> {
    Ok(crate::store::email::OwedEmail {
        id: row.col(0)?,
        ticket: row.col(1)?,
        user: row.col(2)?,
        to: row.col(3)?,
        from_seq: row.col(4)?,
        attempts: row.col::<i32>(5)?.max(0) as u32,
        kind: row.col(6)?,
    })
}

/// An email attempt's outcome as its row: the state, when to try again (a
/// retry's lease is its next attempt), the error.
pub fn email_outcome(
    outcome: &crate::store::email::EmailOutcome,
) -> (&'static str, Option<Timestamp>, Option<&str>) {
    use crate::store::email::EmailOutcome::*;
    match outcome {
        Sent => ("enviado", None, None),
        Cancelled => ("cancelado", None, None),
        Retry { at, error } => ("pendiente", Some(*at), Some(error)),
        Failed { error } => ("fallido", None, Some(error)),
    }
}

/// When the answered tickets created since `?1` were created and first
/// answered, read along `tickets_by_creation`.
pub const FIRST_REPLIES_SQL: &str = "SELECT creado, primera_respuesta_at FROM tickets
     WHERE creado >= ?1 AND primera_respuesta_at IS NOT NULL";

/// When the last email of a kind (`?3`) about ticket `?1` to user `?2` was queued.
pub const LAST_EMAIL_SQL: &str = "SELECT MAX(creado) FROM email_outbox
     WHERE ticket_id = ?1 AND usuario_id = ?2 AND tipo = ?3";

/// How many queued tickets (open, nobody's) are ahead of ticket `?1`:
/// created before it, or at the same moment with a smaller id.
pub const TICKETS_AHEAD_SQL: &str = "SELECT COUNT(*) FROM tickets q JOIN tickets t ON t.id = ?1
     WHERE q.estado = 'ABIERTO' AND q.agente_id IS NULL
       AND (q.creado < t.creado OR (q.creado = t.creado AND q.id < t.id))";

pub fn first_reply<R: SqlRow>(row: &R) -> Result<(Timestamp, Timestamp), R::Error> {
    Ok((row.at(0)?, row.at(1)?))
}

/// Tickets as the team's stats see them; `WHERE` on `t.creado` follows.
pub const TICKET_FACTS_SELECT: &str =
    "SELECT t.creado, t.asignado_at, t.primera_respuesta_at, t.resuelto_at, t.agente_id, a.nombre, a.avatar,
            t.csat_puntuacion
     FROM tickets t LEFT JOIN users a ON a.id = t.agente_id";

pub fn ticket_facts<R: SqlRow>(row: &R) -> Result<TicketFacts, R::Error> {
    let agent = match row.col::<Option<i64>>(4)? {
        None => None,
        Some(id) => Some(Person {
            id: Some(id),
            name: row.col(5)?,
            kind: AuthorKind::Agent,
            avatar: row.col(6)?,
        }),
    };
    Ok(TicketFacts {
        created: row.at(0)?,
        assigned: row.at_opt(1)?,
        first_response: row.at_opt(2)?,
        resolved: row.at_opt(3)?,
        agent,
        csat: row
            .col::<Option<i16>>(7)?
            .map(|score| score.clamp(1, 5) as u8),
    })
}

pub fn state_count<R: SqlRow>(row: &R) -> Result<(TicketState, i64), R::Error> {
    Ok((row.col::<Stored<TicketState>>(0)?.0, row.col(1)?))
}

/// The SQL that sets `resuelto_at` for a move of state, `at` being the
/// placeholder of the moment.
pub fn resolved_at(resolved: ResolvedAt, at: &str) -> String {
    match resolved {
        ResolvedAt::Set => at.to_string(),
        ResolvedAt::SetIfUnset => format!("COALESCE(resuelto_at, {at})"),
        ResolvedAt::Clear => "NULL".to_string(),
    }
}

/// `'A', 'B'` for an `IN (…)` of author kinds (our constants, never input).
pub fn author_kinds(authors: &[AuthorKind]) -> String {
    let quoted: Vec<String> = authors
        .iter()
        .map(|k| format!("'{}'", k.as_str()))
        .collect();
    quoted.join(", ")
}

pub const API_KEY_COLUMNS: &str = "id, name, prefix, created, revoked_at, last_used, key_hash";

pub fn api_key<R: SqlRow>(row: &R) -> Result<StoredApiKey, R::Error> {
    Ok(StoredApiKey {
        key: ApiKey {
            id: row.col(0)?,
            name: row.col(1)?,
            prefix: row.col(2)?,
            created: row.at(3)?,
            revoked_at: row.at_opt(4)?,
            last_used: row.at_opt(5)?,
        },
        hash: row.col(6)?,
    })
}

pub const WEBHOOK_COLUMNS: &str = "id, url, eventos, incluir_internos, descripcion, creado, \
     fallos_seguidos, pausado_hasta";

pub fn webhook<R: SqlRow>(row: &R) -> Result<WebhookView, R::Error> {
    Ok(WebhookView {
        id: row.col(0)?,
        url: row.col(1)?,
        events: row.col::<StoredEvents>(2)?.0.names(),
        include_internal: row.col(3)?,
        description: row.col(4)?,
        created: row.at(5)?,
        failures: row.col::<i64>(6)?.clamp(0, u32::MAX as i64) as u32,
        paused_until: row.at_opt(7)?,
        secret: None,
    })
}

pub const SUBSCRIPTION_COLUMNS: &str = "id, eventos, incluir_internos";

pub fn subscription<R: SqlRow>(row: &R) -> Result<Subscription, R::Error> {
    Ok(Subscription {
        id: row.col(0)?,
        events: row.col::<StoredEvents>(1)?.0,
        include_internal: row.col(2)?,
    })
}

/// Of `customer`'s tickets (its placeholder): how many are open, and how
/// many were opened since `since` (its placeholder).
pub fn customer_ticket_counts(customer: &str, since: &str) -> String {
    format!(
        "SELECT COALESCE(SUM(CASE WHEN estado IN ('ABIERTO', 'EN_ESPERA') THEN 1 ELSE 0 END), 0), \
                COALESCE(SUM(CASE WHEN creado >= {since} THEN 1 ELSE 0 END), 0) \
         FROM tickets WHERE cliente_id = {customer}"
    )
}

/// Of a delivery `d` joined with its webhook `w`; then (see [`candidate`])
/// the pending delivery before it in its queue, if any.
pub const CANDIDATE_COLUMNS: &str = "d.id, d.webhook_id, w.url, w.secreto, d.evento_id, d.cuerpo, \
     d.intentos, d.creado, d.ticket_id, d.mensaje_id";
/// The pending delivery before `d` in its queue (same endpoint and ticket):
/// the last column of a candidate where claims can skip rows another
/// worker is claiming (PostgreSQL's SKIP LOCKED).
pub const PREVIOUS_IN_QUEUE: &str = "(SELECT MAX(e.id) FROM webhook_deliveries e \
     WHERE e.webhook_id = d.webhook_id AND e.ticket_id = d.ticket_id \
     AND e.estado = 'pendiente' AND e.id < d.id)";

pub fn candidate<R: SqlRow>(row: &R) -> Result<Candidate, R::Error> {
    Ok(Candidate {
        delivery: DueDelivery {
            id: row.col(0)?,
            webhook: row.col(1)?,
            url: row.col(2)?,
            secret: row.col(3)?,
            event_id: row.col(4)?,
            body: row.col::<Option<String>>(5)?.unwrap_or_default(),
            attempts: row.col::<i64>(6)?.clamp(0, u32::MAX as i64) as u32,
            created: row.at(7)?,
            ticket: row.col(8)?,
        },
        message: row.col(9)?,
        previous: row.col(10)?,
    })
}

pub const DELIVERY_COLUMNS: &str = "id, evento_id, tipo, ticket_id, estado, intentos, \
     proximo_intento, terminado, creado, estado_http, latencia_ms";

/// A delivery without its failed attempts (see [`fill_history`]), and its
/// delivering attempt, which is kept on its row.
pub fn delivery<R: SqlRow>(row: &R) -> Result<(DeliveryView, Option<AttemptView>), R::Error> {
    let state = row.col::<Stored<DeliveryState>>(4)?.0;
    let next_attempt = row.at(6)?;
    let finished = row.at_opt(7)?;
    let delivered_at = finished.filter(|_| state == DeliveryState::Delivered);
    let status: Option<i64> = row.col(9)?;
    let latency: Option<i64> = row.col(10)?;
    let delivering = delivered_at.map(|at| AttemptView {
        at,
        status: status.and_then(|s| u16::try_from(s).ok()),
        error: None,
        latency_ms: latency.unwrap_or(0).max(0) as u64,
    });
    let view = DeliveryView {
        id: row.col(0)?,
        event_id: row.col(1)?,
        tipo: row.col(2)?,
        ticket: row.col(3)?,
        state,
        attempts: row.col::<i64>(5)?.clamp(0, u32::MAX as i64) as u32,
        next_attempt: (state == DeliveryState::Pending).then_some(next_attempt),
        delivered_at,
        created: row.at(8)?,
        history: Vec::new(),
    };
    Ok((view, delivering))
}

pub const ATTEMPT_COLUMNS: &str = "delivery_id, en, estado_http, error, latencia_ms";

/// An attempt, with the id of its delivery.
pub fn attempt<R: SqlRow>(row: &R) -> Result<(i64, AttemptView), R::Error> {
    let status: Option<i64> = row.col(2)?;
    Ok((
        row.col(0)?,
        AttemptView {
            at: row.at(1)?,
            status: status.and_then(|s| u16::try_from(s).ok()),
            error: row.col(3)?,
            latency_ms: row.col::<i64>(4)?.max(0) as u64,
        },
    ))
}

/// Each delivery with its history: the failed attempts in the order read,
/// then the delivering one.
pub fn fill_history(
    deliveries: Vec<(DeliveryView, Option<AttemptView>)>,
    attempts: Vec<(i64, AttemptView)>,
) -> Vec<DeliveryView> {
    let mut failed: HashMap<i64, Vec<AttemptView>> = HashMap::new();
    for (delivery, attempt) in attempts {
        failed.entry(delivery).or_default().push(attempt);
    }
    deliveries
        .into_iter()
        .map(|(mut view, delivering)| {
            view.history = failed.remove(&view.id).unwrap_or_default();
            view.history.extend(delivering);
            view
        })
        .collect()
}

pub const ERASURE_COLUMNS: &str = "por, en, mensajes, archivos";

pub fn erasure<R: SqlRow>(row: &R) -> Result<soporte_protocol::rest::ErasureRecord, R::Error> {
    Ok(soporte_protocol::rest::ErasureRecord {
        by: row.col(0)?,
        at: row.at(1)?,
        messages: row.col::<i64>(2)?.max(0) as u64,
        files: row.col::<i64>(3)?.max(0) as u64,
    })
}

/// A row of `edits::VERSIONS_SQL`.
pub fn message_version<R: SqlRow>(
    row: &R,
) -> Result<soporte_protocol::rest::MessageVersion, R::Error> {
    let change: String = row.col(2)?;
    Ok(soporte_protocol::rest::MessageVersion {
        rev: row.col::<i64>(0)? as u64,
        content: row.col(1)?,
        // The column's CHECK holds one of the two.
        change: MessageChange::parse(&change).unwrap_or(MessageChange::Edited),
        at: row.at(3)?,
        by: Person {
            id: row.col(4)?,
            name: row.col(5)?,
            kind: AuthorKind::from(row.col::<Stored<Role>>(6)?.0),
            avatar: row.col(7)?,
        },
    })
}
