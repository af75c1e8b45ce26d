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
pub enum Role {
    /// A helpdesk customer: sees only their own tickets.
    #[serde(rename = "CLIENTE")]
    Customer,
    /// A support agent: sees the tickets assigned to them and the unassigned queue.
    #[serde(rename = "AGENTE")]
    Agent,
    /// Sees and may act on every ticket.
    #[serde(rename = "SUPERVISOR")]
    Supervisor,
}

impl Role {
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Agent | Role::Supervisor)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "CLIENTE",
            Role::Agent => "AGENTE",
            Role::Supervisor => "SUPERVISOR",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "CLIENTE" => Some(Role::Customer),
            "AGENTE" => Some(Role::Agent),
            "SUPERVISOR" => Some(Role::Supervisor),
            _ => None,
        }
    }
}

/// `autor.tipo`: a person's role, or `SISTEMA` for messages the server writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
pub enum AuthorKind {
    #[serde(rename = "CLIENTE")]
    Customer,
    #[serde(rename = "AGENTE")]
    Agent,
    #[serde(rename = "SUPERVISOR")]
    Supervisor,
    #[serde(rename = "SISTEMA")]
    System,
}

impl From<Role> for AuthorKind {
    fn from(role: Role) -> Self {
        match role {
            Role::Customer => AuthorKind::Customer,
            Role::Agent => AuthorKind::Agent,
            Role::Supervisor => AuthorKind::Supervisor,
        }
    }
}

impl AuthorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorKind::Customer => "CLIENTE",
            AuthorKind::Agent => "AGENTE",
            AuthorKind::Supervisor => "SUPERVISOR",
            AuthorKind::System => "SISTEMA",
        }
    }

    pub fn parse(text: &str) -> Option<AuthorKind> {
        match text {
            "SISTEMA" => Some(AuthorKind::System),
            other => Role::parse(other).map(AuthorKind::from),
        }
    }
}

/// A person as messages and events name them (`autor`, `usuario`, `lector`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Person {
    /// `None` only for the system author.
    pub id: Option<UserId>,
    #[serde(rename = "nombre")]
    pub name: String,
    #[serde(rename = "tipo")]
    pub kind: AuthorKind,
    #[serde(default)]
    pub avatar: Option<String>,
}

impl Person {
    /// A person with an account (anyone but the system).
    pub fn user(id: UserId, nombre: &str, role: Role, avatar: Option<&str>) -> Self {
        Person {
            id: Some(id),
            name: nombre.to_string(),
            kind: AuthorKind::from(role),
            avatar: avatar.map(str::to_string),
        }
    }

    pub fn system() -> Self {
        Person {
            id: None,
            name: "Sistema".into(),
            kind: AuthorKind::System,
            avatar: None,
        }
    }
}

/// A person taking part in a ticket's conversation, with presence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Participant {
    pub id: UserId,
    #[serde(rename = "nombre")]
    pub name: String,
    #[serde(rename = "tipo")]
    pub role: Role,
    #[serde(default)]
    pub avatar: Option<String>,
    pub online: bool,
    #[serde(rename = "lastSeen")]
    pub last_seen: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
pub enum MessageKind {
    #[serde(rename = "TEXTO")]
    Text,
    #[serde(rename = "ARCHIVO")]
    File,
    #[serde(rename = "SISTEMA")]
    System,
    #[serde(rename = "TRANSFERENCIA")]
    Transfer,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "TEXTO",
            MessageKind::File => "ARCHIVO",
            MessageKind::System => "SISTEMA",
            MessageKind::Transfer => "TRANSFERENCIA",
        }
    }

    pub fn parse(text: &str) -> Option<MessageKind> {
        match text {
            "TEXTO" => Some(MessageKind::Text),
            "ARCHIVO" => Some(MessageKind::File),
            "SISTEMA" => Some(MessageKind::System),
            "TRANSFERENCIA" => Some(MessageKind::Transfer),
            _ => None,
        }
    }
}

/// Delivery state as the server knows it. `ENVIANDO` and `ERROR` exist only in
/// a client's optimistic copy, never on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
pub enum MessageState {
    /// Stored and sent to the ticket's connections.
    #[serde(rename = "ENTREGADO")]
    Delivered,
    /// Marked read by someone on the other side of the conversation.
    #[serde(rename = "LEIDO")]
    Read,
}

impl MessageState {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Delivered => "ENTREGADO",
            MessageState::Read => "LEIDO",
        }
    }

    pub fn parse(text: &str) -> Option<MessageState> {
        match text {
            "ENTREGADO" => Some(MessageState::Delivered),
            "LEIDO" => Some(MessageState::Read),
            _ => None,
        }
    }
}

/// A file attached to a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Attachment {
    pub id: i64,
    #[serde(rename = "nombre")]
    pub name: String,
    #[serde(rename = "tamaño")]
    pub size: u64,
    #[serde(rename = "tipo_mime")]
    pub mime_type: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What happened to a message after it was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
pub enum MessageChange {
    #[serde(rename = "editado")]
    Edited,
    #[serde(rename = "eliminado")]
    Deleted,
}

impl MessageChange {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageChange::Edited => "editado",
            MessageChange::Deleted => "eliminado",
        }
    }

    pub fn parse(text: &str) -> Option<MessageChange> {
        match text {
            "editado" => Some(MessageChange::Edited),
            "eliminado" => Some(MessageChange::Deleted),
            _ => None,
        }
    }
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
    #[serde(rename = "autor")]
    pub author: Person,
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
    /// When it was last edited or deleted.
    #[serde(
        default,
        rename = "editado_en",
        skip_serializing_if = "Option::is_none"
    )]
    #[ts(optional)]
    pub edited_at: Option<Timestamp>,
    /// The ticket's revision of its last edit or deletion (0: never
    /// changed). Of two copies of a message, the higher `rev` is the newer.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[ts(as = "Option<u64>", optional)]
    pub rev: u64,
    /// What the client sent as `metadata` (a JSON object), returned as given.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// An internal note: shown to agents and supervisors only.
    #[serde(default)]
    #[serde(rename = "interno")]
    pub internal: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
pub enum TicketState {
    #[serde(rename = "ABIERTO")]
    Open,
    #[serde(rename = "EN_ESPERA")]
    Waiting,
    #[serde(rename = "RESUELTO")]
    Resolved,
    #[serde(rename = "CERRADO")]
    Closed,
}

impl TicketState {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::Open => "ABIERTO",
            TicketState::Waiting => "EN_ESPERA",
            TicketState::Resolved => "RESUELTO",
            TicketState::Closed => "CERRADO",
        }
    }

    pub fn parse(text: &str) -> Option<TicketState> {
        match text {
            "ABIERTO" => Some(TicketState::Open),
            "EN_ESPERA" => Some(TicketState::Waiting),
            "RESUELTO" => Some(TicketState::Resolved),
            "CERRADO" => Some(TicketState::Closed),
            _ => None,
        }
    }
}

impl TicketState {
    /// Whether `role` may move a ticket from `self` to `to`. Staff run the
    /// lifecycle; a customer may only close. A closed ticket stays closed.
    pub fn may_become(self, to: TicketState, role: Role) -> bool {
        use TicketState::*;
        if self == to || self == Closed {
            return false;
        }
        match role {
            // A customer may say their problem is solved, or end it.
            Role::Customer => matches!((self, to), (Open | Waiting, Resolved) | (_, Closed)),
            Role::Agent | Role::Supervisor => matches!(
                (self, to),
                (Open, Waiting | Resolved | Closed)
                    | (Waiting, Open | Resolved | Closed)
                    | (Resolved, Open | Closed)
            ),
        }
    }
}

/// An agent's availability for new conversations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
pub enum Availability {
    #[serde(rename = "disponible")]
    Available,
    #[serde(rename = "ausente")]
    Away,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Available => "disponible",
            Availability::Away => "ausente",
        }
    }

    pub fn parse(text: &str) -> Option<Availability> {
        match text {
            "disponible" => Some(Availability::Available),
            "ausente" => Some(Availability::Away),
            _ => None,
        }
    }
}

/// What a message the server writes (`SISTEMA`, `TRANSFERENCIA`) records, as
/// its `metadata`: clients read the change from it without parsing the text.
// Made once per recorded change and turned into JSON at once: boxing the
// larger variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "evento")]
pub enum SystemEvent {
    /// The ticket moved from one state to another.
    #[serde(rename = "estado")]
    State {
        #[serde(rename = "anterior")]
        previous: TicketState,
        #[serde(rename = "nuevo")]
        new: TicketState,
        /// The customer is asked to rate the conversation (CSAT) here: the
        /// ticket was resolved or closed and is eligible.
        #[serde(
            rename = "pide_valoracion",
            default,
            skip_serializing_if = "std::ops::Not::not"
        )]
        csat_requested: bool,
    },
    /// The ticket changed hands.
    #[serde(rename = "transferencia")]
    Transfer {
        #[serde(rename = "agente_anterior")]
        previous_agent: Option<Person>,
        #[serde(rename = "nuevo_agente")]
        new_agent: Person,
        #[serde(rename = "motivo")]
        reason: String,
        #[serde(rename = "por")]
        by: Person,
    },
    /// The customer rated the conversation (an internal note: staff only).
    #[serde(rename = "valoracion")]
    Rated {
        #[serde(rename = "puntuacion")]
        score: u8,
        #[serde(
            rename = "comentario",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        comment: Option<String>,
    },
}

impl SystemEvent {
    /// As the `metadata` object of the message that records it.
    pub fn to_metadata(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map,
            // An internally tagged enum of structs is always an object.
            _ => serde_json::Map::new(),
        }
    }
}

/// The key of a message's `metadata` that makes it an internal note
/// (`{"interno": true}`), the one key of a client's metadata the server reads.
pub const INTERNAL_NOTE_KEY: &str = "interno";

/// Whether a client's `metadata` asks for an internal note.
pub fn asks_for_internal_note(
    metadata: Option<&serde_json::Map<String, serde_json::Value>>,
) -> bool {
    metadata
        .and_then(|m| m.get(INTERNAL_NOTE_KEY))
        .and_then(serde_json::Value::as_bool)
        == Some(true)
}

/// A support ticket: one customer's conversation with the helpdesk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct Ticket {
    pub id: TicketId,
    #[serde(rename = "asunto")]
    pub subject: String,
    #[serde(rename = "estado")]
    pub state: TicketState,
    #[serde(rename = "cliente")]
    pub customer: Person,
    /// The agent the ticket is assigned to; `None` while it waits in the queue.
    #[serde(rename = "agente")]
    pub agent: Option<Person>,
    #[serde(rename = "creado")]
    pub created: Timestamp,
    #[serde(rename = "actualizado")]
    pub updated: Timestamp,
    /// `seq` of the newest message (0 when there is none).
    pub last_seq: Seq,
    /// The host helpdesk's id of this ticket. Never in a frame: staff read it
    /// in `TicketView` (REST, inbox).
    #[serde(skip)]
    pub external_id: Option<String>,
    /// The host helpdesk's data about this ticket (a JSON object). Never in
    /// a frame: staff read it in `TicketView`.
    #[serde(skip)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// What customers see of the activity: the time and `seq` of the last
    /// change they can see (`None`: the same as `updated` and `last_seq`).
    /// Never in a frame as such: [`Ticket::seen_by_customer`] puts it in
    /// their place.
    #[serde(skip)]
    pub public_activity: Option<(Timestamp, Seq)>,
    /// When it was last resolved, while resolved or closed (the sweep that
    /// closes idle tickets judges by it). Never in a frame.
    #[serde(skip)]
    pub resolved_at: Option<Timestamp>,
    /// How many edits and deletions its messages have had: the revision a
    /// resuming client names with `rev=` (see `ConnectionEstablished::rev`).
    #[serde(skip)]
    pub rev: u64,
    /// The customer's rating, once given (the customer and staff see it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csat: Option<Rating>,
}

/// A customer's rating of how their ticket was handled (CSAT).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct Rating {
    /// 1 (very dissatisfied) to 5 (very satisfied).
    #[serde(rename = "puntuacion")]
    pub score: u8,
    #[serde(
        rename = "comentario",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub comment: Option<String>,
    #[serde(rename = "creado")]
    pub created: Timestamp,
}

impl Ticket {
    /// The ticket as its customer sees it: internal notes move `updated`
    /// and `last_seq` for staff only, so when and how often the team wrote
    /// notes does not show.
    pub fn seen_by_customer(mut self) -> Ticket {
        if let Some((updated, last_seq)) = self.public_activity.take() {
            self.updated = updated;
            self.last_seq = last_seq;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TicketState::*;

    #[test]
    fn staff_run_the_lifecycle_and_customers_may_resolve_or_close() {
        let staff = [Role::Agent, Role::Supervisor];
        for role in staff {
            assert!(Open.may_become(Waiting, role));
            assert!(Open.may_become(Resolved, role));
            assert!(Waiting.may_become(Open, role));
            assert!(Resolved.may_become(Open, role));
            assert!(Resolved.may_become(Closed, role));
            assert!(!Resolved.may_become(Waiting, role));
            assert!(!Open.may_become(Open, role));
        }
        assert!(Open.may_become(Closed, Role::Customer));
        assert!(Resolved.may_become(Closed, Role::Customer));
        assert!(Open.may_become(Resolved, Role::Customer));
        assert!(Waiting.may_become(Resolved, Role::Customer));
        assert!(!Open.may_become(Waiting, Role::Customer));
        assert!(!Resolved.may_become(Open, Role::Customer));
        for to in [Open, Waiting, Resolved] {
            for role in [Role::Customer, Role::Agent, Role::Supervisor] {
                assert!(!Closed.may_become(to, role), "a closed ticket stays closed");
            }
        }
    }
}
