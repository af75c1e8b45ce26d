import type {
  AgentView,
  CannedResponse,
  ErrorCode,
  Message,
  MessageHistory,
  HistoryPage,
  HoursStatus,
  Me,
  QueueStatus,
  SearchResults,
  TeamStats,
  Person,
  Rating,
  Ticket,
  TicketState,
  TicketView,
  TokenSource,
  TranscriptQueued,
} from './types';
import { storedAuthToken } from './token';
import { pageOrigin, resolveToken } from './util';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** The server's `codigo`, where it gives one (edits and deletions). */
    readonly codigo?: ErrorCode,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ChatSyncConfig {
  /** Server base, e.g. `http://localhost:8000` (a trailing `/api` is dropped). Default: the page's origin. */
  baseUrl?: string;
  /** Without `token` and `getToken`, localStorage `authToken` is read for each call, as in the seed. */
  token?: TokenSource;
  getToken?: () => string | Promise<string>;
  fetchImpl?: typeof fetch;
}

export interface OfflineMessage {
  client_id: string;
  /** The text; `mensaje` (the socket's field name) is accepted too. */
  contenido?: string;
  mensaje?: string;
  timestamp?: string;
  metadata?: Record<string, unknown>;
  reply_to?: number;
}

export interface SyncResult {
  results: { client_id: string; mensaje_id: number; seq: number; timestamp: string; duplicado: boolean }[];
  errores: { client_id: string; codigo: string; detalle: string }[];
}

/**
 * The REST side (docs/PROTOCOL.md §4): the seed's `ChatSync` (history, offline
 * sync, mark-read, stats) plus tickets, assignment, state, transfer, the team
 * and canned responses. GETs carry no `Content-Type` and no `Authorization`
 * without a token (defect D10).
 *
 * Both the seed's form, `new ChatSync('http://localhost:8000/api')` with the
 * token read from localStorage `authToken` on each call, and a config object
 * are accepted.
 */
export class ChatSync {
  private readonly baseUrl: string;
  private readonly config: ChatSyncConfig;

  constructor(config: ChatSyncConfig | string = {}) {
    this.config = typeof config === 'string' ? { baseUrl: config } : config;
    this.baseUrl = (this.config.baseUrl ?? pageOrigin()).replace(/\/$/, '').replace(/\/api$/, '');
  }

  /** The seed's `apiBase`: the server base with `/api`. */
  get apiBase(): string {
    return `${this.baseUrl}/api`;
  }

  private async token(): Promise<string | null> {
    const { getToken, token } = this.config;
    if (getToken) return (await getToken()) || null;
    if (token !== undefined) return resolveToken(token);
    return storedAuthToken();
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const token = await this.token();
    const headers: Record<string, string> = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const fetchImpl = this.config.fetchImpl ?? fetch;
    const response = await fetchImpl(`${this.baseUrl}/api/soporte/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) return undefined as T;
    const data: unknown = await response.json().catch(() => null);
    if (!response.ok) {
      const body = typeof data === 'object' && data !== null ? (data as { detalle?: unknown; codigo?: unknown }) : {};
      const detalle = typeof body.detalle === 'string' ? body.detalle : null;
      const codigo = typeof body.codigo === 'string' ? (body.codigo as ErrorCode) : undefined;
      throw new ApiError(detalle ?? `HTTP ${response.status}`, response.status, codigo);
    }
    return data as T;
  }

  fetchChatHistory(ticketId: number, options: { page?: number; size?: number; before?: number } | number = {}, size?: number): Promise<HistoryPage> {
    const opts = typeof options === 'number' ? { page: options, size } : options;
    const query = new URLSearchParams();
    query.set('page', String(opts.page ?? 1));
    query.set('size', String(opts.size ?? 50));
    if (opts.before !== undefined) query.set('before', String(opts.before));
    return this.request('GET', `tickets/${ticketId}/chat/historial/?${query}`);
  }

  /** Sends messages written offline (defect D9: takes the socket queue's shape too). */
  syncOfflineMessages(ticketId: number, messages: OfflineMessage[]): Promise<SyncResult> {
    return this.request('POST', `tickets/${ticketId}/chat/sync/`, {
      messages: messages.map((m) => ({
        client_id: m.client_id,
        contenido: m.contenido ?? m.mensaje ?? '',
        timestamp: m.timestamp,
        metadata: m.metadata ?? {},
        ...(m.reply_to !== undefined ? { reply_to: m.reply_to } : {}),
      })),
    });
  }

  /** A new text for one of the caller's messages (within the server's edit window). */
  editMessage(ticketId: number, messageId: number, mensaje: string): Promise<Message> {
    return this.request('PATCH', `tickets/${ticketId}/chat/mensajes/${messageId}/`, { mensaje });
  }

  /** Deletes a message: the author's own, or (staff) anyone's. */
  deleteMessage(ticketId: number, messageId: number): Promise<Message> {
    return this.request('DELETE', `tickets/${ticketId}/chat/mensajes/${messageId}/`);
  }

  /** What a message said before each change (supervisors). */
  messageVersions(ticketId: number, messageId: number): Promise<MessageHistory> {
    return this.request('GET', `tickets/${ticketId}/chat/mensajes/${messageId}/versiones/`);
  }

  markAsRead(ticketId: number, messageIds: number[]): Promise<{ marcados: number[]; no_leidos: number }> {
    return this.request('POST', `tickets/${ticketId}/chat/mark-read/`, { message_ids: messageIds });
  }

  getChatStats(ticketId: number): Promise<Record<string, unknown>> {
    return this.request('GET', `tickets/${ticketId}/chat/stats/`);
  }

  listTickets(limit = 100): Promise<{ count: number; results: TicketView[] }> {
    return this.request('GET', `tickets/?limit=${limit}`);
  }

  getTicket(ticketId: number): Promise<TicketView> {
    return this.request('GET', `tickets/${ticketId}/`);
  }

  createTicket(asunto: string, cliente?: Pick<Person, 'id' | 'nombre'>): Promise<TicketView> {
    return this.request('POST', 'tickets/', cliente ? { asunto, cliente } : { asunto });
  }

  assign(ticketId: number, agenteId?: number): Promise<Ticket> {
    return this.request('POST', `tickets/${ticketId}/assign/`, agenteId === undefined ? {} : { agente_id: agenteId });
  }

  setEstado(ticketId: number, estado: TicketState): Promise<Ticket> {
    return this.request('POST', `tickets/${ticketId}/estado/`, { estado });
  }

  /** The team's business hours, whether it is in now and its typical reply time. */
  getHours(): Promise<HoursStatus> {
    return this.request('GET', 'horario/');
  }

  /** The team's statistics over a period (supervisors): waits, first replies, resolutions, CSAT, per agent. */
  teamStats(range: { desde?: string; hasta?: string } = {}): Promise<TeamStats> {
    const params = new URLSearchParams();
    if (range.desde) params.set('desde', range.desde);
    if (range.hasta) params.set('hasta', range.hasta);
    return this.request('GET', `stats/?${params}`);
  }

  /** Searches what the caller may read (`GET /buscar/`): ranked hits with their matches. */
  search(q: string, filters: { estado?: TicketState; agente?: number; cliente?: number; page?: number } = {}): Promise<SearchResults> {
    const params = new URLSearchParams({ q });
    for (const [key, value] of Object.entries(filters)) if (value !== undefined) params.set(key, String(value));
    return this.request('GET', `buscar/?${params}`);
  }

  /** Where a ticket waiting for an agent stands: its place and the typical wait. */
  getQueue(ticketId: number): Promise<QueueStatus> {
    return this.request('GET', `tickets/${ticketId}/cola/`);
  }

  /** Who the token names, their email and whether the server sends email. */
  getMe(): Promise<Me> {
    return this.request('GET', 'yo/');
  }

  /** The address the caller wants to be emailed at. */
  setMyEmail(email: string): Promise<Me> {
    return this.request('PATCH', 'yo/', { email });
  }

  /** Emails the ticket's conversation to its customer (`email`: one the customer gives). */
  requestTranscript(ticketId: number, email?: string): Promise<TranscriptQueued> {
    return this.request('POST', `tickets/${ticketId}/transcripcion/`, email ? { email } : {});
  }

  /** The ticket's customer rates it, 1 to 5 (once; 409 after). */
  rateTicket(ticketId: number, puntuacion: number, comentario?: string): Promise<Rating> {
    return this.request('POST', `tickets/${ticketId}/csat/`, comentario ? { puntuacion, comentario } : { puntuacion });
  }

  transfer(ticketId: number, agenteId: number, motivo = ''): Promise<Ticket> {
    return this.request('POST', `tickets/${ticketId}/chat/transfer/`, { agente_id: agenteId, motivo });
  }

  listAgentes(): Promise<AgentView[]> {
    return this.request('GET', 'agentes/');
  }

  setDisponibilidad(disponibilidad: 'disponible' | 'ausente'): Promise<AgentView> {
    return this.request('POST', 'agentes/disponibilidad/', { disponibilidad });
  }

  listRespuestas(): Promise<CannedResponse[]> {
    return this.request('GET', 'respuestas/');
  }

  createRespuesta(atajo: string, texto: string): Promise<CannedResponse> {
    return this.request('POST', 'respuestas/', { atajo, texto });
  }

  deleteRespuesta(id: number): Promise<void> {
    return this.request('DELETE', `respuestas/${id}/`);
  }
}
