//! Writes: each runs inside the writer's batch transaction (see writer.rs),
//! so every check here is made against the ticket as it is in the
//! transaction that changes it: two agents cannot both take a ticket, a
//! message cannot land on a ticket closed a moment before.

use super::reads;
use super::rows::*;
use super::writer::{unavailable, Batch};
use crate::store::*;
use rusqlite::{params, Connection, OptionalExtension};
use soporte_protocol::rest::{CannedResponse, CannedResponseInput};
use soporte_protocol::server::TicketChange;
use soporte_protocol::*;

type R<T> = StoreResult<T>;

pub fn upsert_user(conn: &Connection, user: &UserRecord) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO users (id, nombre, rol, avatar) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET nombre = excluded.nombre, rol = excluded.rol, avatar = excluded.avatar
         WHERE nombre IS NOT excluded.nombre OR rol IS NOT excluded.rol OR avatar IS NOT excluded.avatar",
    )?
    .execute(params![user.id, user.name, user.role.as_str(), user.avatar])?;
    Ok(())
}

fn now() -> i64 {
    Timestamp::now().millis()
}

fn ticket_or_missing(conn: &Connection, id: TicketId) -> R<Ticket> {
    reads::load_ticket(conn, id)
        .map_err(unavailable)?
        .ok_or(StoreError::NotFound)
}

/// A message the server writes itself (state changes, assignments, transfers).
struct Record {
    kind: MessageKind,
    text: String,
    metadata: serde_json::Map<String, serde_json::Value>,
    change: TicketChange,
    previous_agent: Option<Person>,
    internal: bool,
}

/// Appends one message to the ticket in the open batch: the ticket's next
/// `seq`, the row, and its place in the batch's commit notifications.
#[allow(clippy::too_many_arguments)]
fn insert_message(
    batch: &mut Batch<'_>,
    ticket: TicketId,
    author: Person,
    client_id: Option<String>,
    content: String,
    kind: MessageKind,
    metadata: serde_json::Map<String, serde_json::Value>,
    internal: bool,
    origin: Option<OriginTag>,
    change: Option<(TicketChange, Option<Person>)>,
) -> R<Message> {
    let conn = batch.conn;
    let at = Timestamp::now();
    let (seq, agent): (i64, Option<i64>) = conn
        .prepare_cached(
            "UPDATE tickets SET last_seq = last_seq + 1, actualizado = ?2 WHERE id = ?1 RETURNING last_seq, agente_id",
        )
        .and_then(|mut stmt| stmt.query_row(params![ticket, at.millis()], |row| Ok((row.get(0)?, row.get(1)?))).optional())
        .map_err(unavailable)?
        .ok_or(StoreError::NotFound)?;
    let stored_metadata = (!metadata.is_empty())
        .then(|| serde_json::to_string(&metadata).expect("a JSON map serializes"));
    conn.prepare_cached(
        "INSERT INTO messages (ticket_id, seq, client_id, autor_id, autor_nombre, autor_tipo, autor_avatar,
                               contenido, tipo, metadata, interno, creado)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            ticket,
            seq,
            client_id,
            author.id,
            author.name,
            author.kind.as_str(),
            author.avatar,
            content,
            kind.as_str(),
            stored_metadata,
            internal,
            at.millis(),
        ])
    })
    .map_err(unavailable)?;
    let message = Message {
        id: conn.last_insert_rowid(),
        client_id,
        ticket,
        seq,
        timestamp: at,
        author,
        content,
        kind,
        state: MessageState::Delivered,
        attachments: Vec::new(),
        reply_to: None,
        edited: false,
        deleted: false,
        metadata,
        internal,
    };
    let ticket_change = match change {
        None => None,
        Some((change, previous_agent)) => Some(TicketChangeRecord {
            change,
            ticket: ticket_or_missing(conn, ticket)?,
            previous_agent,
        }),
    };
    batch.committed.push(Committed {
        message: message.clone(),
        origin,
        ticket_agent: agent,
        ticket_change,
    });
    Ok(message)
}

fn record(batch: &mut Batch<'_>, ticket: TicketId, record: Record) -> R<Message> {
    insert_message(
        batch,
        ticket,
        Person::system(),
        None,
        record.text,
        record.kind,
        record.metadata,
        record.internal,
        None,
        Some((record.change, record.previous_agent)),
    )
}

fn metadata(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// Moves the ticket to `to` and records it.
fn set_state(batch: &mut Batch<'_>, ticket: &Ticket, to: TicketState, text: String) -> R<()> {
    let at = now();
    batch
        .conn
        .prepare_cached(
            "UPDATE tickets SET estado = ?2, actualizado = ?3,
                 resuelto_at = CASE WHEN ?2 = 'RESUELTO' OR (?2 = 'CERRADO' AND resuelto_at IS NULL) THEN ?3
                                    WHEN ?2 IN ('ABIERTO', 'EN_ESPERA') THEN NULL ELSE resuelto_at END
             WHERE id = ?1",
        )
        .and_then(|mut stmt| stmt.execute(params![ticket.id, to.as_str(), at]))
        .map_err(unavailable)?;
    let data = serde_json::json!({"evento": "estado", "anterior": ticket.state, "nuevo": to});
    record(
        batch,
        ticket.id,
        Record {
            kind: MessageKind::System,
            text,
            metadata: metadata(data),
            change: TicketChange::State,
            previous_agent: None,
            internal: false,
        },
    )?;
    Ok(())
}

/// Assigns the ticket to `agent`. Taking a ticket from the queue is not a
/// message of the conversation (the customer sees the agent join); callers
/// announce it to inboxes.
fn assign(conn: &Connection, ticket: &Ticket, agent: &Person) -> R<()> {
    conn.prepare_cached("UPDATE tickets SET agente_id = ?2, actualizado = ?3, asignado_at = COALESCE(asignado_at, ?3) WHERE id = ?1")
        .and_then(|mut stmt| stmt.execute(params![ticket.id, agent.id, now()]))
        .map_err(unavailable)?;
    Ok(())
}

/// A known agent (someone whose token said AGENTE).
fn agent(conn: &Connection, id: UserId) -> R<Person> {
    match reads::user(conn, id).map_err(unavailable)? {
        Some((person, Role::Agent)) => Ok(person),
        _ => Err(StoreError::Invalid(format!(
            "No hay ningún agente con id {id}."
        ))),
    }
}

pub fn create_ticket(batch: &mut Batch<'_>, new: NewTicket) -> R<Ticket> {
    let conn = batch.conn;
    let at = now();
    // The customer named by staff must be a customer: an id we know as
    // someone else is refused rather than silently turned into a customer.
    if let Some((_, role)) = reads::user(conn, new.customer.id).map_err(unavailable)? {
        if role != Role::Customer {
            return Err(StoreError::Invalid(format!(
                "El usuario {} no es un cliente.",
                new.customer.id
            )));
        }
    }
    upsert_user(conn, &new.customer).map_err(unavailable)?;
    conn.execute(
        "INSERT INTO tickets (asunto, cliente_id, creado, actualizado) VALUES (?1, ?2, ?3, ?3)",
        params![new.subject, new.customer.id, at],
    )
    .map_err(unavailable)?;
    let ticket = ticket_or_missing(conn, conn.last_insert_rowid())?;
    // Automatic assignment: the candidate with the fewest open tickets, under
    // the limit; ties go to the lowest id, so the choice is reproducible.
    let mut best: Option<(i64, UserId)> = None;
    for &candidate in &new.auto_assign {
        let open = reads::open_tickets_of(conn, candidate).map_err(unavailable)?;
        if open < new.max_open && best.is_none_or(|(o, id)| (open, candidate) < (o, id)) {
            best = Some((open, candidate));
        }
    }
    if let Some((_, chosen)) = best {
        assign(conn, &ticket, &agent(conn, chosen)?)?;
    }
    ticket_or_missing(batch.conn, ticket.id)
}

pub fn claim_ticket(batch: &mut Batch<'_>, id: TicketId, who: UserRecord) -> R<Claim> {
    upsert_user(batch.conn, &who).map_err(unavailable)?;
    let ticket = ticket_or_missing(batch.conn, id)?;
    match ticket.agent.as_ref().and_then(|a| a.id) {
        Some(holder) if holder == who.id => Ok(Claim::Assigned(ticket)),
        Some(_) => Ok(Claim::HeldBy(ticket)),
        // A closed ticket is not taken from the queue by looking at it.
        None if ticket.state == TicketState::Closed => Ok(Claim::Closed(ticket)),
        None => {
            assign(batch.conn, &ticket, &who.person())?;
            Ok(Claim::Assigned(ticket_or_missing(batch.conn, id)?))
        }
    }
}

pub fn change_ticket(
    batch: &mut Batch<'_>,
    id: TicketId,
    actor: UserRecord,
    command: TicketCommand,
) -> R<Ticket> {
    upsert_user(batch.conn, &actor).map_err(unavailable)?;
    let ticket = ticket_or_missing(batch.conn, id)?;
    let holder = ticket.agent.as_ref().and_then(|a| a.id);
    let name = actor.name.clone();
    match command {
        TicketCommand::Assign { agent: target } => {
            if ticket.state == TicketState::Closed {
                return Err(StoreError::Conflict("El ticket está cerrado.".into()));
            }
            match actor.role {
                Role::Customer => {
                    return Err(StoreError::Forbidden(
                        "Solo el equipo de soporte asigna tickets.".into(),
                    ))
                }
                Role::Agent if target != actor.id => {
                    return Err(StoreError::Forbidden(
                        "Un agente solo puede asignarse tickets a sí mismo.".into(),
                    ))
                }
                _ => {}
            }
            // One way to move an assigned ticket: a transfer, which records
            // why and takes the ticket from the previous agent's screens.
            if holder.is_some() {
                return Err(StoreError::Conflict(
                    "El ticket ya está asignado; transfiérelo para cambiar de agente.".into(),
                ));
            }
            assign(batch.conn, &ticket, &agent(batch.conn, target)?)?;
        }
        TicketCommand::Transfer {
            agent: target,
            reason,
        } => {
            if actor.role != Role::Supervisor && holder != Some(actor.id) {
                return Err(StoreError::Forbidden(
                    "Solo el agente asignado o un supervisor pueden transferir el ticket.".into(),
                ));
            }
            if ticket.state == TicketState::Closed {
                return Err(StoreError::Conflict("El ticket está cerrado.".into()));
            }
            if holder == Some(target) {
                return Err(StoreError::Conflict(
                    "El ticket ya está asignado a ese agente.".into(),
                ));
            }
            let person = agent(batch.conn, target)?;
            let previous = ticket
                .agent
                .as_ref()
                .map(|a| a.name.clone())
                .unwrap_or_else(|| "la cola".into());
            let mut text = format!("Chat transferido de {previous} a {}.", person.name);
            if !reason.trim().is_empty() {
                text.push_str(&format!(" Motivo: {}", reason.trim()));
            }
            let data = serde_json::json!({
                "evento": "transferencia",
                "agente_anterior": ticket.agent,
                "nuevo_agente": person,
                "motivo": reason.trim(),
                "por": actor.person(),
            });
            assign(batch.conn, &ticket, &person)?;
            let record_of = Record {
                kind: MessageKind::Transfer,
                text,
                metadata: metadata(data),
                change: TicketChange::Transferred,
                previous_agent: ticket.agent.clone(),
                internal: false,
            };
            record(batch, ticket.id, record_of)?;
        }
        TicketCommand::SetState { state } => {
            if !ticket.state.may_become(state, actor.role) {
                return Err(StoreError::Conflict(format!(
                    "No se puede pasar de {} a {}.",
                    ticket.state.as_str(),
                    state.as_str()
                )));
            }
            if actor.role == Role::Agent && holder != Some(actor.id) {
                return Err(StoreError::Forbidden(
                    "Solo el agente asignado o un supervisor cambian el estado.".into(),
                ));
            }
            let text = match state {
                TicketState::Open => format!("{name} reabrió el ticket."),
                TicketState::Waiting => {
                    format!("{name} dejó el ticket en espera de respuesta del cliente.")
                }
                TicketState::Resolved => format!("{name} marcó el ticket como resuelto."),
                TicketState::Closed => format!("{name} cerró el ticket."),
            };
            set_state(batch, &ticket, state, text)?;
        }
    }
    ticket_or_missing(batch.conn, id)
}

/// Stores one message: the earlier copy when this author already sent this
/// `client_id`; refused on a closed ticket; a customer writing on a ticket
/// that waits for them or was resolved opens it again first.
pub fn append(batch: &mut Batch<'_>, new: NewMessage) -> R<Appended> {
    let conn = batch.conn;
    if let (Some(client_id), Some(author)) = (&new.client_id, new.author.id) {
        let existing = conn
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = ?1 AND autor_id = ?2 AND client_id = ?3"
            ))
            .and_then(|mut stmt| stmt.query_row(params![new.ticket, author, client_id], message_from_row).optional())
            .map_err(unavailable)?;
        if let Some(message) = existing {
            return Ok(Appended {
                message,
                duplicate: true,
            });
        }
    }
    // Only the state is needed on this hot path; the whole ticket only when
    // it has to be reopened.
    let state: String = conn
        .prepare_cached("SELECT estado FROM tickets WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([new.ticket], |row| row.get(0)).optional())
        .map_err(unavailable)?
        .ok_or(StoreError::NotFound)?;
    let state = TicketState::parse(&state).unwrap_or(TicketState::Open);
    if state == TicketState::Closed {
        return Err(StoreError::TicketClosed);
    }
    if new.author.kind == AuthorKind::Customer
        && matches!(state, TicketState::Resolved | TicketState::Waiting)
    {
        let ticket = ticket_or_missing(conn, new.ticket)?;
        let text = "El cliente respondió: el ticket vuelve a estar abierto.".to_string();
        set_state(batch, &ticket, TicketState::Open, text)?;
    }
    let staff_answer =
        matches!(new.author.kind, AuthorKind::Agent | AuthorKind::Supervisor) && !new.internal;
    if staff_answer {
        batch
            .conn
            .prepare_cached("UPDATE tickets SET primera_respuesta_at = ?2 WHERE id = ?1 AND primera_respuesta_at IS NULL")
            .and_then(|mut stmt| stmt.execute(params![new.ticket, now()]))
            .map_err(unavailable)?;
    }
    let message = insert_message(
        batch,
        new.ticket,
        new.author,
        new.client_id,
        new.content,
        new.kind,
        new.metadata,
        new.internal,
        new.origin,
        None,
    )?;
    Ok(Appended {
        message,
        duplicate: false,
    })
}

pub fn mark_read(
    batch: &mut Batch<'_>,
    ticket: TicketId,
    reader: Viewer,
    reader_role: Role,
    ids: Vec<MessageId>,
) -> R<MarkRead> {
    let conn = batch.conn;
    // All or nothing: first make sure every id is a message of this ticket
    // the reader may see; a request naming anything else changes nothing.
    let visible = if reader.sees_internal {
        ""
    } else {
        " AND interno = 0"
    };
    let mut find = conn
        .prepare_cached(&format!(
            "SELECT seq FROM messages WHERE id = ?1 AND ticket_id = ?2{visible}"
        ))
        .map_err(unavailable)?;
    let mut highest_seq = 0;
    let mut outcome = MarkRead::default();
    for &id in &ids {
        let seq: Option<i64> = find
            .query_row(params![id, ticket], |row| row.get(0))
            .optional()
            .map_err(unavailable)?;
        match seq {
            Some(seq) => highest_seq = highest_seq.max(seq),
            None => outcome.unknown.push(id),
        }
    }
    if !outcome.unknown.is_empty() || ids.is_empty() {
        return Ok(outcome);
    }
    // Receipts go across the conversation: staff's reading marks the
    // customer's messages, the customer's reading marks staff's.
    let other_side = if reader_role == Role::Customer {
        "autor_tipo IN ('AGENTE', 'SUPERVISOR')"
    } else {
        "autor_tipo = 'CLIENTE'"
    };
    let mut mark = conn
        .prepare_cached(&format!(
            "UPDATE messages SET estado = 'LEIDO', leido_at = ?3
             WHERE id = ?1 AND ticket_id = ?2 AND estado = 'ENTREGADO' AND {other_side}"
        ))
        .map_err(unavailable)?;
    let at = now();
    for id in ids {
        if mark.execute(params![id, ticket, at]).map_err(unavailable)? > 0 {
            outcome.marked.push(id);
        }
    }
    conn.prepare_cached(
        "INSERT INTO ticket_reads (ticket_id, user_id, last_read_seq) VALUES (?1, ?2, ?3)
         ON CONFLICT (ticket_id, user_id) DO UPDATE
         SET last_read_seq = max(last_read_seq, excluded.last_read_seq)",
    )
    .and_then(|mut stmt| stmt.execute(params![ticket, reader.id, highest_seq]))
    .map_err(unavailable)?;
    Ok(outcome)
}

pub fn set_availability(conn: &Connection, user: UserId, availability: Availability) -> R<()> {
    let changed = conn
        .prepare_cached("UPDATE users SET disponibilidad = ?2 WHERE id = ?1")
        .and_then(|mut stmt| stmt.execute(params![user, availability.as_str()]))
        .map_err(unavailable)?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub fn save_canned_response(
    conn: &Connection,
    id: Option<i64>,
    input: CannedResponseInput,
    by: UserId,
) -> R<CannedResponse> {
    let at = now();
    let taken: Option<i64> = conn
        .prepare_cached("SELECT id FROM respuestas WHERE atajo = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([&input.shortcut], |row| row.get(0))
                .optional()
        })
        .map_err(unavailable)?;
    if taken.is_some() && taken != id {
        return Err(StoreError::Conflict(format!(
            "Ya existe una respuesta con el atajo {:?}.",
            input.shortcut
        )));
    }
    let id = match id {
        Some(id) => {
            let changed = conn
                .execute(
                    "UPDATE respuestas SET atajo = ?2, texto = ?3, actualizado = ?4 WHERE id = ?1",
                    params![id, input.shortcut, input.text, at],
                )
                .map_err(unavailable)?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            id
        }
        None => {
            conn.execute(
                "INSERT INTO respuestas (atajo, texto, creado_por, creado, actualizado) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![input.shortcut, input.text, by, at],
            )
            .map_err(unavailable)?;
            conn.last_insert_rowid()
        }
    };
    reads::canned_response(conn, id)
        .map_err(unavailable)?
        .ok_or(StoreError::NotFound)
}

pub fn delete_canned_response(conn: &Connection, id: i64) -> R<bool> {
    conn.execute("DELETE FROM respuestas WHERE id = ?1", [id])
        .map(|n| n > 0)
        .map_err(unavailable)
}

pub fn create_upload_grant(conn: &Connection, grant: UploadGrant) -> R<()> {
    conn.prepare_cached(
        "INSERT INTO upload_grants (id, credential_hash, user_id, ticket_id, nombre, tamano, extension, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            grant.upload_id,
            grant.credential_hash,
            grant.user,
            grant.ticket,
            grant.name,
            grant.size as i64,
            grant.extension,
            grant.expires_at.millis(),
        ])
    })
    .map(|_| ())
    .map_err(unavailable)
}

/// How long after sending a message its author may still attach a file to it.
const ATTACH_WINDOW_MS: i64 = 10 * 60 * 1000;

pub fn complete_upload(batch: &mut Batch<'_>, upload: CompleteUpload, base: &str) -> R<Uploaded> {
    let conn = batch.conn;
    let state = reads::upload_grant(conn, &upload.upload_id)
        .map_err(unavailable)?
        .ok_or(StoreError::NotFound)?;
    let grant = state.grant;
    // Single use, within its time, by its owner: checked again here, in the
    // transaction that uses it, so two uploads racing on one grant cannot
    // both win.
    if state.used {
        return Err(StoreError::Conflict(
            "Esta autorización de subida ya se usó.".into(),
        ));
    }
    if grant.credential_hash != upload.credential_hash || upload.uploader != grant.user {
        return Err(StoreError::Forbidden(
            "La autorización de subida no es válida para este usuario.".into(),
        ));
    }
    if grant.expires_at.millis() < now() {
        return Err(StoreError::Conflict(
            "La autorización de subida ha caducado.".into(),
        ));
    }
    let (uploader, _) = reads::user(conn, grant.user)
        .map_err(unavailable)?
        .ok_or(StoreError::NotFound)?;
    conn.prepare_cached("UPDATE upload_grants SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL")
        .and_then(|mut stmt| stmt.execute(params![grant.upload_id, now()]))
        .map_err(unavailable)?;
    let mut message = match upload.attach_to {
        Some(id) => {
            let message = conn
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1 AND ticket_id = ?2"
                ))
                .and_then(|mut stmt| {
                    stmt.query_row(params![id, grant.ticket], message_from_row)
                        .optional()
                })
                .map_err(unavailable)?
                .ok_or_else(|| {
                    StoreError::Invalid("mensaje_id no es un mensaje de este ticket.".into())
                })?;
            if message.author.id != Some(grant.user)
                || message.internal
                || now() - message.timestamp.millis() > ATTACH_WINDOW_MS
            {
                return Err(StoreError::Invalid(
                    "Solo se puede adjuntar a un mensaje propio enviado hace menos de 10 minutos."
                        .into(),
                ));
            }
            message
        }
        None => {
            let state: String = conn
                .prepare_cached("SELECT estado FROM tickets WHERE id = ?1")
                .and_then(|mut stmt| stmt.query_row([grant.ticket], |row| row.get(0)))
                .map_err(unavailable)?;
            if state == TicketState::Closed.as_str() {
                return Err(StoreError::TicketClosed);
            }
            insert_message(
                batch,
                grant.ticket,
                uploader,
                None,
                grant.name.clone(),
                MessageKind::File,
                serde_json::Map::new(),
                false,
                None,
                None,
            )?
        }
    };
    batch
        .conn
        .prepare_cached(
            "INSERT INTO attachments (ticket_id, mensaje_id, storage_key, nombre, tamano, tipo_mime, sha256, thumbnail_key, creado)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                grant.ticket,
                message.id,
                upload.file.key,
                grant.name,
                upload.file.size as i64,
                upload.file.mime,
                upload.file.sha256,
                upload.file.thumbnail_key,
                now(),
            ])
        })
        .map_err(unavailable)?;
    let id = batch.conn.last_insert_rowid();
    let attachment = Attachment {
        id,
        name: grant.name,
        size: upload.file.size,
        mime_type: upload.file.mime,
        url: reads::attachment_url(base, id),
        thumbnail_url: upload
            .file
            .thumbnail_key
            .as_ref()
            .map(|_| reads::thumbnail_url(base, id)),
    };
    message.attachments.push(attachment.clone());
    Ok(Uploaded {
        attachment,
        message,
    })
}
