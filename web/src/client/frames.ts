// The protocol's frames as discriminated unions on `tipo`, built on the wire
// types of types.ts (crates/protocol/src/server.rs `ServerFrame` and
// client.rs `ClientFrame`), and the one place where a text frame from the
// server becomes a typed value.
import type {
  AgentView,
  ChatTransferred,
  ConnectionEstablished,
  FileUploaded,
  FileUploadRequest,
  Heartbeat,
  InboxMessage,
  InboxSnapshot,
  InboxTyping,
  Message,
  MessageConfirmed,
  MessagesRead,
  MessageUpdated,
  PresenceEvent,
  SendMessage,
  ServerError,
  TicketUpdated,
  TypingEvent,
  UploadAuthorization,
} from './types';

/** The envelope every frame has, in both directions. */
export interface Frame<T extends string, D> {
  tipo: T;
  data: D;
}

/** Every frame the server sends, on either socket. */
export type ServerFrame =
  | Frame<'connection_established', ConnectionEstablished>
  | Frame<'mensaje_confirmado', MessageConfirmed>
  | Frame<'mensaje_recibido', Message>
  | Frame<'mensaje_actualizado', MessageUpdated>
  | Frame<'usuario_escribiendo', TypingEvent>
  | Frame<'usuario_dejo_escribir', TypingEvent>
  | Frame<'mensajes_leidos', MessagesRead>
  | Frame<'agente_joined', PresenceEvent>
  | Frame<'agente_left', PresenceEvent>
  | Frame<'cliente_joined', PresenceEvent>
  | Frame<'cliente_left', PresenceEvent>
  | Frame<'chat_transferred', ChatTransferred>
  | Frame<'ticket_actualizado', TicketUpdated>
  | Frame<'inbox', InboxSnapshot>
  | Frame<'inbox_mensaje', InboxMessage>
  | Frame<'inbox_escribiendo', InboxTyping>
  | Frame<'agente_disponibilidad', AgentView>
  | Frame<'file_upload_authorized', UploadAuthorization>
  | Frame<'file_uploaded', FileUploaded>
  | Frame<'heartbeat', Heartbeat>
  | Frame<'error', ServerError>;

export type ServerFrameType = ServerFrame['tipo'];

/** Which socket sends each frame (docs/PROTOCOL.md §2.5 and §3.3). A
 *  `Record` over every `tipo`, so a frame added to `ServerFrame` fails to
 *  compile until it is placed here. */
const SENT_ON = {
  connection_established: 'ticket',
  mensaje_confirmado: 'ticket',
  mensaje_recibido: 'ticket',
  mensaje_actualizado: 'both',
  usuario_escribiendo: 'ticket',
  usuario_dejo_escribir: 'ticket',
  mensajes_leidos: 'ticket',
  agente_joined: 'ticket',
  agente_left: 'ticket',
  cliente_joined: 'ticket',
  cliente_left: 'ticket',
  file_upload_authorized: 'ticket',
  file_uploaded: 'ticket',
  chat_transferred: 'both',
  ticket_actualizado: 'both',
  heartbeat: 'both',
  error: 'both',
  inbox: 'inbox',
  inbox_mensaje: 'inbox',
  inbox_escribiendo: 'inbox',
  agente_disponibilidad: 'inbox',
} as const satisfies Record<ServerFrameType, 'ticket' | 'inbox' | 'both'>;

type SentOn = typeof SENT_ON;
export type TicketFrameType = { [K in ServerFrameType]: SentOn[K] extends 'inbox' ? never : K }[ServerFrameType];
export type InboxFrameType = { [K in ServerFrameType]: SentOn[K] extends 'ticket' ? never : K }[ServerFrameType];

/** A frame of the ticket socket (`/ws/soporte/ticket/{id}/`). */
export type TicketFrame = Extract<ServerFrame, { tipo: TicketFrameType }>;
/** A frame of the agents' inbox socket (`/ws/soporte/agentes/`). */
export type InboxFrame = Extract<ServerFrame, { tipo: InboxFrameType }>;

/** Every frame a client sends. */
export type ClientFrame =
  | Frame<'mensaje', SendMessage>
  | Frame<'typing_start', { timestamp: string }>
  | Frame<'typing_stop', { timestamp: string }>
  | Frame<'heartbeat', { timestamp: string }>
  | Frame<'file_upload_request', FileUploadRequest>
  | Frame<'editar_mensaje', { mensaje_id: number; mensaje: string }>
  | Frame<'eliminar_mensaje', { mensaje_id: number }>;

/** The inbox takes only heartbeats (docs/PROTOCOL.md §3.4). */
export type InboxClientFrame = Extract<ClientFrame, { tipo: 'heartbeat' }>;

/** The envelope of a text frame, or null when it is not one. */
function envelope(text: string): { tipo: string; data: unknown } | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { tipo, data } = value as { tipo?: unknown; data?: unknown };
  if (typeof tipo !== 'string') return null;
  return { tipo, data };
}

function isTicketType(tipo: string): tipo is TicketFrameType {
  return Object.hasOwn(SENT_ON, tipo) && SENT_ON[tipo as ServerFrameType] !== 'inbox';
}

function isInboxType(tipo: string): tipo is InboxFrameType {
  return Object.hasOwn(SENT_ON, tipo) && SENT_ON[tipo as ServerFrameType] !== 'ticket';
}

/**
 * A ticket socket's text frame as a typed frame; null for text that is not a
 * frame and for a `tipo` this socket does not send, which are ignored
 * (docs/PROTOCOL.md §2.16). Only the envelope is checked: `data` is trusted to
 * have the shape of its `tipo`, since the types mirror the server's own.
 */
export function parseTicketFrame(text: string): TicketFrame | null {
  const frame = envelope(text);
  return frame && isTicketType(frame.tipo) ? (frame as TicketFrame) : null;
}

/** The inbox's counterpart of `parseTicketFrame`. */
export function parseInboxFrame(text: string): InboxFrame | null {
  const frame = envelope(text);
  return frame && isInboxType(frame.tipo) ? (frame as InboxFrame) : null;
}
