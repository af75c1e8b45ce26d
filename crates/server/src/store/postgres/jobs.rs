//! Writes: each runs inside the writer's batch transaction (in a savepoint),
//! after the batch has locked the rows of the tickets it touches, so every
//! check here is made against the ticket as it is in the transaction that
//! changes it, whichever node wrote last: two agents cannot both take a
//! ticket, a message cannot land on a ticket closed a moment before, a retry
//! cannot be stored twice. Texts and outcomes are the SQLite store's.

use super::reads::{self, execute, query_one, query_opt};
use super::rows::*;
use super::writer::{Batch, Done, JobError, Op};
use crate::store::*;
use deadpool_postgres::GenericClient;
use soporte_protocol::rest::{CannedResponse, CannedResponseInput};
use soporte_protocol::server::TicketChange;
use soporte_protocol::*;
use std::collections::HashSet;
use tokio_postgres::error::SqlState;

type R<T> = Result<T, JobError>;

/// The advisory lock key automatic assignment takes, so two nodes do not
/// both count an agent's open tickets and give them one too many.
const AUTO_ASSIGN_LOCK: i64 = 0x0073_6f70_6f72_7461;

/// How long after sending a message its author may still attach a file to it.
const ATTACH_WINDOW_MS: i64 = 10 * 60 * 1000;

pub async fn run(batch: &mut Batch<'_>, op: &Op) -> R<Done> {
    Ok(match op {
        Op::UpsertUser(user) => {
            upsert_user(batch.tx, user).await?;
            Done::Unit
        }
        Op::TouchLastSeen(user, at) => {
            execute(
                batch.tx,
                "UPDATE users SET last_seen = $2 WHERE id = $1",
                &[user, &at.millis()],
            )
            .await?;
            Done::Unit
        }
        Op::SetAvailability(user, availability) => {
            set_availability(batch.tx, *user, *availability).await?;
            Done::Unit
        }
        Op::CreateTicket(new) => Done::Ticket(create_ticket(batch, new).await?),
        Op::ClaimTicket(id, who) => Done::Claim(claim_ticket(batch, *id, who).await?),
        Op::ChangeTicket(id, actor, command) => {
            Done::Ticket(change_ticket(batch, *id, actor, command).await?)
        }
        Op::Append(message) => Done::Appended(append(batch, message).await?),
        Op::MarkRead {
            ticket,
            reader,
            reader_role,
            ids,
        } => Done::MarkRead(mark_read(batch, *ticket, *reader, *reader_role, ids).await?),
        Op::CreateUploadGrant(grant) => {
            create_upload_grant(batch.tx, grant).await?;
            Done::Unit
        }
        Op::CompleteUpload(upload, base) => {
            Done::Uploaded(complete_upload(batch, upload, base).await?)
        }
        Op::PurgeUploadGrants(before) => {
            let purged = execute(
                batch.tx,
                "DELETE FROM upload_grants WHERE expires_at < $1",
                &[&before.millis()],
            )
            .await?;
            Done::Count(purged as usize)
        }
        Op::SaveCannedResponse(id, input, by) => {
            Done::Canned(save_canned_response(batch.tx, *id, input, *by).await?)
        }
        Op::DeleteCannedResponse(id) => {
            let deleted = execute(batch.tx, "DELETE FROM respuestas WHERE id = $1", &[id]).await?;
            Done::Deleted(deleted > 0)
        }
    })
}

fn now() -> i64 {
    Timestamp::now().millis()
}

/// Remembers the user as described. Most calls describe them as they are
/// already stored: those only read, and take no row lock another node's
/// batch could queue behind.
pub async fn upsert_user<C: GenericClient>(c: &C, user: &UserRecord) -> R<()> {
    let stored = query_opt(
        c,
        "SELECT nombre, rol, avatar FROM users WHERE id = $1",
        &[&user.id],
    )
    .await?;
    if let Some(row) = stored {
        let (name, role, avatar): (String, String, Option<String>) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if name == user.name && role == user.role.as_str() && avatar == user.avatar {
            return Ok(());
        }
    }
    execute(
        c,
        "INSERT INTO users (id, nombre, rol, avatar) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET nombre = excluded.nombre, rol = excluded.rol, avatar = excluded.avatar
         WHERE users.nombre IS DISTINCT FROM excluded.nombre OR users.rol IS DISTINCT FROM excluded.rol
            OR users.avatar IS DISTINCT FROM excluded.avatar",
        &[&user.id, &user.name, &user.role.as_str(), &user.avatar],
    )
    .await?;
    Ok(())
}

async fn ticket_or_missing<C: GenericClient>(c: &C, id: TicketId) -> R<Ticket> {
    reads::load_ticket(c, id)
        .await?
        .ok_or(JobError::Store(StoreError::NotFound))
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

/// A message to insert, with where it came from.
struct Insert {
    ticket: TicketId,
    author: Person,
    client_id: Option<String>,
    content: String,
    kind: MessageKind,
    metadata: serde_json::Map<String, serde_json::Value>,
    internal: bool,
    origin: Option<OriginTag>,
    change: Option<(TicketChange, Option<Person>)>,
    /// Staff's first answer the customer sees: the ticket records when.
    first_answer: bool,
}

/// Appends one message to the ticket in the open batch: the ticket's next
/// `seq` (under the ticket row's lock) and the row, in one statement, and
/// its place in the batch's commit notifications.
async fn insert_message(batch: &mut Batch<'_>, new: Insert) -> R<Message> {
    let tx = batch.tx;
    let at = Timestamp::now();
    let stored_metadata = (!new.metadata.is_empty())
        .then(|| serde_json::to_string(&new.metadata).expect("a JSON map serializes"));
    let row = query_opt(
        tx,
        "WITH t AS (
             UPDATE tickets SET last_seq = last_seq + 1, actualizado = $11,
                 primera_respuesta_at = CASE WHEN $12 AND primera_respuesta_at IS NULL THEN $11
                                             ELSE primera_respuesta_at END
             WHERE id = $1 RETURNING last_seq, agente_id
         )
         INSERT INTO messages (ticket_id, seq, client_id, autor_id, autor_nombre, autor_tipo, autor_avatar,
                               contenido, tipo, metadata, interno, creado)
         SELECT $1::bigint, t.last_seq, $2::text, $3::bigint, $4::text, $5::text, $6::text,
                $7::text, $8::text, $9::text, $10::boolean, $11::bigint FROM t
         RETURNING id, seq, (SELECT agente_id FROM t)",
        &[
            &new.ticket,
            &new.client_id,
            &new.author.id,
            &new.author.name,
            &new.author.kind.as_str(),
            &new.author.avatar,
            &new.content,
            &new.kind.as_str(),
            &stored_metadata,
            &new.internal,
            &at.millis(),
            &new.first_answer,
        ],
    )
    .await?
    .ok_or(JobError::Store(StoreError::NotFound))?;
    let (id, seq, agent): (i64, i64, Option<i64>) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let message = Message {
        id,
        client_id: new.client_id,
        ticket: new.ticket,
        seq,
        timestamp: at,
        author: new.author,
        content: new.content,
        kind: new.kind,
        state: MessageState::Delivered,
        attachments: Vec::new(),
        reply_to: None,
        edited: false,
        deleted: false,
        metadata: new.metadata,
        internal: new.internal,
    };
    let ticket_change = match new.change {
        None => None,
        Some((change, previous_agent)) => Some(TicketChangeRecord {
            change,
            ticket: ticket_or_missing(tx, new.ticket).await?,
            previous_agent,
        }),
    };
    batch.committed.push(Committed {
        message: message.clone(),
        origin: new.origin,
        ticket_agent: agent,
        ticket_change,
    });
    Ok(message)
}

async fn record(batch: &mut Batch<'_>, ticket: TicketId, record: Record) -> R<Message> {
    insert_message(
        batch,
        Insert {
            ticket,
            author: Person::system(),
            client_id: None,
            content: record.text,
            kind: record.kind,
            metadata: record.metadata,
            internal: record.internal,
            origin: None,
            change: Some((record.change, record.previous_agent)),
            first_answer: false,
        },
    )
    .await
}

fn metadata(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// Moves the ticket to `to` and records it.
async fn set_state(batch: &mut Batch<'_>, ticket: &Ticket, to: TicketState, text: String) -> R<()> {
    execute(
        batch.tx,
        "UPDATE tickets SET estado = $2::text, actualizado = $3,
             resuelto_at = CASE WHEN $2::text = 'RESUELTO' OR ($2::text = 'CERRADO' AND resuelto_at IS NULL) THEN $3
                                WHEN $2::text IN ('ABIERTO', 'EN_ESPERA') THEN NULL ELSE resuelto_at END
         WHERE id = $1",
        &[&ticket.id, &to.as_str(), &now()],
    )
    .await?;
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
    )
    .await?;
    Ok(())
}

/// Assigns the ticket to `agent`. Taking a ticket from the queue is not a
/// message of the conversation (the customer sees the agent join); callers
/// announce it to inboxes.
async fn assign<C: GenericClient>(c: &C, ticket: &Ticket, agent: &Person) -> R<()> {
    execute(
        c,
        "UPDATE tickets SET agente_id = $2, actualizado = $3, asignado_at = COALESCE(asignado_at, $3) WHERE id = $1",
        &[&ticket.id, &agent.id, &now()],
    )
    .await?;
    Ok(())
}

/// A known agent (someone whose token said AGENTE).
async fn agent<C: GenericClient>(c: &C, id: UserId) -> R<Person> {
    match reads::user(c, id).await? {
        Some((person, Role::Agent)) => Ok(person),
        _ => Err(StoreError::Invalid(format!("No hay ningún agente con id {id}.")).into()),
    }
}

async fn create_ticket(batch: &mut Batch<'_>, new: &NewTicket) -> R<Ticket> {
    let tx = batch.tx;
    let at = now();
    // The customer named by staff must be a customer: an id we know as
    // someone else is refused rather than silently turned into a customer.
    if let Some((_, role)) = reads::user(tx, new.customer.id).await? {
        if role != Role::Customer {
            return Err(StoreError::Invalid(format!(
                "El usuario {} no es un cliente.",
                new.customer.id
            ))
            .into());
        }
    }
    upsert_user(tx, &new.customer).await?;
    let id: i64 = query_one(
        tx,
        "INSERT INTO tickets (asunto, cliente_id, creado, actualizado) VALUES ($1, $2, $3, $3) RETURNING id",
        &[&new.subject, &new.customer.id, &at],
    )
    .await?
    .try_get(0)?;
    let ticket = ticket_or_missing(tx, id).await?;
    if !new.auto_assign.is_empty() {
        // One node at a time counts and assigns (held until commit).
        execute(tx, "SELECT pg_advisory_xact_lock($1)", &[&AUTO_ASSIGN_LOCK]).await?;
    }
    // Automatic assignment: the candidate with the fewest open tickets, under
    // the limit; ties go to the lowest id, so the choice is reproducible.
    let mut best: Option<(i64, UserId)> = None;
    for &candidate in &new.auto_assign {
        let open = reads::open_tickets_of(tx, candidate).await?;
        if open < new.max_open && best.is_none_or(|(o, id)| (open, candidate) < (o, id)) {
            best = Some((open, candidate));
        }
    }
    if let Some((_, chosen)) = best {
        let person = agent(tx, chosen).await?;
        assign(tx, &ticket, &person).await?;
    }
    ticket_or_missing(tx, id).await
}

async fn claim_ticket(batch: &mut Batch<'_>, id: TicketId, who: &UserRecord) -> R<Claim> {
    let tx = batch.tx;
    upsert_user(tx, who).await?;
    let ticket = ticket_or_missing(tx, id).await?;
    match ticket.agent.as_ref().and_then(|a| a.id) {
        Some(holder) if holder == who.id => Ok(Claim::Assigned(ticket)),
        Some(_) => Ok(Claim::HeldBy(ticket)),
        // A closed ticket is not taken from the queue by looking at it.
        None if ticket.state == TicketState::Closed => Ok(Claim::Closed(ticket)),
        None => {
            assign(tx, &ticket, &who.person()).await?;
            Ok(Claim::Assigned(ticket_or_missing(tx, id).await?))
        }
    }
}

async fn change_ticket(
    batch: &mut Batch<'_>,
    id: TicketId,
    actor: &UserRecord,
    command: &TicketCommand,
) -> R<Ticket> {
    let tx = batch.tx;
    upsert_user(tx, actor).await?;
    let ticket = ticket_or_missing(tx, id).await?;
    let holder = ticket.agent.as_ref().and_then(|a| a.id);
    let name = actor.name.clone();
    match command {
        TicketCommand::Assign { agent: target } => {
            let target = *target;
            if ticket.state == TicketState::Closed {
                return Err(StoreError::Conflict("El ticket está cerrado.".into()).into());
            }
            match actor.role {
                Role::Customer => {
                    return Err(StoreError::Forbidden(
                        "Solo el equipo de soporte asigna tickets.".into(),
                    )
                    .into())
                }
                Role::Agent if target != actor.id => {
                    return Err(StoreError::Forbidden(
                        "Un agente solo puede asignarse tickets a sí mismo.".into(),
                    )
                    .into())
                }
                _ => {}
            }
            // One way to move an assigned ticket: a transfer, which records
            // why and takes the ticket from the previous agent's screens.
            if holder.is_some() {
                return Err(StoreError::Conflict(
                    "El ticket ya está asignado; transfiérelo para cambiar de agente.".into(),
                )
                .into());
            }
            let person = agent(tx, target).await?;
            assign(tx, &ticket, &person).await?;
        }
        TicketCommand::Transfer {
            agent: target,
            reason,
        } => {
            let target = *target;
            if actor.role != Role::Supervisor && holder != Some(actor.id) {
                return Err(StoreError::Forbidden(
                    "Solo el agente asignado o un supervisor pueden transferir el ticket.".into(),
                )
                .into());
            }
            if ticket.state == TicketState::Closed {
                return Err(StoreError::Conflict("El ticket está cerrado.".into()).into());
            }
            if holder == Some(target) {
                return Err(StoreError::Conflict(
                    "El ticket ya está asignado a ese agente.".into(),
                )
                .into());
            }
            let person = agent(tx, target).await?;
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
            assign(tx, &ticket, &person).await?;
            let record_of = Record {
                kind: MessageKind::Transfer,
                text,
                metadata: metadata(data),
                change: TicketChange::Transferred,
                previous_agent: ticket.agent.clone(),
                internal: false,
            };
            record(batch, ticket.id, record_of).await?;
        }
        TicketCommand::SetState { state } => {
            let state = *state;
            if !ticket.state.may_become(state, actor.role) {
                return Err(StoreError::Conflict(format!(
                    "No se puede pasar de {} a {}.",
                    ticket.state.as_str(),
                    state.as_str()
                ))
                .into());
            }
            if actor.role == Role::Agent && holder != Some(actor.id) {
                return Err(StoreError::Forbidden(
                    "Solo el agente asignado o un supervisor cambian el estado.".into(),
                )
                .into());
            }
            let text = match state {
                TicketState::Open => format!("{name} reabrió el ticket."),
                TicketState::Waiting => {
                    format!("{name} dejó el ticket en espera de respuesta del cliente.")
                }
                TicketState::Resolved => format!("{name} marcó el ticket como resuelto."),
                TicketState::Closed => format!("{name} cerró el ticket."),
            };
            set_state(batch, &ticket, state, text).await?;
        }
    }
    ticket_or_missing(batch.tx, id).await
}

/// Stores one message: the earlier copy when this author already sent this
/// `client_id`; refused on a closed ticket; a customer writing on a ticket
/// that waits for them or was resolved opens it again first. The batch
/// holds the ticket's row lock: an earlier copy committed by another node is
/// seen here, so a retry cannot take a second `seq`.
async fn append(batch: &mut Batch<'_>, new: &NewMessage) -> R<Appended> {
    let tx = batch.tx;
    // The earlier copy and the ticket's state, in one round trip. Only the
    // state is needed on this hot path; the whole ticket only when it has to
    // be reopened.
    let row = match (&new.client_id, new.author.id) {
        (Some(client_id), Some(author)) => {
            let sql = format!(
                "SELECT t.estado, {} FROM tickets t
                 LEFT JOIN messages m ON m.ticket_id = t.id AND m.autor_id = $2 AND m.client_id = $3
                 WHERE t.id = $1",
                message_columns_of("m")
            );
            query_opt(tx, &sql, &[&new.ticket, &author, client_id]).await?
        }
        _ => {
            query_opt(
                tx,
                "SELECT estado FROM tickets WHERE id = $1",
                &[&new.ticket],
            )
            .await?
        }
    };
    let row = row.ok_or(JobError::Store(StoreError::NotFound))?;
    if row.len() > 1 && row.try_get::<_, Option<i64>>(1)?.is_some() {
        return Ok(Appended {
            message: message_at(&row, 1)?,
            duplicate: true,
        });
    }
    let state: String = row.try_get(0)?;
    let state = TicketState::parse(&state).unwrap_or(TicketState::Open);
    if state == TicketState::Closed {
        return Err(StoreError::TicketClosed.into());
    }
    if new.author.kind == AuthorKind::Customer
        && matches!(state, TicketState::Resolved | TicketState::Waiting)
    {
        let ticket = ticket_or_missing(tx, new.ticket).await?;
        let text = "El cliente respondió: el ticket vuelve a estar abierto.".to_string();
        set_state(batch, &ticket, TicketState::Open, text).await?;
    }
    let staff_answer =
        matches!(new.author.kind, AuthorKind::Agent | AuthorKind::Supervisor) && !new.internal;
    let message = insert_message(
        batch,
        Insert {
            ticket: new.ticket,
            author: new.author.clone(),
            client_id: new.client_id.clone(),
            content: new.content.clone(),
            kind: new.kind,
            metadata: new.metadata.clone(),
            internal: new.internal,
            origin: new.origin,
            change: None,
            first_answer: staff_answer,
        },
    )
    .await?;
    Ok(Appended {
        message,
        duplicate: false,
    })
}

async fn mark_read(
    batch: &mut Batch<'_>,
    ticket: TicketId,
    reader: Viewer,
    reader_role: Role,
    ids: &[MessageId],
) -> R<MarkRead> {
    let tx = batch.tx;
    // All or nothing: first make sure every id is a message of this ticket
    // the reader may see; a request naming anything else changes nothing.
    let visible = if reader.sees_internal {
        ""
    } else {
        " AND NOT interno"
    };
    let ids_list: Vec<i64> = ids.to_vec();
    let sql =
        format!("SELECT id, seq FROM messages WHERE id = ANY($1) AND ticket_id = $2{visible}");
    let mut highest_seq = 0;
    let mut found = HashSet::new();
    for row in reads::query(tx, &sql, &[&ids_list, &ticket]).await? {
        let (id, seq): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        found.insert(id);
        highest_seq = highest_seq.max(seq);
    }
    let mut outcome = MarkRead {
        marked: Vec::new(),
        unknown: ids
            .iter()
            .copied()
            .filter(|id| !found.contains(id))
            .collect(),
    };
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
    let sql = format!(
        "UPDATE messages SET estado = 'LEIDO', leido_at = $3
         WHERE id = ANY($1) AND ticket_id = $2 AND estado = 'ENTREGADO' AND {other_side}
         RETURNING id"
    );
    let mut marked = HashSet::new();
    for row in reads::query(tx, &sql, &[&ids_list, &ticket, &now()]).await? {
        marked.insert(row.try_get::<_, i64>(0)?);
    }
    // In the order asked, each once.
    for &id in ids {
        if marked.remove(&id) {
            outcome.marked.push(id);
        }
    }
    execute(
        tx,
        "INSERT INTO ticket_reads (ticket_id, user_id, last_read_seq) VALUES ($1, $2, $3)
         ON CONFLICT (ticket_id, user_id) DO UPDATE
         SET last_read_seq = GREATEST(ticket_reads.last_read_seq, excluded.last_read_seq)",
        &[&ticket, &reader.id, &highest_seq],
    )
    .await?;
    Ok(outcome)
}

async fn set_availability<C: GenericClient>(
    c: &C,
    user: UserId,
    availability: Availability,
) -> R<()> {
    let changed = execute(
        c,
        "UPDATE users SET disponibilidad = $2 WHERE id = $1",
        &[&user, &availability.as_str()],
    )
    .await?;
    if changed == 0 {
        return Err(StoreError::NotFound.into());
    }
    Ok(())
}

fn shortcut_taken(shortcut: &str) -> JobError {
    StoreError::Conflict(format!(
        "Ya existe una respuesta con el atajo {shortcut:?}."
    ))
    .into()
}

async fn save_canned_response<C: GenericClient>(
    c: &C,
    id: Option<i64>,
    input: &CannedResponseInput,
    by: UserId,
) -> R<CannedResponse> {
    let at = now();
    let taken: Option<i64> = match query_opt(
        c,
        "SELECT id FROM respuestas WHERE atajo = $1",
        &[&input.shortcut],
    )
    .await?
    {
        Some(row) => Some(row.try_get(0)?),
        None => None,
    };
    if taken.is_some() && taken != id {
        return Err(shortcut_taken(&input.shortcut));
    }
    // Another node may take the shortcut between the check and the write:
    // the unique index refuses it, with the same answer.
    let unique = |error: tokio_postgres::Error| -> JobError {
        if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            shortcut_taken(&input.shortcut)
        } else {
            error.into()
        }
    };
    let id = match id {
        Some(id) => {
            let changed = execute(
                c,
                "UPDATE respuestas SET atajo = $2, texto = $3, actualizado = $4 WHERE id = $1",
                &[&id, &input.shortcut, &input.text, &at],
            )
            .await
            .map_err(unique)?;
            if changed == 0 {
                return Err(StoreError::NotFound.into());
            }
            id
        }
        None => query_one(
            c,
            "INSERT INTO respuestas (atajo, texto, creado_por, creado, actualizado) VALUES ($1, $2, $3, $4, $4) RETURNING id",
            &[&input.shortcut, &input.text, &by, &at],
        )
        .await
        .map_err(unique)?
        .try_get(0)?,
    };
    reads::canned_response(c, id)
        .await?
        .ok_or(JobError::Store(StoreError::NotFound))
}

async fn create_upload_grant<C: GenericClient>(c: &C, grant: &UploadGrant) -> R<()> {
    execute(
        c,
        "INSERT INTO upload_grants (id, credential_hash, user_id, ticket_id, nombre, tamano, extension, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &grant.upload_id,
            &grant.credential_hash,
            &grant.user,
            &grant.ticket,
            &grant.name,
            &(grant.size as i64),
            &grant.extension,
            &grant.expires_at.millis(),
        ],
    )
    .await?;
    Ok(())
}

async fn complete_upload(
    batch: &mut Batch<'_>,
    upload: &CompleteUpload,
    base: &str,
) -> R<Uploaded> {
    let tx = batch.tx;
    let state = reads::upload_grant(tx, &upload.upload_id)
        .await?
        .ok_or(JobError::Store(StoreError::NotFound))?;
    let grant = state.grant;
    let used = || -> JobError {
        StoreError::Conflict("Esta autorización de subida ya se usó.".into()).into()
    };
    // Single use, within its time, by its owner: checked again here, in the
    // transaction that uses it, so two uploads racing on one grant cannot
    // both win.
    if state.used {
        return Err(used());
    }
    if grant.credential_hash != upload.credential_hash || upload.uploader != grant.user {
        return Err(StoreError::Forbidden(
            "La autorización de subida no es válida para este usuario.".into(),
        )
        .into());
    }
    if grant.expires_at.millis() < now() {
        return Err(StoreError::Conflict("La autorización de subida ha caducado.".into()).into());
    }
    let (uploader, _) = reads::user(tx, grant.user)
        .await?
        .ok_or(JobError::Store(StoreError::NotFound))?;
    let taken = execute(
        tx,
        "UPDATE upload_grants SET used_at = $2 WHERE id = $1 AND used_at IS NULL",
        &[&grant.upload_id, &now()],
    )
    .await?;
    if taken == 0 {
        // Used by another node's upload since it was read.
        return Err(used());
    }
    let mut message = match upload.attach_to {
        Some(id) => {
            let sql =
                format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND ticket_id = $2");
            let row = query_opt(tx, &sql, &[&id, &grant.ticket])
                .await?
                .ok_or_else(|| {
                    JobError::Store(StoreError::Invalid(
                        "mensaje_id no es un mensaje de este ticket.".into(),
                    ))
                })?;
            let message = message_from_row(&row)?;
            if message.author.id != Some(grant.user)
                || message.internal
                || now() - message.timestamp.millis() > ATTACH_WINDOW_MS
            {
                return Err(StoreError::Invalid(
                    "Solo se puede adjuntar a un mensaje propio enviado hace menos de 10 minutos."
                        .into(),
                )
                .into());
            }
            message
        }
        None => {
            let state: String = query_one(
                tx,
                "SELECT estado FROM tickets WHERE id = $1",
                &[&grant.ticket],
            )
            .await?
            .try_get(0)?;
            if state == TicketState::Closed.as_str() {
                return Err(StoreError::TicketClosed.into());
            }
            insert_message(
                batch,
                Insert {
                    ticket: grant.ticket,
                    author: uploader,
                    client_id: None,
                    content: grant.name.clone(),
                    kind: MessageKind::File,
                    metadata: serde_json::Map::new(),
                    internal: false,
                    origin: None,
                    change: None,
                    first_answer: false,
                },
            )
            .await?
        }
    };
    let id: i64 = query_one(
        tx,
        "INSERT INTO attachments (ticket_id, mensaje_id, storage_key, nombre, tamano, tipo_mime, sha256, thumbnail_key, creado)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        &[
            &grant.ticket,
            &message.id,
            &upload.file.key,
            &grant.name,
            &(upload.file.size as i64),
            &upload.file.mime,
            &upload.file.sha256,
            &upload.file.thumbnail_key,
            &now(),
        ],
    )
    .await?
    .try_get(0)?;
    let attachment = Attachment {
        id,
        name: grant.name,
        size: upload.file.size,
        mime_type: upload.file.mime.clone(),
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
