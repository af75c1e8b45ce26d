//! Bodies of the REST API (`/api/soporte/...`), the seed's `ChatSync` shapes.

use crate::model::*;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// `POST /api/soporte/tickets/`
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    #[serde(rename = "asunto")]
    pub subject: String,
    /// Only staff and service keys give it: the customer the ticket is for.
    #[serde(default)]
    #[serde(rename = "cliente")]
    pub customer: Option<CustomerField>,
    /// The host helpdesk's id of the ticket: unique (staff and service keys).
    #[serde(default)]
    pub external_id: Option<String>,
    /// The host helpdesk's data, a JSON object up to 16 KiB, shown to staff only.
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Assign it at once to this agent (supervisors and service keys).
    #[serde(default)]
    #[serde(rename = "agente")]
    pub agent: Option<UserId>,
}

/// Who a new ticket is for: a provisioned user's id, or a description of
/// the customer (who is stored as described, if new).
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(untagged)]
pub enum CustomerField {
    Id(UserId),
    Described(CustomerRef),
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct CustomerRef {
    pub id: UserId,
    #[serde(rename = "nombre")]
    pub name: String,
    #[serde(default)]
    pub avatar: Option<String>,
}

/// A ticket as listed for one viewer: with what that viewer has not read yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct TicketView {
    #[serde(flatten)]
    pub ticket: Ticket,
    #[serde(rename = "no_leidos")]
    pub unread: i64,
    #[serde(rename = "ultimo_mensaje")]
    pub last_message: Option<Message>,
    /// The host helpdesk's id of the ticket (staff only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The host helpdesk's data about the ticket (staff only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl TicketView {
    /// The view of `ticket` for staff, or for its customer (who never sees
    /// the host's data, nor the activity of internal notes).
    pub fn new(ticket: Ticket, unread: i64, last_message: Option<Message>, staff: bool) -> Self {
        let (external_id, metadata) = match staff {
            true => (ticket.external_id.clone(), ticket.metadata.clone()),
            false => (None, None),
        };
        let ticket = if staff {
            ticket
        } else {
            ticket.seen_by_customer()
        };
        TicketView {
            ticket,
            unread,
            last_message,
            external_id,
            metadata,
        }
    }
}

/// The URL of the ticket list's page after one that ended with `last`
/// (`base`: the server's public URL); its cursor is `last`'s activity time,
/// as the reader saw it, and id.
pub fn next_tickets_url(base: &str, limit: usize, last: &Ticket) -> String {
    format!(
        "{base}/api/soporte/tickets/?limit={limit}&cursor={}.{}",
        last.updated.millis(),
        last.id
    )
}

/// The activity time and id a `cursor` of [`next_tickets_url`] carries.
pub fn parse_tickets_cursor(cursor: &str) -> Option<(Timestamp, TicketId)> {
    let (at, id) = cursor.split_once('.')?;
    Some((Timestamp::from_millis(at.parse().ok()?), id.parse().ok()?))
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct TicketList {
    /// Tickets in this page.
    pub count: usize,
    pub results: Vec<TicketView>,
    /// The URL of the next page (older activity), `null` on the last one.
    #[serde(default)]
    pub next: Option<String>,
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
    #[serde(rename = "contenido")]
    pub content: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// The message of the same ticket this one answers.
    #[serde(default, alias = "replyTo", skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub reply_to: Option<MessageId>,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct SyncResponse {
    /// One entry per stored (or already stored) message, in request order.
    pub results: Vec<SyncResult>,
    /// Messages refused, with why.
    #[serde(rename = "errores")]
    pub errors: Vec<SyncError>,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct SyncResult {
    pub client_id: String,
    #[serde(rename = "mensaje_id")]
    pub message_id: MessageId,
    pub seq: Seq,
    pub timestamp: Timestamp,
    #[serde(rename = "duplicado")]
    pub duplicate: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct SyncError {
    pub client_id: String,
    #[serde(rename = "codigo")]
    pub code: crate::ErrorCode,
    #[serde(rename = "detalle")]
    pub detail: String,
}

/// `POST .../chat/mark-read/`
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct MarkReadRequest {
    pub message_ids: Vec<MessageId>,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct MarkReadResponse {
    /// The messages that became `LEIDO` with this call.
    #[serde(rename = "marcados")]
    pub marked: Vec<MessageId>,
    /// What the caller still has not read on this ticket.
    #[serde(rename = "no_leidos")]
    pub unread: i64,
}

/// `GET .../chat/stats/`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct ChatStats {
    #[serde(rename = "total_mensajes")]
    pub total_messages: i64,
    /// Messages by `autor.tipo`: `CLIENTE`, `AGENTE`, `SUPERVISOR`, `SISTEMA`.
    #[serde(rename = "por_tipo_autor")]
    pub by_author_kind: std::collections::BTreeMap<String, i64>,
    /// From the customer's first message to the first answer by staff.
    #[serde(rename = "primera_respuesta_segundos")]
    pub first_response_seconds: Option<f64>,
    /// Mean wait from a customer's message to the next answer by staff.
    #[serde(rename = "tiempo_respuesta_promedio_segundos")]
    pub mean_response_seconds: Option<f64>,
    #[serde(rename = "archivos")]
    pub files: i64,
    /// Messages the caller has not read.
    #[serde(rename = "no_leidos")]
    pub unread: i64,
    /// From the first message to the last.
    #[serde(rename = "duracion_segundos")]
    pub duration_seconds: Option<f64>,
    #[serde(rename = "primer_mensaje")]
    pub first_message: Option<Timestamp>,
    #[serde(rename = "ultimo_mensaje")]
    pub last_message: Option<Timestamp>,
}

/// `POST .../assign/`: an agent takes the ticket (no body); a supervisor
/// names the agent.
#[derive(Clone, Debug, Default, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    #[serde(default)]
    #[serde(rename = "agente_id")]
    pub agent_id: Option<UserId>,
}

/// `POST .../chat/transfer/`
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    #[serde(rename = "agente_id")]
    pub agent_id: UserId,
    #[serde(default)]
    #[serde(rename = "motivo")]
    pub reason: String,
}

/// `POST .../estado/`
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct StateRequest {
    #[serde(rename = "estado")]
    pub state: TicketState,
}

/// `POST /api/soporte/agentes/disponibilidad/`
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityRequest {
    #[serde(rename = "disponibilidad")]
    pub availability: Availability,
}

/// A canned response shared by the team.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct CannedResponse {
    pub id: i64,
    /// What an agent types to find it, e.g. `saludo`.
    #[serde(rename = "atajo")]
    pub shortcut: String,
    #[serde(rename = "texto")]
    pub text: String,
    #[serde(rename = "creado_por")]
    pub created_by: UserId,
    #[serde(rename = "creado")]
    pub created: Timestamp,
    #[serde(rename = "actualizado")]
    pub updated: Timestamp,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct CannedResponseInput {
    #[serde(rename = "atajo")]
    pub shortcut: String,
    #[serde(rename = "texto")]
    pub text: String,
}

/// Median and 90th percentile of a duration, in seconds, over `n` tickets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct DurationStats {
    pub n: usize,
    #[serde(rename = "mediana_segundos")]
    pub median_seconds: Option<f64>,
    #[serde(rename = "p90_segundos")]
    pub p90_seconds: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct AgentStats {
    #[serde(rename = "agente")]
    pub agent: Option<Person>,
    pub tickets: usize,
    #[serde(rename = "primera_respuesta")]
    pub first_response: DurationStats,
    #[serde(rename = "resolucion")]
    pub resolution: DurationStats,
    /// Ratings of this agent's tickets.
    pub csat: CsatStats,
}

/// Customers' ratings (CSAT) of a set of tickets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct CsatStats {
    /// How many tickets were rated.
    pub n: usize,
    /// Mean score, 1 to 5.
    #[serde(rename = "media")]
    pub mean: Option<f64>,
    /// The CSAT score: the percentage of ratings that are 4 or 5.
    #[serde(rename = "satisfechos_pct")]
    pub satisfied_percent: Option<f64>,
    /// How many ratings gave each score, 1 to 5.
    #[serde(rename = "por_puntuacion")]
    pub by_score: [usize; 5],
}

/// `POST /api/soporte/tickets/{id}/csat/`: the customer rates their ticket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct CsatRequest {
    /// 1 to 5 (any other number is refused with why).
    #[serde(rename = "puntuacion")]
    pub score: i64,
    #[serde(rename = "comentario", default)]
    pub comment: Option<String>,
}

/// `POST /api/soporte/tickets/{id}/transcripcion/`: email the ticket's
/// conversation to its customer (`email`: an address the customer gives,
/// which becomes theirs; staff send to the customer's own).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct TranscriptRequest {
    #[serde(default)]
    pub email: Option<String>,
}

/// The answer to a transcript request (202): where it goes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct TranscriptQueued {
    #[serde(rename = "para")]
    pub to: String,
}

/// `GET /api/soporte/yo/`: who the token names, as Soporte knows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct Me {
    pub id: UserId,
    #[serde(rename = "nombre")]
    pub name: String,
    #[serde(rename = "rol")]
    pub role: Role,
    pub avatar: Option<String>,
    /// Where they are emailed when nobody is watching (`null`: nowhere).
    pub email: Option<String>,
    /// Whether this server sends email at all (`--smtp-url`): the widget
    /// asks for an address and offers transcripts only then.
    #[serde(rename = "avisos_por_correo")]
    pub email_enabled: bool,
}

/// `PATCH /api/soporte/yo/`: the caller gives the address they want to be
/// emailed at (an address the host sets in the token wins at sign-in).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct MeUpdate {
    pub email: String,
}

/// `GET /api/soporte/tickets/{id}/cola/`: where a ticket waiting for an
/// agent stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct QueueStatus {
    /// 1: next to be taken; `null`: not waiting (an agent has it, or it is
    /// not open).
    #[serde(rename = "posicion")]
    pub position: Option<u32>,
    /// The median wait for an agent over the last 7 days, in seconds;
    /// `null` with fewer than 5 tickets taken.
    #[serde(rename = "espera_tipica_segundos")]
    pub typical_wait_seconds: Option<u64>,
}

/// Where a search hit was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub enum SearchField {
    /// The ticket's subject, or its id or `external_id`.
    #[serde(rename = "asunto")]
    Subject,
    /// The customer's name.
    #[serde(rename = "cliente")]
    Customer,
    #[serde(rename = "mensaje")]
    Message,
}

/// One hit of `GET /api/soporte/buscar/`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct SearchHit {
    pub ticket: Ticket,
    #[serde(rename = "campo")]
    pub field: SearchField,
    /// The message, for a hit in one (open the ticket at its `seq`).
    #[serde(rename = "mensaje_id")]
    pub message_id: Option<MessageId>,
    pub seq: Option<Seq>,
    /// The text that matched: whole, or a window of it around the first
    /// match (marked with `…`).
    #[serde(rename = "texto")]
    pub text: String,
    /// Where the terms matched in `texto`: `[start, end)` in UTF-16 code
    /// units (JavaScript string indices), for highlighting. Never HTML.
    #[serde(rename = "coincidencias")]
    pub matches: Vec<[u32; 2]>,
    #[serde(rename = "fecha")]
    pub at: Timestamp,
}

/// `GET /api/soporte/buscar/?q=…`: ranked hits, a page at a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct SearchResults {
    #[serde(rename = "resultados")]
    pub results: Vec<SearchHit>,
    /// 1-based.
    #[serde(rename = "pagina")]
    pub page: u32,
    #[serde(rename = "hay_mas")]
    pub more: bool,
}

/// `GET /api/soporte/stats/?desde=&hasta=` (supervisors).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct TeamStats {
    #[serde(rename = "desde")]
    pub from: Option<Timestamp>,
    #[serde(rename = "hasta")]
    pub to: Option<Timestamp>,
    /// Tickets in each state now (all time).
    #[serde(rename = "por_estado")]
    pub by_state: std::collections::BTreeMap<String, i64>,
    /// Tickets created in the range.
    #[serde(rename = "tickets_creados")]
    pub tickets_created: usize,
    /// From creation to assignment.
    #[serde(rename = "espera_en_cola")]
    pub queue_wait: DurationStats,
    /// From creation to the first answer by staff.
    #[serde(rename = "primera_respuesta")]
    pub first_response: DurationStats,
    /// From creation to resolution.
    #[serde(rename = "resolucion")]
    pub resolution: DurationStats,
    #[serde(rename = "por_agente")]
    pub by_agent: Vec<AgentStats>,
    /// Ratings of the tickets created in the range.
    pub csat: CsatStats,
}

/// The body of every 4xx/5xx answer.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct ErrorBody {
    #[serde(rename = "detalle")]
    pub detail: String,
    /// The ticket a conflict is about (an `external_id` already used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketId>,
    /// Why, as a code, where a client may act on it (an edit too late, a
    /// message deleted already, …).
    #[serde(default, rename = "codigo", skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub code: Option<crate::ErrorCode>,
}

/// `PATCH /api/soporte/tickets/{id}/chat/mensajes/{mensaje_id}/`.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct EditInput {
    /// The new text.
    #[serde(rename = "mensaje")]
    pub text: String,
}

/// One earlier text of a message, as supervisors audit it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct MessageVersion {
    /// The ticket's revision the change took.
    pub rev: u64,
    /// What the message said before the change.
    #[serde(rename = "contenido")]
    pub content: String,
    #[serde(rename = "cambio")]
    pub change: crate::MessageChange,
    /// Who changed it.
    #[serde(rename = "por")]
    pub by: Person,
    #[serde(rename = "en")]
    pub at: Timestamp,
}

/// `GET …/chat/mensajes/{mensaje_id}/versiones/`: every earlier text of a
/// message, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct MessageHistory {
    #[serde(rename = "mensaje_id")]
    pub message_id: MessageId,
    #[serde(rename = "versiones")]
    pub versions: Vec<MessageVersion>,
}

/// `PUT /api/soporte/usuarios/{id}/`: a user as the host provisions them.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    #[serde(rename = "nombre")]
    pub name: String,
    #[serde(rename = "rol")]
    pub role: Role,
    #[serde(default)]
    pub avatar: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// `false` leaves an agent out of assignment and transfer lists.
    #[serde(default)]
    #[serde(rename = "activo")]
    pub active: Option<bool>,
}

/// A user as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct UserView {
    pub id: UserId,
    #[serde(rename = "nombre")]
    pub name: String,
    #[serde(rename = "rol")]
    pub role: Role,
    pub avatar: Option<String>,
    pub email: Option<String>,
    #[serde(rename = "activo")]
    pub active: bool,
}

/// `GET /api/soporte/usuarios/{id}/export/`: everything Soporte keeps about
/// a person.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct UserExport {
    #[serde(rename = "usuario")]
    pub user: UserView,
    /// Tickets they are the customer or the agent of.
    pub tickets: Vec<crate::webhook::HostTicket>,
    /// Every message they wrote, oldest first, with its attachments.
    #[serde(rename = "mensajes")]
    pub messages: Vec<Message>,
    /// Erasures of their data: who asked, when, how much.
    #[serde(rename = "eliminaciones")]
    pub erasures: Vec<ErasureRecord>,
    #[serde(rename = "exportado")]
    pub exported: Timestamp,
}

/// A record of an erasure (kept after the data is gone).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct ErasureRecord {
    #[serde(rename = "por")]
    pub by: String,
    #[serde(rename = "en")]
    pub at: Timestamp,
    #[serde(rename = "mensajes")]
    pub messages: u64,
    #[serde(rename = "archivos")]
    pub files: u64,
}
