//! Rows to protocol values. Column lists live next to the code that reads
//! them by position, so the two cannot drift apart.

use rusqlite::Row;
use soporte_protocol::*;

pub const MESSAGE_COLUMNS: &str =
    "id, client_id, ticket_id, seq, creado, autor_id, autor_nombre, autor_tipo, \
     autor_avatar, contenido, tipo, estado, reply_to, metadata, interno";

pub fn message_from_row(row: &Row<'_>) -> rusqlite::Result<Message> {
    let author_kind: String = row.get(7)?;
    let kind: String = row.get(10)?;
    let state: String = row.get(11)?;
    let metadata: Option<String> = row.get(13)?;
    Ok(Message {
        id: row.get(0)?,
        client_id: row.get(1)?,
        ticket: row.get(2)?,
        seq: row.get(3)?,
        timestamp: Timestamp::from_millis(row.get(4)?),
        author: Person {
            id: row.get(5)?,
            name: row.get(6)?,
            kind: AuthorKind::parse(&author_kind).unwrap_or(AuthorKind::System),
            avatar: row.get(8)?,
        },
        content: row.get(9)?,
        kind: MessageKind::parse(&kind).unwrap_or(MessageKind::Text),
        state: if state == "LEIDO" {
            MessageState::Read
        } else {
            MessageState::Delivered
        },
        attachments: Vec::new(),
        reply_to: row.get(12)?,
        edited: false,
        deleted: false,
        metadata: metadata
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default(),
        internal: row.get(14)?,
    })
}

pub const TICKET_COLUMNS: &str = "t.id, t.asunto, t.estado, t.creado, t.actualizado, t.last_seq, \
     c.id, c.nombre, c.avatar, a.id, a.nombre, a.rol, a.avatar";

pub const TICKET_FROM: &str =
    "tickets t JOIN users c ON c.id = t.cliente_id LEFT JOIN users a ON a.id = t.agente_id";

pub fn ticket_from_row(row: &Row<'_>) -> rusqlite::Result<Ticket> {
    let state: String = row.get(2)?;
    let agent_id: Option<i64> = row.get(9)?;
    let agent = match agent_id {
        None => None,
        Some(id) => {
            let role: String = row.get(11)?;
            Some(Person {
                id: Some(id),
                name: row.get(10)?,
                kind: AuthorKind::parse(&role).unwrap_or(AuthorKind::Agent),
                avatar: row.get(12)?,
            })
        }
    };
    Ok(Ticket {
        id: row.get(0)?,
        subject: row.get(1)?,
        state: TicketState::parse(&state).unwrap_or(TicketState::Open),
        created: Timestamp::from_millis(row.get(3)?),
        updated: Timestamp::from_millis(row.get(4)?),
        last_seq: row.get(5)?,
        customer: Person {
            id: row.get(6)?,
            name: row.get(7)?,
            kind: AuthorKind::Customer,
            avatar: row.get(8)?,
        },
        agent,
    })
}
