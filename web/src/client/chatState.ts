// The state of one ticket's chat, as ChatStore keeps it, and the pure
// transitions that do not need timers. Every change makes a new snapshot; the
// arrays inside are never mutated.
import type { FinalReason } from './closeCodes';
import * as list from './messages';
import type { OutgoingMessage } from './outbox';
import type { ChatRefusal } from './SoporteChatWebSocket';
import type { ChatTransferred, ConnectionEstablished, ConnectionStatus, FileUploaded, HoursStatus, Limits, Me, Message, QueueStatus, Participant, Person, Ticket } from './types';

/** One upload in progress (or just finished: the full bar stays a moment). */
export interface UploadState {
  id: string;
  fileName: string;
  progress: number;
}

/** What went wrong, as a value to switch on (the components translate it). */
export type ChatError =
  /** The ticket was transferred away from this agent (close 4001): final. */
  | { kind: 'transferred' }
  /** The ticket no longer exists (close 4004): final. */
  | { kind: 'ticketGone' }
  /** Another final close (4000–4099) this client does not know by name. */
  | { kind: 'closed'; code: number; reason: string }
  /** The server refused the connection (a REST probe told why): 401, 403 or 404. */
  | { kind: 'refused'; status: number; detalle: string }
  /** `maxReconnectAttempts` attempts in a row failed; `reconnect()` starts over. */
  | { kind: 'reconnectFailed'; attempts: number }
  /** Older history could not be loaded. */
  | { kind: 'history'; detalle: string };

export interface ChatState {
  ticketId: number;
  connection: ConnectionStatus;
  /** Unique (by `id`, and `client_id` for optimistic copies), confirmed ones in `seq` order. */
  messages: readonly Message[];
  participants: readonly Participant[];
  /** Who is typing now, others only. */
  typing: readonly Person[];
  ticket: Ticket | null;
  currentUser: Person | null;
  limits: Limits | null;
  uploads: readonly UploadState[];
  /** Messages written and not yet confirmed by the server, oldest first. */
  outbox: readonly OutgoingMessage[];
  error: ChatError | null;
  /** Whether older messages may exist before the oldest held. */
  hasMore: boolean;
  loadingOlder: boolean;
  draft: string;
  /** The team's hours as of the last greeting (`null` until read, or unreadable). */
  hours: HoursStatus | null;
  /** The user as the server knows them (their email, whether it sends email); `null` until read. */
  profile: Me | null;
  /** A customer's ticket waiting for an agent: its place in the queue (`null`: not waiting, or unknown). */
  queue: QueueStatus | null;
  /** Messages from others that arrived live (not history), counted, and the last one: what attention signals are about. */
  arrivals: { count: number; last: Message | null };
  /** The ticket's revision of edits the held messages reflect (from the last greeting); `null`: unknown. */
  rev: number | null;
  /** The message the next one answers (shown quoted above the composer), or null. */
  replyTo: number | null;
}

export function initialChatState(ticketId: number, seed: Partial<ChatState> = {}): ChatState {
  return {
    ticketId,
    connection: 'disconnected',
    messages: [],
    participants: [],
    typing: [],
    ticket: null,
    currentUser: null,
    limits: null,
    uploads: [],
    outbox: [],
    error: null,
    hasMore: true,
    loadingOlder: false,
    draft: '',
    hours: null,
    profile: null,
    queue: null,
    arrivals: { count: 0, last: null },
    rev: null,
    replyTo: null,
    ...seed,
  };
}

/** Who writes when the token says nothing. */
const ANONYMOUS: Person = { id: null, nombre: 'Tú', tipo: 'CLIENTE', avatar: null };

/** The copy of an outgoing message shown at once as ENVIANDO, with its final `client_id`. */
export function optimisticMessage(outgoing: OutgoingMessage, author: Person | null): Message {
  // An outbox restored from storage may predate `metadata`.
  const metadata = outgoing.metadata ?? {};
  return {
    replyTo: outgoing.reply_to ?? null,
    client_id: outgoing.client_id,
    timestamp: outgoing.timestamp,
    autor: author ?? ANONYMOUS,
    contenido: outgoing.mensaje,
    tipo: 'TEXTO',
    estado: 'ENVIANDO',
    archivos: [],
    metadata,
    interno: metadata.interno === true,
  };
}

/**
 * `connection_established`: who we are, the ticket and its people, and the
 * history merged into what is held. With a stale cursor (isStaleCursor) the
 * confirmed messages held go and the list starts over from the greeting; the
 * unconfirmed ones stay, as they will be resent.
 */
export function applyGreeting(state: ChatState, data: ConnectionEstablished): Partial<ChatState> {
  const stale = list.isStaleCursor(data);
  const history = data.historial_reciente ?? [];
  const base = stale ? state.messages.filter((m) => m.id === undefined) : state.messages;
  const patch: Partial<ChatState> = {
    error: null,
    currentUser: data.usuario,
    participants: data.participants ?? [],
    ticket: data.ticket,
    limits: data.limites ?? state.limits,
    messages: list.applyUpdates(list.mergeMessages(base, history), data.actualizados ?? []),
    rev: data.rev ?? state.rev,
  };
  // A fresh start (no `since`, or a resync) tells whether older messages exist;
  // a resume only adds what came after.
  if (data.since === null || data.since === undefined || stale) {
    const oldest = list.oldestSeq(history);
    patch.hasMore = oldest !== null && oldest > 1;
  }
  return patch;
}

/** `chat_transferred`: the new agent takes the previous one's place, and the transfer message joins the list. */
export function applyTransfer(state: ChatState, data: ChatTransferred): Partial<ChatState> {
  const others = state.participants.filter((p) => p.id !== data.agente_anterior?.id && p.id !== data.nuevo_agente.id);
  return {
    participants: [...others, data.nuevo_agente],
    messages: data.mensaje ? list.mergeMessages(state.messages, [data.mensaje]) : state.messages,
  };
}

/** `agente_joined` / `agente_left`: one entry per person, updated in place when known. */
export function applyPresence(participants: readonly Participant[], who: Participant, joined: boolean): readonly Participant[] {
  if (joined) return [...participants.filter((p) => p.id !== who.id), who];
  return participants.map((p) => (p.id === who.id ? { ...p, ...who } : p));
}

/**
 * Attaches files whose `file_uploaded` arrived before their message; returns
 * the list and the files still waiting.
 */
export function attachWaiting(messages: readonly Message[], waiting: readonly FileUploaded[]): [readonly Message[], FileUploaded[]] {
  let out = messages;
  const still: FileUploaded[] = [];
  for (const file of waiting) {
    const next = list.attachFile(out, file);
    if (next === null) still.push(file);
    else out = next;
  }
  return [out, still];
}

/** Whether `error` ends the chat for good: nothing more can be sent on it. */
export function isFinalError(error: ChatError | null): boolean {
  return error !== null && (error.kind === 'transferred' || error.kind === 'ticketGone' || error.kind === 'closed' || error.kind === 'refused');
}

/** The error shown for a final close or a refused connection. */
export function refusalError(refusal: ChatRefusal): ChatError {
  if (refusal.kind === 'refused') return { kind: 'refused', status: refusal.status, detalle: refusal.detalle };
  const byReason: Record<FinalReason, ChatError> = {
    transferred: { kind: 'transferred' },
    ticketGone: { kind: 'ticketGone' },
    closed: { kind: 'closed', code: refusal.code, reason: refusal.detalle },
  };
  return byReason[refusal.reason];
}

/**
 * Whether the customer is asked to rate the conversation now: the server
 * asked where it recorded the ticket's resolution or close (`pide_valoracion`),
 * the ticket is still resolved or closed, and it has no rating yet.
 */
export function ratingRequested(state: Pick<ChatState, 'ticket' | 'messages' | 'currentUser'>): boolean {
  const { ticket, currentUser } = state;
  if (!ticket || ticket.csat || currentUser?.tipo !== 'CLIENTE') return false;
  if (ticket.estado !== 'RESUELTO' && ticket.estado !== 'CERRADO') return false;
  return state.messages.some((m) => m.metadata?.evento === 'estado' && m.metadata?.pide_valoracion === true);
}
