//! Bodies of the REST API (`/api/soporte/...`), the seed's `ChatSync` shapes.

use crate::model::*;
use serde::{Deserialize, Serialize};

/// `POST /api/soporte/tickets/`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    pub asunto: String,
    /// Only agents and supervisors give it: the customer the ticket is for.
    #[serde(default)]
    pub cliente: Option<CustomerRef>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CustomerRef {
    pub id: UserId,
    pub nombre: String,
    #[serde(default)]
    pub avatar: Option<String>,
}

/// A ticket as listed for one viewer: with what that viewer has not read yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TicketView {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub no_leidos: i64,
    pub ultimo_mensaje: Option<Message>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TicketList {
    pub count: usize,
    pub results: Vec<TicketView>,
}

/// `GET .../chat/historial/`: Django REST framework's page shape.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HistoryPage {
    /// Messages in the ticket (older than `before` when it was given).
    pub count: i64,
    /// URL of the next page: older messages.
    pub next: Option<String>,
    /// URL of the previous page: newer messages.
    pub previous: Option<String>,
    /// Oldest first.
    pub results: Vec<Message>,
}

/// `POST .../chat/sync/`: messages written while offline, as the seed's
/// `syncOfflineMessages` sends them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncRequest {
    pub messages: Vec<SyncMessage>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncMessage {
    pub client_id: String,
    pub contenido: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncResponse {
    /// One entry per stored (or already stored) message, in request order.
    pub results: Vec<SyncResult>,
    /// Messages refused, with why.
    pub errores: Vec<SyncError>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncResult {
    pub client_id: String,
    pub mensaje_id: MessageId,
    pub seq: Seq,
    pub timestamp: Timestamp,
    pub duplicado: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncError {
    pub client_id: String,
    pub codigo: crate::ErrorCode,
    pub detalle: String,
}

/// `POST .../chat/mark-read/`
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MarkReadRequest {
    pub message_ids: Vec<MessageId>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MarkReadResponse {
    /// The messages that became `LEIDO` with this call.
    pub marcados: Vec<MessageId>,
    /// What the caller still has not read on this ticket.
    pub no_leidos: i64,
}

/// `GET .../chat/stats/`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatStats {
    pub total_mensajes: i64,
    /// Messages by `autor.tipo`: `CLIENTE`, `AGENTE`, `SUPERVISOR`, `SISTEMA`.
    pub por_tipo_autor: std::collections::BTreeMap<String, i64>,
    /// From the customer's first message to the first answer by staff.
    pub primera_respuesta_segundos: Option<f64>,
    /// Mean wait from a customer's message to the next answer by staff.
    pub tiempo_respuesta_promedio_segundos: Option<f64>,
    pub archivos: i64,
    /// Messages the caller has not read.
    pub no_leidos: i64,
    /// From the first message to the last.
    pub duracion_segundos: Option<f64>,
    pub primer_mensaje: Option<Timestamp>,
    pub ultimo_mensaje: Option<Timestamp>,
}

/// The body of every 4xx/5xx answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub detalle: String,
}
