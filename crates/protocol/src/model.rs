//! The values frames and REST bodies carry.

use serde::{Deserialize, Serialize};
use std::fmt;
use ts_rs::TS;

pub type UserId = i64;
pub type TicketId = i64;
pub type MessageId = i64;
/// Position of a message in its ticket: 1, 2, 3, … with no gaps, assigned in
/// the transaction that stores the message.
pub type Seq = i64;

/// A point in time with millisecond precision, written as RFC 3339 in UTC
/// (`2024-09-20T17:30:00.123Z`), as the seed's client parses with `new Date()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, TS)]
#[ts(type = "string")]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let now = time::OffsetDateTime::now_utc();
        Timestamp((now.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339 (any offset); `None` when it is not a valid timestamp.
    pub fn parse(text: &str) -> Option<Self> {
        let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()?;
        Some(Timestamp((t.unix_timestamp_nanos() / 1_000_000) as i64))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0 as i128 * 1_000_000;
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let (y, mo, d) = (t.year(), t.month() as u8, t.day());
        let (h, mi, s, ms) = (t.hour(), t.minute(), t.second(), t.millisecond());
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&text)
            .ok_or_else(|| serde::de::Error::custom("invalid RFC 3339 timestamp"))
    }
}

/// What a token says a user is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// A helpdesk customer: sees only their own tickets.
    Cliente,
    /// A support agent: sees the tickets assigned to them and the unassigned queue.
    Agente,
    /// Sees and may act on every ticket.
    Supervisor,
}

impl Role {
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Agente | Role::Supervisor)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Cliente => "CLIENTE",
            Role::Agente => "AGENTE",
            Role::Supervisor => "SUPERVISOR",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "CLIENTE" => Some(Role::Cliente),
            "AGENTE" => Some(Role::Agente),
            "SUPERVISOR" => Some(Role::Supervisor),
            _ => None,
        }
    }
}

/// `autor.tipo`: a person's role, or `SISTEMA` for messages the server writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthorKind {
    Cliente,
    Agente,
    Supervisor,
    Sistema,
}

impl From<Role> for AuthorKind {
    fn from(role: Role) -> Self {
        match role {
            Role::Cliente => AuthorKind::Cliente,
            Role::Agente => AuthorKind::Agente,
            Role::Supervisor => AuthorKind::Supervisor,
        }
    }
}

impl AuthorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorKind::Cliente => "CLIENTE",
            AuthorKind::Agente => "AGENTE",
            AuthorKind::Supervisor => "SUPERVISOR",
            AuthorKind::Sistema => "SISTEMA",
        }
    }

    pub fn parse(text: &str) -> Option<AuthorKind> {
        match text {
            "SISTEMA" => Some(AuthorKind::Sistema),
            other => Role::parse(other).map(AuthorKind::from),
        }
    }
}

/// A person as messages and events name them (`autor`, `usuario`, `lector`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Person {
    /// `None` only for the system author.
    pub id: Option<UserId>,
    pub nombre: String,
    pub tipo: AuthorKind,
    #[serde(default)]
    pub avatar: Option<String>,
}

impl Person {
    /// A person with an account (anyone but the system).
    pub fn user(id: UserId, nombre: &str, role: Role, avatar: Option<&str>) -> Self {
        Person {
            id: Some(id),
            nombre: nombre.to_string(),
            tipo: AuthorKind::from(role),
            avatar: avatar.map(str::to_string),
        }
    }

    pub fn system() -> Self {
        Person {
            id: None,
            nombre: "Sistema".into(),
            tipo: AuthorKind::Sistema,
            avatar: None,
        }
    }
}

/// A person taking part in a ticket's conversation, with presence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Participant {
    pub id: UserId,
    pub nombre: String,
    pub tipo: Role,
    #[serde(default)]
    pub avatar: Option<String>,
    pub online: bool,
    #[serde(rename = "lastSeen")]
    pub last_seen: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageKind {
    Texto,
    Archivo,
    Sistema,
    Transferencia,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Texto => "TEXTO",
            MessageKind::Archivo => "ARCHIVO",
            MessageKind::Sistema => "SISTEMA",
            MessageKind::Transferencia => "TRANSFERENCIA",
        }
    }

    pub fn parse(text: &str) -> Option<MessageKind> {
        match text {
            "TEXTO" => Some(MessageKind::Texto),
            "ARCHIVO" => Some(MessageKind::Archivo),
            "SISTEMA" => Some(MessageKind::Sistema),
            "TRANSFERENCIA" => Some(MessageKind::Transferencia),
            _ => None,
        }
    }
}

/// Delivery state as the server knows it. `ENVIANDO` and `ERROR` exist only in
/// a client's optimistic copy, never on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageState {
    /// Stored and sent to the ticket's connections.
    Entregado,
    /// Marked read by someone on the other side of the conversation.
    Leido,
}

/// A file attached to a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Attachment {
    pub id: i64,
    pub nombre: String,
    #[serde(rename = "tamaño")]
    pub size: u64,
    pub tipo_mime: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
}

/// A stored message, in the seed's shape plus `seq`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct Message {
    pub id: MessageId,
    /// The id the sending client gave it; `None` for messages the server wrote.
    pub client_id: Option<String>,
    pub ticket: TicketId,
    pub seq: Seq,
    pub timestamp: Timestamp,
    pub autor: Person,
    #[serde(rename = "contenido")]
    pub content: String,
    #[serde(rename = "tipo")]
    pub kind: MessageKind,
    #[serde(rename = "estado")]
    pub state: MessageState,
    #[serde(rename = "archivos")]
    pub attachments: Vec<Attachment>,
    #[serde(rename = "replyTo")]
    pub reply_to: Option<MessageId>,
    #[serde(rename = "editado")]
    pub edited: bool,
    #[serde(rename = "eliminado")]
    pub deleted: bool,
    /// What the client sent as `metadata` (a JSON object), returned as given.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// An internal note: shown to agents and supervisors only.
    #[serde(default)]
    pub interno: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketState {
    Abierto,
    EnEspera,
    Resuelto,
    Cerrado,
}

impl TicketState {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::Abierto => "ABIERTO",
            TicketState::EnEspera => "EN_ESPERA",
            TicketState::Resuelto => "RESUELTO",
            TicketState::Cerrado => "CERRADO",
        }
    }

    pub fn parse(text: &str) -> Option<TicketState> {
        match text {
            "ABIERTO" => Some(TicketState::Abierto),
            "EN_ESPERA" => Some(TicketState::EnEspera),
            "RESUELTO" => Some(TicketState::Resuelto),
            "CERRADO" => Some(TicketState::Cerrado),
            _ => None,
        }
    }
}

impl TicketState {
    /// Whether `role` may move a ticket from `self` to `to`. Staff run the
    /// lifecycle; a customer may only close. A closed ticket stays closed.
    pub fn may_become(self, to: TicketState, role: Role) -> bool {
        use TicketState::*;
        if self == to || self == Cerrado {
            return false;
        }
        match role {
            Role::Cliente => to == Cerrado,
            Role::Agente | Role::Supervisor => matches!(
                (self, to),
                (Abierto, EnEspera | Resuelto | Cerrado)
                    | (EnEspera, Abierto | Resuelto | Cerrado)
                    | (Resuelto, Abierto | Cerrado)
            ),
        }
    }
}

/// An agent's availability for new conversations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Availability {
    Disponible,
    Ausente,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Disponible => "disponible",
            Availability::Ausente => "ausente",
        }
    }

    pub fn parse(text: &str) -> Option<Availability> {
        match text {
            "disponible" => Some(Availability::Disponible),
            "ausente" => Some(Availability::Ausente),
            _ => None,
        }
    }
}

/// A support ticket: one customer's conversation with the helpdesk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct Ticket {
    pub id: TicketId,
    pub asunto: String,
    pub estado: TicketState,
    pub cliente: Person,
    /// The agent the ticket is assigned to; `None` while it waits in the queue.
    pub agente: Option<Person>,
    pub creado: Timestamp,
    pub actualizado: Timestamp,
    /// `seq` of the newest message (0 when there is none).
    pub last_seq: Seq,
}

#[cfg(test)]
mod tests {
    use super::*;
    use TicketState::*;

    #[test]
    fn staff_run_the_lifecycle_and_customers_may_only_close() {
        let staff = [Role::Agente, Role::Supervisor];
        for role in staff {
            assert!(Abierto.may_become(EnEspera, role));
            assert!(Abierto.may_become(Resuelto, role));
            assert!(EnEspera.may_become(Abierto, role));
            assert!(Resuelto.may_become(Abierto, role));
            assert!(Resuelto.may_become(Cerrado, role));
            assert!(!Resuelto.may_become(EnEspera, role));
            assert!(!Abierto.may_become(Abierto, role));
        }
        assert!(Abierto.may_become(Cerrado, Role::Cliente));
        assert!(Resuelto.may_become(Cerrado, Role::Cliente));
        assert!(!Abierto.may_become(Resuelto, Role::Cliente));
        assert!(!Resuelto.may_become(Abierto, Role::Cliente));
        for to in [Abierto, EnEspera, Resuelto] {
            for role in [Role::Cliente, Role::Agente, Role::Supervisor] {
                assert!(
                    !Cerrado.may_become(to, role),
                    "a closed ticket stays closed"
                );
            }
        }
    }
}
