import type { FinalReason } from './closeCodes';
import { Emitter, type Handler } from './emitter';
import { parseTicketFrame, type ClientFrame, type TicketFrame } from './frames';
import { isStaleCursor } from './messages';
import { Outbox, type OutgoingMessage } from './outbox';
import { probeRefusal } from './probe';
import { ReconnectingSocket, type NetworkEvents } from './ReconnectingSocket';
import { xhrUpload, type UploadProgress } from './upload';
import type {
  ChatTransferred,
  ConnectionEstablished,
  ConnectionStatus,
  ErrorCode,
  FileUploaded,
  Heartbeat,
  KeyValueStorage,
  Message,
  MessageConfirmed,
  MessagesRead,
  MessageUpdated,
  PresenceEvent,
  ServerError,
  TicketUpdated,
  TokenSource,
  TypingEvent,
  UploadAuthorization,
} from './types';
import { defaultStorage, generateClientId, httpToWs, pageOrigin, resolveToken, wsToHttp } from './util';

export interface SoporteChatConfig {
  /** WebSocket base, e.g. `ws://localhost:8000`. Default: the page's origin. */
  baseUrl?: string;
  /** HTTP base for REST probes. Default: derived from `baseUrl`. */
  apiBase?: string;
  /** First reconnection delay, doubled on each attempt (with jitter). */
  reconnectDelay?: number;
  /** Longest delay between two attempts. */
  maxReconnectDelay?: number;
  /** Attempts before giving up (`reconnectionFailed`). */
  maxReconnectAttempts?: number;
  /** A connection counts as healthy (attempts reset) after staying up this long. */
  stableAfter?: number;
  /** Application heartbeat period; the server's `limites.heartbeat_ms` wins. */
  heartbeatInterval?: number;
  /** An attempt with no greeting after this long is dropped and retried. */
  connectTimeout?: number;
  /** `startTyping` sends `typing_stop` after this much silence. */
  typingTimeout?: number;
  /** Where the outgoing queue is kept (default: localStorage). `null`: memory only. */
  storage?: KeyValueStorage | null;
  /**
   * Called for the first connection, after the server closes with 4100 (token
   * expired) and after an attempt that failed before the greeting: lets the
   * host refresh an expiring token. A rejection counts as a failed attempt.
   */
  getToken?: () => string | Promise<string>;
  /** Wait before resending messages the server refused for rate (`limite_de_frecuencia`). */
  retryDelay?: number;
  /** Times a message refused for a passing reason (rate, storage) is sent again before it fails (default 5). */
  maxRetries?: number;
  /** For tests: the WebSocket constructor. */
  WebSocketImpl?: typeof WebSocket;
  /** For tests: `fetch` used to probe why a connection was refused. */
  fetchImpl?: typeof fetch;
  /** For tests: where `online`/`offline` come from (default `window`). */
  network?: NetworkEvents | null;
  /** For tests: whether the browser is online (default `navigator.onLine`). */
  isOnline?: () => boolean;
  /** For tests: the jitter's random source. */
  random?: () => number;
}

/** Why the client stopped for good: a final close (4000–4099) or a refused upgrade. */
export type ChatRefusal =
  | { kind: 'final'; reason: FinalReason; code: number; detalle: string }
  | { kind: 'refused'; status: number; detalle: string };

/** Every event of `SoporteChatWebSocket`, with its payload. */
export interface ChatEvents {
  connected: { ticketId: number | string; timestamp: number };
  disconnected: { code: number; reason: string };
  reconnecting: { attempt: number; delay: number };
  reconnectionFailed: { attempts: number };
  statusChange: ConnectionStatus;
  connectionEstablished: ConnectionEstablished;
  messageReceived: Message;
  /** A message was edited or deleted (live). */
  messageUpdated: MessageUpdated;
  /** The server refused an `editar_mensaje` or `eliminar_mensaje` frame. */
  messageChangeRefused: ServerError;
  messageConfirmed: MessageConfirmed;
  /** The server refused a queued message for good: it left the outbox. */
  messageFailed: ServerError;
  /** Refused for now (rate, storage): it stays queued and is resent later. */
  messageDelayed: ServerError;
  messageQueued: { tipo: 'mensaje'; data: OutgoingMessage };
  messagesRead: MessagesRead;
  userTyping: TypingEvent;
  userStoppedTyping: TypingEvent;
  fileUploadAuthorized: UploadAuthorization;
  fileUploadRefused: ServerError;
  fileUploaded: FileUploaded;
  chatTransferred: ChatTransferred;
  ticketUpdated: TicketUpdated;
  agentJoined: PresenceEvent;
  agentLeft: PresenceEvent;
  /** Staff only: the ticket's customer came (first connection) or left (last). */
  customerJoined: PresenceEvent;
  customerLeft: PresenceEvent;
  heartbeat: Heartbeat;
  serverError: ServerError;
  refused: ChatRefusal;
  tokenError: unknown;
  error: Event;
}

/** Refusals that mean the message will never be accepted as it is. */
const FINAL_ERRORS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'mensaje_vacio',
  'mensaje_demasiado_largo',
  'datos_invalidos',
  'sin_permiso',
  'ticket_cerrado',
  'frame_demasiado_grande',
]);

type Greeting = Extract<TicketFrame, { tipo: 'connection_established' }>;

const now = () => new Date().toISOString();

/**
 * The ticket socket: the seed's `SoporteChatWebSocket`, with its defects fixed
 * (docs/SEED-DEFECTS.md), on a `ReconnectingSocket` (reconnection, heartbeat,
 * close-code policy). Reconnection keeps the ticket and token and resumes with
 * `since=lastSeq`; the outgoing queue is persisted and flushed with the same
 * `client_id`s; uploads wait for `file_upload_authorized` and report progress
 * through XMLHttpRequest. Events are listed in `ChatEvents`.
 */
export class SoporteChatWebSocket {
  readonly config: {
    baseUrl: string;
    apiBase: string;
    typingTimeout: number;
    retryDelay: number;
    maxRetries: number;
    getToken?: () => string | Promise<string>;
  };

  private readonly socket: ReconnectingSocket<TicketFrame, ClientFrame, Greeting>;
  private readonly emitter = new Emitter<ChatEvents>();
  private readonly storage: KeyValueStorage | null;
  private outbox: Outbox | null = null;
  private ticketId: number | string | null = null;
  private token: TokenSource | undefined;
  private lastSeq = 0;
  /** The id of the message at `lastSeq`, and the history it belongs to: with
   *  them the server can tell our cursor from one of another history. */
  private lastSeqId: number | null = null;
  private epoch: string | null = null;
  /** The ticket's revision of edits our copy reflects, sent back on resume. */
  private rev: number | null = null;
  private typingTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  /** How often each queued message was refused for a passing reason. */
  private readonly refusals = new Map<string, number>();
  private typing = false;
  private uploadChain: Promise<unknown> = Promise.resolve();

  constructor(config: SoporteChatConfig = {}) {
    const baseUrl = (config.baseUrl ?? httpToWs(pageOrigin())).replace(/\/$/, '');
    const apiBase = (config.apiBase ?? wsToHttp(baseUrl)).replace(/\/$/, '');
    this.config = {
      baseUrl,
      apiBase,
      typingTimeout: config.typingTimeout ?? 3000,
      retryDelay: config.retryDelay ?? 2000,
      maxRetries: config.maxRetries ?? 5,
      getToken: config.getToken,
    };
    this.storage = config.storage === undefined ? defaultStorage() : config.storage;
    this.socket = new ReconnectingSocket<TicketFrame, ClientFrame, Greeting>({
      url: (token) => this.url(token),
      getToken: () => this.tokenForConnection(),
      parse: parseTicketFrame,
      isGreeting: (frame): frame is Greeting => frame.tipo === 'connection_established',
      heartbeatFrame: () => JSON.stringify({ tipo: 'heartbeat', data: { timestamp: now() } } satisfies ClientFrame),
      probe: (token) =>
        probeRefusal(`${apiBase}/api/soporte/tickets/${encodeURIComponent(String(this.ticketId))}/`, token, {
          fetchImpl: config.fetchImpl,
          canRefreshToken: config.getToken !== undefined,
        }),
      reconnectDelay: config.reconnectDelay,
      maxReconnectDelay: config.maxReconnectDelay,
      maxReconnectAttempts: config.maxReconnectAttempts,
      stableAfter: config.stableAfter,
      heartbeatInterval: config.heartbeatInterval,
      connectTimeout: config.connectTimeout,
      WebSocketImpl: config.WebSocketImpl,
      network: config.network,
      isOnline: config.isOnline,
      random: config.random,
    });
    this.socket.on('frame', (frame) => this.handleMessage(frame));
    this.socket.on('status', (status) => this.emit('statusChange', status));
    this.socket.on('reconnecting', (attempt) => this.emit('reconnecting', attempt));
    this.socket.on('error', (event) => this.emit('error', event));
    this.socket.on('tokenError', (error) => this.emit('tokenError', error));
    this.socket.on('closed', ({ code, reason }) => {
      this.clearTimers();
      this.emit('disconnected', { code, reason });
    });
    this.socket.on('stopped', (why) => {
      if (why.kind === 'gaveUp') this.emit('reconnectionFailed', { attempts: why.attempts });
      else this.emit('refused', why);
    });
  }

  get status(): ConnectionStatus {
    return this.socket.status;
  }

  /** For the seed's shape: true while a reconnection is scheduled or dialing. */
  get isReconnecting(): boolean {
    return this.socket.isReconnecting;
  }

  /** The highest `seq` received from the room (not from own confirmations). */
  get lastSequence(): number {
    return this.lastSeq;
  }

  /** Messages written but not yet confirmed, oldest first. */
  pendingMessages(): OutgoingMessage[] {
    return this.outbox?.all() ?? [];
  }

  /**
   * Opens the ticket's socket. Resolves on `connection_established`; rejects
   * when the first attempt fails (reconnection goes on for network failures).
   * `since`: the highest `seq` the caller already holds (from a cache).
   */
  connect(
    ticketId: number | string,
    token?: TokenSource,
    options: { since?: number; sinceId?: number; epoch?: string; rev?: number } = {},
  ): Promise<ConnectionEstablished> {
    if (this.ticketId !== ticketId) {
      this.outbox = new Outbox(this.storage, `soporte_outbox_${ticketId}`);
      this.lastSeq = 0;
      this.lastSeqId = null;
      this.rev = null;
    }
    this.ticketId = ticketId;
    if (token !== undefined) this.token = token;
    if (options.since !== undefined && options.since > this.lastSeq) {
      this.lastSeq = options.since;
      this.lastSeqId = options.sinceId ?? null;
    }
    if (options.epoch !== undefined) this.epoch = options.epoch;
    if (options.rev !== undefined && options.rev > (this.rev ?? -1)) this.rev = options.rev;
    return this.greeting(this.socket.connect());
  }

  /** Reconnect now (a "reconnect" button), from attempt zero. */
  reconnect(): Promise<ConnectionEstablished> | null {
    if (this.ticketId === null) return null;
    return this.greeting(this.socket.reconnect());
  }

  private greeting(open: Promise<Greeting>): Promise<ConnectionEstablished> {
    return open.then((frame) => frame.data);
  }

  private async tokenForConnection(): Promise<string | null> {
    if (this.config.getToken) {
      const fresh = await this.config.getToken();
      if (fresh) return fresh;
    }
    return resolveToken(this.token);
  }

  private url(token: string | null): string {
    let since = '';
    if (this.lastSeq > 0) {
      since = `&since=${this.lastSeq}`;
      if (this.epoch) since += `&epoch=${encodeURIComponent(this.epoch)}`;
      if (this.lastSeqId !== null) since += `&since_id=${this.lastSeqId}`;
      // Without a known revision, 0: every change to what is held comes back.
      since += `&rev=${this.rev ?? 0}`;
    }
    return `${this.config.baseUrl}/ws/soporte/ticket/${encodeURIComponent(String(this.ticketId))}/?token=${encodeURIComponent(token ?? '')}${since}`;
  }

  /** Dispatches one server frame (public for the seed's shape). */
  handleMessage(frame: TicketFrame): void {
    switch (frame.tipo) {
      case 'connection_established':
        return this.onEstablished(frame.data);
      case 'mensaje_recibido':
        this.noteSeq(frame.data);
        return this.emit('messageReceived', frame.data);
      case 'mensaje_actualizado':
        return this.emit('messageUpdated', frame.data);
      case 'mensaje_confirmado':
        this.outbox?.remove(frame.data.client_id);
        this.refusals.delete(frame.data.client_id);
        return this.emit('messageConfirmed', frame.data);
      case 'usuario_escribiendo':
        return this.emit('userTyping', frame.data);
      case 'usuario_dejo_escribir':
        return this.emit('userStoppedTyping', frame.data);
      case 'mensajes_leidos':
        return this.emit('messagesRead', frame.data);
      case 'file_upload_authorized':
        return this.emit('fileUploadAuthorized', frame.data);
      case 'file_uploaded':
        return this.emit('fileUploaded', frame.data);
      case 'chat_transferred':
        this.noteSeq(frame.data.mensaje);
        return this.emit('chatTransferred', frame.data);
      case 'ticket_actualizado':
        return this.emit('ticketUpdated', frame.data);
      case 'agente_joined':
        return this.emit('agentJoined', frame.data);
      case 'agente_left':
        return this.emit('agentLeft', frame.data);
      case 'cliente_joined':
        return this.emit('customerJoined', frame.data);
      case 'cliente_left':
        return this.emit('customerLeft', frame.data);
      case 'heartbeat':
        return this.handleHeartbeat(frame.data);
      case 'error':
        return this.handleServerError(frame.data);
    }
  }

  private onEstablished(data: ConnectionEstablished): void {
    if (isStaleCursor(data)) {
      this.lastSeq = 0;
      this.lastSeqId = null;
    }
    if (data.epoch) this.epoch = data.epoch;
    // The greeting holds every change since our revision (`actualizados`): from
    // here on we are at its revision. Live changes do not move it (they may
    // arrive out of order); a resume sends them again, harmlessly.
    if (typeof data.rev === 'number') this.rev = data.rev;
    for (const message of data.historial_reciente ?? []) this.noteSeq(message);
    if (data.limites?.heartbeat_ms) this.socket.setHeartbeatInterval(data.limites.heartbeat_ms);
    this.emit('connectionEstablished', data);
    this.emit('connected', { ticketId: this.ticketId ?? '', timestamp: Date.now() });
    this.processMessageQueue();
  }

  private noteSeq(message: Message | undefined): void {
    if (message && typeof message.seq === 'number' && message.seq > this.lastSeq) {
      this.lastSeq = message.seq;
      this.lastSeqId = typeof message.id === 'number' ? message.id : null;
    }
  }

  /** Sends every unconfirmed message again, with its own `client_id` (defect D1). */
  processMessageQueue(): void {
    if (!this.socket.isReady() || !this.outbox) return;
    for (const message of this.outbox.all()) this.send({ tipo: 'mensaje', data: message });
  }

  /** The server answered our heartbeat (defect D2): the connection is alive. */
  handleHeartbeat(data: Heartbeat): void {
    this.emit('heartbeat', data);
  }

  private handleServerError(error: ServerError): void {
    this.emit('serverError', error);
    if (error.tipo === 'mensaje' && error.client_id && this.outbox?.has(error.client_id)) {
      const refused = (this.refusals.get(error.client_id) ?? 0) + 1;
      if (FINAL_ERRORS.has(error.codigo) || refused > this.config.maxRetries) {
        // Final, or passing refusals that did not pass: the person decides (retry or discard).
        this.refusals.delete(error.client_id);
        this.outbox.remove(error.client_id);
        this.emit('messageFailed', error);
      } else {
        this.refusals.set(error.client_id, refused);
        // Rate limit or storage trouble: keep it queued and try again shortly.
        this.emit('messageDelayed', error);
        this.retryTimer ??= setTimeout(() => {
          this.retryTimer = null;
          this.processMessageQueue();
        }, this.config.retryDelay);
      }
    }
    if (error.tipo === 'file_upload_request') this.emit('fileUploadRefused', error);
    if (error.tipo === 'editar_mensaje' || error.tipo === 'eliminar_mensaje') this.emit('messageChangeRefused', error);
  }

  /** The ticket's revision of edits this client's copy reflects (`null`: unknown). */
  currentRev(): number | null {
    return this.rev;
  }

  /** Asks to edit one of our messages; the answer is `messageUpdated` (or `messageChangeRefused`). */
  editMessage(messageId: number, mensaje: string): boolean {
    return this.send({ tipo: 'editar_mensaje', data: { mensaje_id: messageId, mensaje } });
  }

  /** Asks to delete a message; the answer is `messageUpdated` (or `messageChangeRefused`). */
  deleteMessage(messageId: number): boolean {
    return this.send({ tipo: 'eliminar_mensaje', data: { mensaje_id: messageId } });
  }

  /**
   * Queues `mensaje` and sends it when connected. Returns its `client_id`,
   * chosen before anything is sent (pass one to resend the same message).
   */
  sendMessage(mensaje: string, metadata: Record<string, unknown> = {}, clientId: string = generateClientId(), replyTo?: number): string {
    const message: OutgoingMessage = { mensaje, timestamp: now(), client_id: clientId, metadata };
    if (replyTo !== undefined) message.reply_to = replyTo;
    this.outbox ??= new Outbox(this.storage, `soporte_outbox_${this.ticketId ?? 'sin_ticket'}`);
    this.outbox.add(message);
    if (this.socket.isReady()) this.send({ tipo: 'mensaje', data: message });
    else this.emit('messageQueued', { tipo: 'mensaje', data: message });
    if (this.typing) this.clearTyping();
    return clientId;
  }

  /** Forgets a queued message (the user gave up on it). */
  discardMessage(clientId: string): void {
    this.outbox?.remove(clientId);
  }

  startTyping(): void {
    if (this.typingTimer) clearTimeout(this.typingTimer);
    if (!this.typing) this.typing = this.send({ tipo: 'typing_start', data: { timestamp: now() } });
    this.typingTimer = setTimeout(() => this.stopTyping(), this.config.typingTimeout);
  }

  stopTyping(): void {
    const wasTyping = this.typing;
    this.clearTyping();
    if (wasTyping) this.send({ tipo: 'typing_stop', data: { timestamp: now() } });
  }

  private clearTyping(): void {
    if (this.typingTimer) clearTimeout(this.typingTimer);
    this.typingTimer = null;
    this.typing = false;
  }

  /**
   * Asks for an upload grant, then posts the file with progress. Requests are
   * serialized: a grant answers the one request in flight, so two uploads at
   * once are never confused (defect D3). Resolves with the stored attachment.
   */
  uploadFile(
    file: File,
    progressCallback?: (progress: UploadProgress) => void,
    options: { mensajeId?: number; signal?: AbortSignal; timeout?: number } = {},
  ): Promise<FileUploaded> {
    const grant = this.uploadChain.then(() => this.requestUpload(file, options.timeout ?? 10000));
    this.uploadChain = grant.catch(() => undefined);
    return grant.then((authorization) =>
      xhrUpload<FileUploaded>(authorization.upload_url, file, {
        headers: authorization.headers,
        fields: options.mensajeId !== undefined ? { mensaje_id: String(options.mensajeId) } : undefined,
        onProgress: progressCallback,
        signal: options.signal,
      }),
    );
  }

  private requestUpload(file: File, timeout: number): Promise<UploadAuthorization> {
    if (!this.isConnected()) return Promise.reject(new Error('Chat no conectado'));
    return new Promise<UploadAuthorization>((resolve, reject) => {
      const offs = [
        this.on('fileUploadAuthorized', (grant) => done(() => resolve(grant))),
        this.on('fileUploadRefused', (error) => done(() => reject(Object.assign(new Error(error.detalle), { codigo: error.codigo })))),
        this.on('disconnected', () => done(() => reject(new Error('Conexión perdida antes de autorizar la subida')))),
      ];
      const timer = setTimeout(() => done(() => reject(new Error('Timeout esperando evento file_upload_authorized'))), timeout);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        offs.forEach((off) => off());
        settle();
      };
      this.send({
        tipo: 'file_upload_request',
        data: { nombre_archivo: file.name, tamaño: file.size, tipo_mime: file.type || 'application/octet-stream' },
      });
    });
  }

  private clearTimers(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.clearTyping();
  }

  /** The socket is open (the seed's check before sending). */
  isConnected(): boolean {
    return this.socket.isOpen();
  }

  /** Sends a frame if the socket is open; returns whether it was sent. */
  send(frame: ClientFrame): boolean {
    return this.socket.send(frame);
  }

  generateClientId(): string {
    return generateClientId();
  }

  on<K extends keyof ChatEvents>(event: K, handler: Handler<ChatEvents[K]>): () => void {
    return this.emitter.on(event, handler);
  }

  off<K extends keyof ChatEvents>(event: K, handler: Handler<ChatEvents[K]>): void {
    this.emitter.off(event, handler);
  }

  private emit<K extends keyof ChatEvents>(event: K, data: ChatEvents[K]): void {
    this.emitter.emit(event, data);
  }

  waitForEvent<K extends keyof ChatEvents>(event: K, timeout = 5000): Promise<ChatEvents[K]> {
    return this.emitter.waitForEvent(event, timeout);
  }

  /**
   * Closes the socket and cancels any pending reconnection (defect D5). Sends
   * `typing_stop` only if typing (D8). The outgoing queue stays in storage:
   * the next `connect` to this ticket sends it. `connect` may be called again.
   */
  disconnect(): void {
    const wasUp = this.socket.status !== 'disconnected';
    if (this.typing) this.stopTyping();
    this.clearTimers();
    this.socket.disconnect();
    if (wasUp) this.emit('disconnected', { code: 1000, reason: 'Cliente desconectado' });
  }

  /** `disconnect` plus dropping every handler. */
  destroy(): void {
    this.disconnect();
    this.emitter.clear();
    this.socket.destroy();
  }
}
