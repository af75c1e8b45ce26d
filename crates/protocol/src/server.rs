//! Frames the server sends. Serialized as `{"tipo": "...", "data": {...}}`,
//! the shape the seed's `handleMessage` switches on.

use crate::error::ErrorCode;
use crate::model::*;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "tipo", content = "data")]
pub enum ServerFrame {
    #[serde(rename = "connection_established")]
    ConnectionEstablished(ConnectionEstablished),
    /// To the sending connection, once the message is committed.
    #[serde(rename = "mensaje_confirmado")]
    MessageConfirmed(MessageConfirmed),
    /// To every other connection of the ticket.
    #[serde(rename = "mensaje_recibido")]
    MessageReceived(Message),
    #[serde(rename = "usuario_escribiendo")]
    UserTyping(TypingEvent),
    #[serde(rename = "usuario_dejo_escribir")]
    UserStoppedTyping(TypingEvent),
    /// Read receipts: someone marked these messages read.
    #[serde(rename = "mensajes_leidos")]
    MessagesRead(MessagesRead),
    #[serde(rename = "agente_joined")]
    AgentJoined(PresenceEvent),
    #[serde(rename = "agente_left")]
    AgentLeft(PresenceEvent),
    /// To staff only: the ticket's customer opened their first connection.
    #[serde(rename = "cliente_joined")]
    CustomerJoined(PresenceEvent),
    /// To staff only: the customer's last connection closed.
    #[serde(rename = "cliente_left")]
    CustomerLeft(PresenceEvent),
    /// The ticket changed hands; the seed's hook reads this shape.
    #[serde(rename = "chat_transferred")]
    ChatTransferred(ChatTransferred),
    /// The ticket's state or assignment changed (to its room and to inboxes).
    #[serde(rename = "ticket_actualizado")]
    TicketUpdated(TicketUpdated),
    /// A message was edited or deleted (live, and in the catch-up of a
    /// client resuming with `rev`).
    #[serde(rename = "mensaje_actualizado")]
    MessageUpdated(MessageUpdated),
    /// Agents' inbox: what the agent works on, sent when the inbox opens.
    #[serde(rename = "inbox")]
    Inbox(InboxSnapshot),
    /// Agents' inbox: a new message on a ticket the agent may see (a preview).
    #[serde(rename = "inbox_mensaje")]
    InboxMessage(InboxMessage),
    /// Agents' inbox: someone is typing (or stopped) on a ticket the agent owns.
    #[serde(rename = "inbox_escribiendo")]
    InboxTyping(InboxTyping),
    /// Agents' inbox: an agent became available or away.
    #[serde(rename = "agente_disponibilidad")]
    AgentAvailability(AgentView),
    /// Permission to upload one file: POST it to `upload_url` with `headers`.
    #[serde(rename = "file_upload_authorized")]
    FileUploadAuthorized(FileUploadAuthorized),
    /// A file was attached to message `mensaje_id`.
    #[serde(rename = "file_uploaded")]
    FileUploaded(FileUploaded),
    #[serde(rename = "heartbeat")]
    Heartbeat(Heartbeat),
    #[serde(rename = "error")]
    Error(ErrorFrame),
}

/// Limits the client should respect, so it can check before sending.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct Limits {
    /// Maximum characters of a message text.
    #[serde(rename = "max_mensaje")]
    pub max_message: usize,
    /// How often the server expects a sign of life (a `heartbeat` frame or a pong), in ms.
    pub heartbeat_ms: u64,
    /// How long a typing state lasts without a new `typing_start`, in ms.
    pub typing_timeout_ms: u64,
    /// Messages per second this connection may send (0: unlimited).
    #[serde(rename = "mensajes_por_segundo")]
    pub messages_per_second: u32,
    /// How long after sending it an author may edit a message, in ms (0: no editing).
    #[serde(default, rename = "edicion_ms")]
    pub edit_window_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct ConnectionEstablished {
    #[serde(rename = "usuario")]
    pub user: Participant,
    pub ticket: Ticket,
    pub participants: Vec<Participant>,
    /// Without `since`: the last 50 messages. With `since`: the first messages
    /// after it (the rest follow at once as `mensaje_recibido`). Oldest first.
    #[serde(rename = "historial_reciente")]
    pub recent_history: Vec<Message>,
    /// The `since` the connection resumed from: `None` for a fresh start,
    /// and when the server refused the client's cursor (`resync`).
    pub since: Option<Seq>,
    /// The id of the history `seq` counts in. Clients resume with
    /// `since=SEQ&epoch=EPOCH` (and `since_id`, the id of the message at
    /// SEQ); a different epoch means another history.
    pub epoch: String,
    /// True when the client asked to resume but its cursor does not match
    /// this history (another epoch, a `since` beyond the ticket's last
    /// message, or another message at that `seq`: a restored database). The
    /// client must drop what it holds for the ticket and start again from
    /// `historial_reciente`.
    #[serde(default)]
    pub resync: bool,
    /// `seq` of the ticket's newest message when the connection opened.
    pub last_seq: Seq,
    /// The ticket's revision of edits and deletions when the connection
    /// opened. Clients resume with `rev=` this value.
    #[serde(default)]
    pub rev: u64,
    /// Resuming with `since` and `rev`: the messages at or below `since`
    /// edited or deleted after `rev`, as they now are, in revision order.
    #[serde(
        default,
        rename = "actualizados",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[ts(as = "Option<Vec<Message>>", optional)]
    pub updated: Vec<Message>,
    #[serde(rename = "limites")]
    pub limits: Limits,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct MessageConfirmed {
    pub client_id: String,
    #[serde(rename = "mensaje_id")]
    pub message_id: MessageId,
    pub timestamp: Timestamp,
    pub seq: Seq,
    /// True when this `client_id` had been stored before (a retry).
    #[serde(default)]
    #[serde(rename = "duplicado")]
    pub duplicate: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct TypingEvent {
    #[serde(rename = "usuario")]
    pub user: Person,
    pub timestamp: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct MessagesRead {
    #[serde(rename = "lector")]
    pub reader: Person,
    pub message_ids: Vec<MessageId>,
    pub timestamp: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct PresenceEvent {
    #[serde(rename = "usuario")]
    pub user: Participant,
    pub timestamp: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct ChatTransferred {
    pub ticket: TicketId,
    #[serde(rename = "agente_anterior")]
    pub previous_agent: Option<Participant>,
    #[serde(rename = "nuevo_agente")]
    pub new_agent: Participant,
    #[serde(rename = "motivo")]
    pub reason: String,
    /// The text of the `TRANSFERENCIA` message, ready to show.
    #[serde(rename = "mensaje_automatico")]
    pub automatic_message: String,
    pub timestamp: Timestamp,
    /// The stored `TRANSFERENCIA` message (with its `id` and `seq`).
    #[serde(rename = "mensaje")]
    pub message: Message,
}

/// Why a ticket changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub enum TicketChange {
    #[serde(rename = "nuevo")]
    Created,
    #[serde(rename = "asignado")]
    Assigned,
    #[serde(rename = "transferido")]
    Transferred,
    #[serde(rename = "estado")]
    State,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct TicketUpdated {
    #[serde(rename = "evento")]
    pub change: TicketChange,
    pub ticket: Ticket,
}

/// An agent as the team sees them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct AgentView {
    pub id: UserId,
    #[serde(rename = "nombre")]
    pub name: String,
    #[serde(default)]
    pub avatar: Option<String>,
    #[serde(rename = "disponibilidad")]
    pub availability: Availability,
    /// Has an inbox open now.
    pub online: bool,
    /// Tickets assigned and not resolved or closed.
    #[serde(rename = "tickets_abiertos")]
    pub open_tickets: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct InboxSnapshot {
    #[serde(rename = "usuario")]
    pub user: Person,
    /// The agent's tickets and the unassigned queue (a supervisor: every
    /// ticket), newest activity first, with unread counts and last message.
    /// Closed tickets are included: clients filter by `estado`.
    pub tickets: Vec<crate::rest::TicketView>,
    #[serde(rename = "agentes")]
    pub agents: Vec<AgentView>,
    /// When `tickets` is not all of them: the REST list page that follows
    /// (`GET /api/soporte/tickets/`, same scope, older activity).
    #[serde(default)]
    pub next: Option<String>,
}

/// A message preview for inboxes: enough to list, not the whole message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct InboxMessage {
    pub ticket: TicketId,
    #[serde(rename = "mensaje_id")]
    pub message_id: MessageId,
    pub seq: Seq,
    #[serde(rename = "autor")]
    pub author: Person,
    /// The first 140 characters.
    #[serde(rename = "contenido")]
    pub content: String,
    #[serde(rename = "tipo")]
    pub kind: MessageKind,
    #[serde(rename = "interno")]
    pub internal: bool,
    pub timestamp: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct InboxTyping {
    pub ticket: TicketId,
    #[serde(rename = "usuario")]
    pub user: Person,
    #[serde(rename = "escribiendo")]
    pub typing: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct FileUploadAuthorized {
    pub upload_id: String,
    /// Absolute URL to POST the file to (multipart form data, field `file`).
    pub upload_url: String,
    /// Only the single-use upload credential (never a `Content-Type`).
    pub headers: std::collections::BTreeMap<String, String>,
    pub expires_at: Timestamp,
    /// The most bytes the upload may have (the declared size).
    pub max_size: u64,
    /// The name the file will be shown with.
    #[serde(rename = "nombre")]
    pub name: String,
}

/// `file_uploaded`, in the shape the seed's hook appends to `archivos`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct FileUploaded {
    #[serde(rename = "mensaje_id")]
    pub message_id: MessageId,
    pub ticket: TicketId,
    /// The attachment's own fields (`id`, `nombre`, `tamaño`, `tipo_mime`,
    /// `url`, `thumbnail_url`), flat, as the seed appends them to `archivos`.
    #[serde(flatten)]
    pub file: Attachment,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct Heartbeat {
    pub timestamp: Timestamp,
}

/// `mensaje_actualizado`: the message as it now is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct MessageUpdated {
    #[serde(rename = "evento")]
    pub change: MessageChange,
    #[serde(rename = "mensaje")]
    pub message: Message,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct ErrorFrame {
    #[serde(rename = "codigo")]
    pub code: ErrorCode,
    #[serde(rename = "detalle")]
    pub detail: String,
    /// The `tipo` of the refused frame, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "tipo")]
    pub frame_type: Option<String>,
    /// The `client_id` of a refused `mensaje`, so the client can mark it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The message a refused `editar_mensaje` or `eliminar_mensaje` named.
    #[serde(
        default,
        rename = "mensaje_id",
        skip_serializing_if = "Option::is_none"
    )]
    #[ts(optional)]
    pub message_id: Option<MessageId>,
}

impl ServerFrame {
    /// The JSON text of this frame. Serializing these types cannot fail (no
    /// maps with non-string keys, no fallible `Serialize` impls).
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("server frames always serialize")
    }

    /// `mensaje_recibido` for `message`, without cloning it into a frame first
    /// (this runs once per committed message, on the hot path).
    pub fn encode_message_received(message: &Message) -> String {
        let mut text = String::with_capacity(384);
        text.push_str(r#"{"tipo":"mensaje_recibido","data":"#);
        // Writing into a String cannot fail and Message always serializes.
        let body = serde_json::to_string(message).expect("messages always serialize");
        text.push_str(&body);
        text.push('}');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_use_the_seed_envelope() {
        let frame = ServerFrame::MessageConfirmed(MessageConfirmed {
            client_id: "c1".into(),
            message_id: 7,
            timestamp: Timestamp(1_726_853_400_123),
            seq: 3,
            duplicate: false,
        });
        let json: serde_json::Value = serde_json::from_str(&frame.encode()).unwrap();
        assert_eq!(json["tipo"], "mensaje_confirmado");
        assert_eq!(json["data"]["mensaje_id"], 7);
        assert_eq!(json["data"]["timestamp"], "2024-09-20T17:30:00.123Z");
        let back: ServerFrame = serde_json::from_value(json).unwrap();
        assert_eq!(back, frame);
    }

    #[test]
    fn the_fast_message_encoding_matches_the_derived_one() {
        let m = Message {
            id: 1,
            client_id: None,
            ticket: 2,
            seq: 3,
            timestamp: Timestamp(5),
            author: Person::system(),
            content: "\"hola\"\n".into(),
            kind: MessageKind::System,
            state: MessageState::Delivered,
            attachments: vec![],
            reply_to: None,
            edited: false,
            deleted: false,
            edited_at: None,
            rev: 0,
            metadata: Default::default(),
            internal: false,
        };
        let fast: serde_json::Value =
            serde_json::from_str(&ServerFrame::encode_message_received(&m)).unwrap();
        let derived: serde_json::Value =
            serde_json::from_str(&ServerFrame::MessageReceived(m).encode()).unwrap();
        assert_eq!(fast, derived);
    }

    #[test]
    fn error_codes_are_snake_case() {
        let frame = ServerFrame::Error(ErrorFrame {
            code: ErrorCode::MessageTooLong,
            detail: "x".into(),
            frame_type: Some("mensaje".into()),
            client_id: None,
            message_id: None,
        });
        let json: serde_json::Value = serde_json::from_str(&frame.encode()).unwrap();
        assert_eq!(json["data"]["codigo"], "mensaje_demasiado_largo");
        assert!(json["data"].get("client_id").is_none());
    }

    #[test]
    fn messages_keep_the_seed_field_names() {
        let m = Message {
            id: 1,
            client_id: Some("c".into()),
            ticket: 2,
            seq: 1,
            timestamp: Timestamp(0),
            author: Person {
                id: Some(5),
                name: "María".into(),
                kind: AuthorKind::Agent,
                avatar: None,
            },
            content: "Hola".into(),
            kind: MessageKind::Text,
            state: MessageState::Delivered,
            attachments: vec![],
            reply_to: None,
            edited: false,
            deleted: false,
            edited_at: None,
            rev: 0,
            metadata: Default::default(),
            internal: false,
        };
        let json = serde_json::to_value(&m).unwrap();
        for key in [
            "id",
            "client_id",
            "timestamp",
            "autor",
            "contenido",
            "tipo",
            "estado",
            "archivos",
            "replyTo",
            "editado",
            "eliminado",
            "seq",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert_eq!(json["timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(json["estado"], "ENTREGADO");
        assert_eq!(json["autor"]["tipo"], "AGENTE");
    }

    #[test]
    fn timestamps_round_trip_through_rfc3339() {
        let t = Timestamp::parse("2024-09-20T19:30:00.5+02:00").unwrap();
        assert_eq!(t.to_string(), "2024-09-20T17:30:00.500Z");
        assert!(Timestamp::parse("ayer").is_none());
    }
}
