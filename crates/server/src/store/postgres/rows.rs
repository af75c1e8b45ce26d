//! Rows to protocol values. Column lists live next to the code that reads
//! them by position, so the two cannot drift apart.

use soporte_protocol::*;
use tokio_postgres::{Error, Row};

pub const MESSAGE_COLUMNS: &str =
    "id, client_id, ticket_id, seq, creado, autor_id, autor_nombre, autor_tipo, \
     autor_avatar, contenido, tipo, estado, reply_to, metadata, interno";

/// [`MESSAGE_COLUMNS`] of the table named `alias` in a join.
pub fn message_columns_of(alias: &str) -> String {
    MESSAGE_COLUMNS
        .split(',')
        .map(|column| format!("{alias}.{}", column.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn message_from_row(row: &Row) -> Result<Message, Error> {
    message_at(row, 0)
}

/// The message whose [`MESSAGE_COLUMNS`] start at column `at`.
pub fn message_at(row: &Row, at: usize) -> Result<Message, Error> {
    let author_kind: String = row.try_get(at + 7)?;
    let kind: String = row.try_get(at + 10)?;
    let state: String = row.try_get(at + 11)?;
    let metadata: Option<String> = row.try_get(at + 13)?;
    Ok(Message {
        id: row.try_get(at)?,
        client_id: row.try_get(at + 1)?,
        ticket: row.try_get(at + 2)?,
        seq: row.try_get(at + 3)?,
        timestamp: Timestamp::from_millis(row.try_get(at + 4)?),
        author: Person {
            id: row.try_get(at + 5)?,
            name: row.try_get(at + 6)?,
            kind: AuthorKind::parse(&author_kind).unwrap_or(AuthorKind::System),
            avatar: row.try_get(at + 8)?,
        },
        content: row.try_get(at + 9)?,
        kind: MessageKind::parse(&kind).unwrap_or(MessageKind::Text),
        state: if state == "LEIDO" {
            MessageState::Read
        } else {
            MessageState::Delivered
        },
        attachments: Vec::new(),
        reply_to: row.try_get(at + 12)?,
        edited: false,
        deleted: false,
        metadata: metadata
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default(),
        internal: row.try_get(at + 14)?,
    })
}

pub fn messages_from_rows(rows: &[Row]) -> Result<Vec<Message>, Error> {
    rows.iter().map(message_from_row).collect()
}

pub const TICKET_COLUMNS: &str = "t.id, t.asunto, t.estado, t.creado, t.actualizado, t.last_seq, \
     c.id, c.nombre, c.avatar, a.id, a.nombre, a.rol, a.avatar";

pub const TICKET_FROM: &str =
    "tickets t JOIN users c ON c.id = t.cliente_id LEFT JOIN users a ON a.id = t.agente_id";

pub fn ticket_from_row(row: &Row) -> Result<Ticket, Error> {
    let state: String = row.try_get(2)?;
    let agent_id: Option<i64> = row.try_get(9)?;
    let agent = match agent_id {
        None => None,
        Some(id) => {
            let role: String = row.try_get(11)?;
            Some(Person {
                id: Some(id),
                name: row.try_get(10)?,
                kind: AuthorKind::parse(&role).unwrap_or(AuthorKind::Agent),
                avatar: row.try_get(12)?,
            })
        }
    };
    Ok(Ticket {
        id: row.try_get(0)?,
        subject: row.try_get(1)?,
        state: TicketState::parse(&state).unwrap_or(TicketState::Open),
        created: Timestamp::from_millis(row.try_get(3)?),
        updated: Timestamp::from_millis(row.try_get(4)?),
        last_seq: row.try_get(5)?,
        customer: Person {
            id: row.try_get(6)?,
            name: row.try_get(7)?,
            kind: AuthorKind::Customer,
            avatar: row.try_get(8)?,
        },
        agent,
    })
}
