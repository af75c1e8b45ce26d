//! Bodies of the REST API (`/api/soporte/...`), the seed's `ChatSync` shapes.

use crate::model::*;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// `POST /api/soporte/tickets/`
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    pub asunto: String,
    /// Only agents and supervisors give it: the customer the ticket is for.
    #[serde(default)]
    pub cliente: Option<CustomerRef>,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct CustomerRef {
    pub id: UserId,
    pub nombre: String,
    #[serde(default)]
    pub avatar: Option<String>,
}

/// A ticket as listed for one viewer: with what that viewer has not read yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct TicketView {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub no_leidos: i64,
    pub ultimo_mensaje: Option<Message>,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct TicketList {
    pub count: usize,
    pub results: Vec<TicketView>,
}

/// `GET .../chat/historial/`: Django REST framework's page shape.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
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
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct SyncRequest {
    pub messages: Vec<SyncMessage>,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct SyncMessage {
    pub client_id: String,
    pub contenido: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct SyncResponse {
    /// One entry per stored (or already stored) message, in request order.
    pub results: Vec<SyncResult>,
    /// Messages refused, with why.
    pub errores: Vec<SyncError>,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct SyncResult {
    pub client_id: String,
    pub mensaje_id: MessageId,
    pub seq: Seq,
    pub timestamp: Timestamp,
    pub duplicado: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct SyncError {
    pub client_id: String,
    pub codigo: crate::ErrorCode,
    pub detalle: String,
}

/// `POST .../chat/mark-read/`
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct MarkReadRequest {
    pub message_ids: Vec<MessageId>,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct MarkReadResponse {
    /// The messages that became `LEIDO` with this call.
    pub marcados: Vec<MessageId>,
    /// What the caller still has not read on this ticket.
    pub no_leidos: i64,
}

/// `GET .../chat/stats/`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
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

/// `POST .../assign/`: an agent takes the ticket (no body); a supervisor
/// names the agent.
#[derive(Clone, Debug, Default, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    #[serde(default)]
    pub agente_id: Option<UserId>,
}

/// `POST .../chat/transfer/`
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    pub agente_id: UserId,
    #[serde(default)]
    pub motivo: String,
}

/// `POST .../estado/`
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct StateRequest {
    pub estado: TicketState,
}

/// `POST /api/soporte/agentes/disponibilidad/`
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityRequest {
    pub disponibilidad: Availability,
}

/// A canned response shared by the team.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct CannedResponse {
    pub id: i64,
    /// What an agent types to find it, e.g. `saludo`.
    pub atajo: String,
    pub texto: String,
    pub creado_por: UserId,
    pub creado: Timestamp,
    pub actualizado: Timestamp,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct CannedResponseInput {
    pub atajo: String,
    pub texto: String,
}

/// Median and 90th percentile of a duration, in seconds, over `n` tickets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct DurationStats {
    pub n: usize,
    pub mediana_segundos: Option<f64>,
    pub p90_segundos: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct AgentStats {
    pub agente: Option<Person>,
    pub tickets: usize,
    pub primera_respuesta: DurationStats,
    pub resolucion: DurationStats,
}

/// `GET /api/soporte/stats/?desde=&hasta=` (supervisors).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct TeamStats {
    pub desde: Option<Timestamp>,
    pub hasta: Option<Timestamp>,
    /// Tickets in each state now (all time).
    pub por_estado: std::collections::BTreeMap<String, i64>,
    /// Tickets created in the range.
    pub tickets_creados: usize,
    /// From creation to assignment.
    pub espera_en_cola: DurationStats,
    /// From creation to the first answer by staff.
    pub primera_respuesta: DurationStats,
    /// From creation to resolution.
    pub resolucion: DurationStats,
    pub por_agente: Vec<AgentStats>,
}

/// The body of every 4xx/5xx answer.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct ErrorBody {
    pub detalle: String,
}
