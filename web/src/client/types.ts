// Wire types of the Soporte protocol (docs/PROTOCOL.md), kept by hand in step
// with crates/protocol (to be generated from it with ts-rs). Field names stay in
// Spanish, as the server sends them. Frame unions built on these live in
// frames.ts; client-only types (state, config) live next to their code.

export type Role = 'CLIENTE' | 'AGENTE' | 'SUPERVISOR';
export type AuthorType = Role | 'SISTEMA';
export type MessageKind = 'TEXTO' | 'ARCHIVO' | 'SISTEMA' | 'TRANSFERENCIA';
/** `ENVIANDO` and `ERROR` exist only on a client's optimistic copy. */
export type MessageState = 'ENVIANDO' | 'ENTREGADO' | 'LEIDO' | 'ERROR';
export type TicketState = 'ABIERTO' | 'EN_ESPERA' | 'RESUELTO' | 'CERRADO';
export type ConnectionStatus = 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'error';

export interface Person {
  id: number | null;
  nombre: string;
  tipo: AuthorType;
  avatar: string | null;
}

export interface Participant extends Person {
  online?: boolean;
  lastSeen?: string | null;
}

export interface Attachment {
  id: number;
  nombre: string;
  tamaño: number;
  tipo_mime: string;
  url: string;
  thumbnail_url?: string | null;
}

export interface FileUploaded extends Attachment {
  mensaje_id: number;
  ticket: number;
}

export interface Message {
  /** Server id; absent on an optimistic copy that is not confirmed yet. */
  id?: number;
  client_id: string | null;
  ticket?: number;
  seq?: number;
  timestamp: string;
  autor: Person;
  contenido: string;
  tipo: MessageKind;
  estado: MessageState;
  archivos: Attachment[];
  replyTo?: number | null;
  editado?: boolean;
  eliminado?: boolean;
  /** When it was last edited or deleted. */
  editado_en?: string;
  /** The ticket's revision of its last change: of two copies, the higher is newer. */
  rev?: number;
  metadata?: Record<string, unknown>;
  interno?: boolean;
  /** Client only: why an optimistic message failed (the server's Spanish text). */
  error?: string;
  /** Client only: the `codigo` of that refusal, for other languages. */
  errorCode?: string;
}

export interface Ticket {
  id: number;
  asunto: string;
  estado: TicketState;
  cliente: Person;
  agente: Person | null;
  creado: string;
  actualizado: string;
  last_seq: number;
  /** The customer's rating, once given. */
  csat?: Rating | null;
}

/** The team's hours and whether it is in now (`GET /api/soporte/horario/`). */
export type { HoursStatus } from '../generated/HoursStatus';
export type { Me } from '../generated/Me';
export type { QueueStatus } from '../generated/QueueStatus';
export type { SearchHit } from '../generated/SearchHit';
export type { SearchResults } from '../generated/SearchResults';
export type { TeamStats } from '../generated/TeamStats';
export type { DurationStats } from '../generated/DurationStats';
export type { TranscriptQueued } from '../generated/TranscriptQueued';
export type { BusinessHours } from '../generated/BusinessHours';
export type { MessageHistory } from '../generated/MessageHistory';
export type { MessageVersion } from '../generated/MessageVersion';

/** A customer's rating of how their ticket was handled (CSAT). */
export interface Rating {
  /** 1 to 5. */
  puntuacion: number;
  comentario?: string | null;
  creado: string;
}

export interface TicketView extends Ticket {
  no_leidos: number;
  ultimo_mensaje: Message | null;
}

export interface Limits {
  max_mensaje: number;
  heartbeat_ms: number;
  typing_timeout_ms: number;
  mensajes_por_segundo: number;
  /** How long an author may edit a message, in ms (0: no editing; absent: unknown). */
  edicion_ms?: number;
}

export interface ConnectionEstablished {
  usuario: Participant;
  ticket: Ticket;
  participants: Participant[];
  historial_reciente: Message[];
  since: number | null;
  /** The id of the server's history; sent back with `since` on resume. */
  epoch?: string;
  /** The client's cursor belonged to another history: start over from `historial_reciente`. */
  resync?: boolean;
  last_seq: number;
  /** The ticket's revision of edits and deletions: sent back as `rev` on resume. */
  rev?: number;
  /** Resuming with `rev`: messages held (`seq <= since`) changed since, as they now are. */
  actualizados?: Message[];
  limites?: Limits;
}

export interface MessageConfirmed {
  client_id: string;
  mensaje_id: number;
  timestamp: string;
  seq: number;
  duplicado?: boolean;
}

export interface ChatTransferred {
  ticket: number;
  agente_anterior: Participant | null;
  nuevo_agente: Participant;
  motivo: string;
  mensaje_automatico: string;
  timestamp: string;
  mensaje: Message;
}

/** Why a ticket changed (`TicketChange`). */
export type TicketChange = 'nuevo' | 'asignado' | 'transferido' | 'estado';

export interface TicketUpdated {
  evento: TicketChange;
  ticket: Ticket;
}

export interface MessagesRead {
  lector: Person;
  message_ids: number[];
  timestamp: string;
}

export interface TypingEvent {
  usuario: Person;
  timestamp?: string;
}

/** `codigo` of an `error` frame (`ErrorCode`, docs/PROTOCOL.md §2.9). */
export type ErrorCode =
  | 'json_invalido'
  | 'tipo_desconocido'
  | 'datos_invalidos'
  | 'mensaje_vacio'
  | 'mensaje_demasiado_largo'
  | 'frame_demasiado_grande'
  | 'limite_de_frecuencia'
  | 'sin_permiso'
  | 'ticket_cerrado'
  | 'mensaje_no_encontrado'
  | 'no_es_autor'
  | 'fuera_de_plazo'
  | 'ya_eliminado'
  | 'no_editable'
  | 'archivo_demasiado_grande'
  | 'tipo_no_permitido'
  | 'cuota_excedida'
  | 'espacio_insuficiente'
  | 'no_disponible'
  | 'error_almacenamiento'
  | 'error_interno';

/** The `data` of an `error` frame (`ErrorFrame`). */
export interface ServerError {
  codigo: ErrorCode;
  detalle: string;
  tipo?: string;
  client_id?: string;
  /** The message a refused `editar_mensaje` or `eliminar_mensaje` named. */
  mensaje_id?: number;
}

/** `agente_joined` / `agente_left`, and (to staff) `cliente_joined` / `cliente_left`. */
export interface PresenceEvent {
  usuario: Participant;
  timestamp: string;
}

/** The server's answer to a client `heartbeat`. */
export interface Heartbeat {
  timestamp: string;
}

/** `data` of a client `mensaje` frame (`SendMessage`). */
export interface SendMessage {
  mensaje: string;
  client_id: string;
  timestamp?: string;
  metadata?: Record<string, unknown>;
  /** The earlier message of the ticket it answers. */
  reply_to?: number;
}

/** `mensaje_actualizado`: a message edited or deleted, as it now is. */
export interface MessageUpdated {
  evento: 'editado' | 'eliminado';
  mensaje: Message;
}

/** `data` of a client `file_upload_request` frame. */
export interface FileUploadRequest {
  nombre_archivo: string;
  tamaño: number;
  tipo_mime: string;
}

/** `file_upload_authorized` (`FileUploadAuthorized`). */
export interface UploadAuthorization {
  upload_id: string;
  upload_url: string;
  headers: Record<string, string>;
  expires_at: string;
  max_size: number;
  nombre: string;
}

export interface AgentView {
  id: number;
  nombre: string;
  avatar: string | null;
  disponibilidad: 'disponible' | 'ausente';
  online: boolean;
  tickets_abiertos: number;
}

export interface InboxSnapshot {
  usuario: Person;
  tickets: TicketView[];
  agentes: AgentView[];
  /** When `tickets` is not all of them: the REST list page that follows. */
  next?: string | null;
}

/** `GET /api/soporte/tickets/`: one page, newest activity first. */
export interface TicketList {
  count: number;
  results: TicketView[];
  /** The next page's URL; `null` on the last. */
  next?: string | null;
}

export interface InboxMessage {
  ticket: number;
  mensaje_id: number;
  seq: number;
  autor: Person;
  contenido: string;
  tipo: MessageKind;
  interno: boolean;
  timestamp: string;
}

export interface InboxTyping {
  ticket: number;
  usuario: Person;
  escribiendo: boolean;
}

export interface CannedResponse {
  id: number;
  atajo: string;
  texto: string;
  creado_por: number;
  creado: string;
  actualizado: string;
}

export interface HistoryPage {
  count: number;
  next: string | null;
  previous: string | null;
  results: Message[];
}

/** A token, or a function that returns a fresh one (called before each connection). */
export type TokenSource = string | (() => string | Promise<string>);

/** What a `Storage` offers that the client uses (localStorage, or a test double). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Aliases for the root export, where `Message` and `ConnectionStatus` are components. */
export type ChatMessage = Message;
export type ConnectionState = ConnectionStatus;
