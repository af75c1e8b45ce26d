//! Webhooks: the subscriptions the host manages over REST, the delivery log
//! it reads, and the events its receiver is posted. Event data reuses the
//! REST API's shapes ([`Ticket`], [`Message`], [`Attachment`]).

use crate::model::*;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// `POST /api/soporte/webhooks/`: a subscription.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    pub url: String,
    /// Event types (`mensaje.creado`, …), or `["*"]` for every one.
    #[serde(rename = "eventos")]
    pub events: Vec<String>,
    /// Internal notes reach it too (staff-only content).
    #[serde(default)]
    #[serde(rename = "incluir_internos")]
    pub include_internal: bool,
    #[serde(default)]
    #[serde(rename = "descripcion")]
    pub description: Option<String>,
}

/// A subscription as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    #[serde(rename = "eventos")]
    pub events: Vec<String>,
    #[serde(rename = "incluir_internos")]
    pub include_internal: bool,
    #[serde(rename = "descripcion")]
    pub description: Option<String>,
    #[serde(rename = "creado")]
    pub created: Timestamp,
    /// Failed attempts in a row (the endpoint is paused from the fifth).
    #[serde(rename = "fallos_seguidos")]
    pub failures: u32,
    /// While in the future, its deliveries wait (a circuit breaker).
    #[serde(rename = "pausado_hasta")]
    pub paused_until: Option<Timestamp>,
    /// The signing secret, in the answer to its creation only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "secreto")]
    pub secret: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct WebhookList {
    pub count: usize,
    pub results: Vec<WebhookView>,
}

/// One attempt to deliver an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct AttemptView {
    #[serde(rename = "en")]
    pub at: Timestamp,
    /// The receiver's HTTP status; `None` when no answer came.
    #[serde(rename = "estado_http")]
    pub status: Option<u16>,
    /// Why no answer came (timeout, refused connection, address refused).
    pub error: Option<String>,
    #[serde(rename = "latencia_ms")]
    pub latency_ms: u64,
}

/// Where an event's delivery to one subscription stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub enum DeliveryState {
    #[serde(rename = "pendiente")]
    Pending,
    #[serde(rename = "entregado")]
    Delivered,
    /// Given up after the maximum age.
    #[serde(rename = "fallido")]
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pendiente",
            DeliveryState::Delivered => "entregado",
            DeliveryState::Failed => "fallido",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// An event's delivery to one subscription, with every attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct DeliveryView {
    pub id: i64,
    #[serde(rename = "evento_id")]
    pub event_id: String,
    pub tipo: String,
    pub ticket: Option<TicketId>,
    #[serde(rename = "estado")]
    pub state: DeliveryState,
    #[serde(rename = "intentos")]
    pub attempts: u32,
    /// When it is tried next (pending deliveries).
    #[serde(rename = "proximo_intento")]
    pub next_attempt: Option<Timestamp>,
    #[serde(rename = "entregado")]
    pub delivered_at: Option<Timestamp>,
    #[serde(rename = "creado")]
    pub created: Timestamp,
    /// Oldest first.
    #[serde(rename = "historial")]
    pub history: Vec<AttemptView>,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct DeliveryList {
    pub count: usize,
    pub results: Vec<DeliveryView>,
}

/// What a receiver is posted: the same `id` and body on every attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct WebhookEvent {
    pub id: String,
    pub tipo: String,
    #[serde(rename = "creado")]
    pub created: Timestamp,
    #[ts(type = "Record<string, unknown>")]
    pub data: serde_json::Value,
}

/// A ticket as the host sees it: with its own id and data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct HostTicket {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub external_id: Option<String>,
    #[ts(type = "Record<string, unknown> | null")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl From<Ticket> for HostTicket {
    fn from(ticket: Ticket) -> HostTicket {
        HostTicket {
            external_id: ticket.external_id.clone(),
            metadata: ticket.metadata.clone(),
            ticket,
        }
    }
}

/// Which ticket an event is about, by both ids.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct TicketRef {
    pub id: TicketId,
    pub external_id: Option<String>,
}

/// `data` of `ticket.creado`, `ticket.asignado`, `ticket.transferido` and
/// `ticket.estado_cambiado`: the ticket after the change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct TicketEventData {
    pub ticket: HostTicket,
    /// Transfers and reassignments: who had it before.
    #[serde(rename = "agente_anterior", skip_serializing_if = "Option::is_none")]
    pub previous_agent: Option<Person>,
    /// Transfers: why, when a reason was given.
    #[serde(rename = "motivo", skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `data` of `csat.recibido`: the ticket (with its `csat`) and the rating.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct CsatEventData {
    pub ticket: HostTicket,
    pub csat: crate::Rating,
}

/// `data` of `mensaje.creado`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct MessageEventData {
    #[serde(rename = "mensaje")]
    pub message: Message,
    pub ticket: TicketRef,
}

/// `data` of `mensaje.editado` and `mensaje.eliminado`: the message as it
/// now is, and who changed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct MessageChangedData {
    #[serde(rename = "mensaje")]
    pub message: Message,
    pub ticket: TicketRef,
    #[serde(rename = "por")]
    pub by: Person,
}

/// `data` of `archivo.subido`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct FileEventData {
    #[serde(rename = "adjunto")]
    pub attachment: Attachment,
    #[serde(rename = "mensaje")]
    pub message: Message,
    pub ticket: TicketRef,
}

/// `data` of `usuario.eliminado`: whose data was erased, how much, by whom.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct UserErasedData {
    #[serde(rename = "usuario")]
    pub user: UserId,
    #[serde(rename = "mensajes")]
    pub messages: u64,
    #[serde(rename = "archivos")]
    pub files: u64,
    /// The API key's name, or the supervisor's id, that asked for it.
    #[serde(rename = "por")]
    pub by: String,
}
