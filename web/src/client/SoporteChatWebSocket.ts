import { Emitter, type Handler } from './emitter';
import { Outbox, type OutgoingMessage } from './outbox';
import { xhrUpload, type UploadProgress } from './upload';
import type {
  ChatTransferred,
  ConnectionEstablished,
  ConnectionStatus,
  FileUploaded,
  KeyValueStorage,
  Message,
  MessageConfirmed,
  ServerError,
  TokenSource,
  UploadAuthorization,
} from './types';
import { backoffDelay, defaultStorage, generateClientId, httpToWs, pageOrigin, resolveToken, wsToHttp } from './util';

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
  /** `startTyping` sends `typing_stop` after this much silence. */
  typingTimeout?: number;
  /** Where the outgoing queue is kept (default: localStorage). `null`: memory only. */
  storage?: KeyValueStorage | null;
  /** Called before every (re)connection: lets the host refresh an expiring token. */
  getToken?: () => string | Promise<string>;
  /** Wait before resending messages the server refused for rate (`limite_de_frecuencia`). */
  retryDelay?: number;
  /** For tests: the WebSocket constructor. */
  WebSocketImpl?: typeof WebSocket;
  /** For tests: `fetch` used to probe why a connection was refused. */
  fetchImpl?: typeof fetch;
}

/** Refusals that mean the message will never be accepted as it is. */
const FINAL_ERRORS = new Set([
  'mensaje_vacio',
  'mensaje_demasiado_largo',
  'datos_invalidos',
  'sin_permiso',
  'ticket_cerrado',
  'frame_demasiado_grande',
]);

/** Close reasons after which reconnecting cannot help (docs/PROTOCOL.md §2.15). */
const NO_RECONNECT_REASONS = [/transferido/i, /ya no existe/i];

const OPEN = 1;

/**
 * The ticket socket: the seed's `SoporteChatWebSocket`, with its defects fixed
 * (shared/seed-defects.md): reconnection keeps the ticket and token and resumes
 * with `since=lastSeq`; the outgoing queue is persisted and flushed with the same
 * `client_id`s; uploads wait for `file_upload_authorized` and report progress
 * through XMLHttpRequest; refused connections are not retried blindly.
 *
 * Events (`on`/`off`): `connected`, `disconnected`, `reconnecting`,
 * `reconnectionFailed`, `statusChange`, `connectionEstablished`, `messageReceived`,
 * `messageConfirmed`, `messageFailed`, `messageQueued`, `messagesRead`,
 * `userTyping`, `userStoppedTyping`, `fileUploadAuthorized`, `fileUploaded`,
 * `chatTransferred`, `ticketUpdated`, `agentJoined`, `agentLeft`, `heartbeat`,
 * `serverError`, `refused`, `error`.
 */
export class SoporteChatWebSocket {
  readonly config: Required<
    Omit<SoporteChatConfig, 'getToken' | 'WebSocketImpl' | 'fetchImpl' | 'storage' | 'apiBase'>
  > &
    Pick<SoporteChatConfig, 'getToken' | 'WebSocketImpl' | 'fetchImpl'> & { apiBase: string };

  private socket: WebSocket | null = null;
  private emitter = new Emitter();
  private storage: KeyValueStorage | null;
  private outbox: Outbox | null = null;
  private ticketId: number | string | null = null;
  private token: TokenSource | undefined;
  private currentToken: string | null = null;
  private lastSeq = 0;
  /** The id of the message at `lastSeq`, and the history it belongs to: with
   *  them the server can tell our cursor from one of another history. */
  private lastSeqId: number | null = null;
  private epoch: string | null = null;
  private reconnectAttempts = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private stableTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private typingTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private typing = false;
  private established = false;
  private stopped = true;
  private lastFrameAt = 0;
  private uploadChain: Promise<unknown> = Promise.resolve();
  private _status: ConnectionStatus = 'disconnected';
  /** Bumped by each dial, so a slow token lookup never opens a stale socket. */
  private generation = 0;
  /** Public for the seed's shape; true while a reconnection is scheduled or dialing. */
  isReconnecting = false;

  constructor(config: SoporteChatConfig = {}) {
    const baseUrl = (config.baseUrl ?? httpToWs(pageOrigin())).replace(/\/$/, '');
    this.config = {
      baseUrl,
      apiBase: (config.apiBase ?? wsToHttp(baseUrl)).replace(/\/$/, ''),
      reconnectDelay: config.reconnectDelay ?? 1000,
      maxReconnectDelay: config.maxReconnectDelay ?? 30000,
      maxReconnectAttempts: config.maxReconnectAttempts ?? 20,
      stableAfter: config.stableAfter ?? 5000,
      heartbeatInterval: config.heartbeatInterval ?? 30000,
      typingTimeout: config.typingTimeout ?? 3000,
      retryDelay: config.retryDelay ?? 2000,
      getToken: config.getToken,
      WebSocketImpl: config.WebSocketImpl,
      fetchImpl: config.fetchImpl,
    };
    this.storage = config.storage === undefined ? defaultStorage() : config.storage;
    if (typeof window !== 'undefined' && typeof window.addEventListener === 'function') {
      window.addEventListener('online', this.onOnline);
    }
  }

  get status(): ConnectionStatus {
    return this._status;
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
    options: { since?: number; sinceId?: number; epoch?: string } = {},
  ): Promise<ConnectionEstablished> {
    if (this.ticketId !== ticketId) {
      this.outbox = new Outbox(this.storage, `soporte_outbox_${ticketId}`);
      this.lastSeq = 0;
      this.lastSeqId = null;
    }
    this.ticketId = ticketId;
    if (token !== undefined) this.token = token;
    if (options.since !== undefined && options.since > this.lastSeq) {
      this.lastSeq = options.since;
      this.lastSeqId = options.sinceId ?? null;
    }
    if (options.epoch !== undefined) this.epoch = options.epoch;
    this.stopped = false;
    this.reconnectAttempts = 0;
    this.clearReconnectTimer();
    return this.open();
  }

  private async tokenForConnection(): Promise<string | null> {
    if (this.config.getToken) {
      try {
        const fresh = await this.config.getToken();
        if (fresh) return fresh;
      } catch (error) {
        console.warn('Soporte: getToken failed', error);
      }
    }
    return resolveToken(this.token);
  }

  private open(): Promise<ConnectionEstablished> {
    this.detachSocket();
    const generation = ++this.generation;
    this.setStatus(this.reconnectAttempts > 0 ? 'reconnecting' : 'connecting');
    return new Promise<ConnectionEstablished>((resolve, reject) => {
      let settled = false;
      const settle = (error?: unknown, data?: ConnectionEstablished) => {
        if (settled) return;
        settled = true;
        if (error) reject(error);
        else resolve(data!);
      };
      this.tokenForConnection().then((token) => {
        if (this.stopped || generation !== this.generation) return settle(new Error('Desconectado'));
        this.currentToken = token;
        let since = '';
        if (this.lastSeq > 0) {
          since = `&since=${this.lastSeq}`;
          if (this.epoch) since += `&epoch=${encodeURIComponent(this.epoch)}`;
          if (this.lastSeqId !== null) since += `&since_id=${this.lastSeqId}`;
        }
        const url = `${this.config.baseUrl}/ws/soporte/ticket/${encodeURIComponent(String(this.ticketId))}/?token=${encodeURIComponent(token ?? '')}${since}`;
        const Impl = this.config.WebSocketImpl ?? WebSocket;
        let socket: WebSocket;
        try {
          socket = new Impl(url);
        } catch (error) {
          settle(error);
          this.scheduleReconnect();
          return;
        }
        this.socket = socket;
        this.established = false;
        socket.onopen = () => {
          this.lastFrameAt = Date.now();
        };
        socket.onmessage = (event: MessageEvent) => {
          this.lastFrameAt = Date.now();
          let frame: any;
          try {
            frame = JSON.parse(String(event.data));
          } catch (error) {
            console.error('Soporte: unreadable frame', error);
            return;
          }
          if (frame?.tipo === 'connection_established') settle(undefined, frame.data);
          this.handleMessage(frame);
        };
        socket.onerror = (event: Event) => {
          this.emit('error', event);
        };
        socket.onclose = (event: CloseEvent) => {
          if (this.socket !== socket) return;
          const wasEstablished = this.established;
          this.socket = null;
          this.established = false;
          this.stopTimers();
          this.emit('disconnected', { code: event.code, reason: event.reason });
          settle(new Error(event.reason || `Conexión cerrada (${event.code})`));
          this.afterClose(event, wasEstablished);
        };
      });
    });
  }

  private async afterClose(event: CloseEvent, wasEstablished: boolean): Promise<void> {
    if (this.stopped || event.code === 1000) {
      this.setStatus('disconnected');
      return;
    }
    if (event.code === 1008 && NO_RECONNECT_REASONS.some((r) => r.test(event.reason))) {
      this.stopped = true;
      this.setStatus('disconnected');
      this.emit('refused', { code: event.code, reason: event.reason });
      return;
    }
    if (!wasEstablished) {
      // A browser cannot read why an upgrade was refused; ask the REST API
      // before retrying, so a 401/403/404 is not retried forever (defect D6).
      const verdict = await this.probe();
      if (this.stopped) return;
      if (verdict !== null) {
        this.stopped = true;
        this.setStatus('error');
        this.emit('refused', verdict);
        return;
      }
    }
    this.scheduleReconnect();
  }

  /** null: worth retrying; otherwise why the server refuses us. */
  private async probe(): Promise<{ status: number; detalle: string } | null> {
    const fetchImpl = this.config.fetchImpl ?? (typeof fetch !== 'undefined' ? fetch : undefined);
    if (!fetchImpl) return null;
    try {
      const response = await fetchImpl(
        `${this.config.apiBase}/api/soporte/tickets/${encodeURIComponent(String(this.ticketId))}/`,
        { headers: this.currentToken ? { Authorization: `Bearer ${this.currentToken}` } : {} },
      );
      if (response.status === 401 && this.config.getToken) return null; // a fresh token may help
      if (response.status === 401 || response.status === 403 || response.status === 404) {
        const body = await response.json().catch(() => ({}));
        return { status: response.status, detalle: body?.detalle ?? `HTTP ${response.status}` };
      }
      return null;
    } catch {
      return null; // the network is down: retry
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    if (this.reconnectAttempts >= this.config.maxReconnectAttempts) {
      this.isReconnecting = false;
      this.setStatus('error');
      this.emit('reconnectionFailed', { attempts: this.reconnectAttempts });
      return;
    }
    this.isReconnecting = true;
    this.reconnectAttempts += 1;
    const attempt = this.reconnectAttempts;
    const delay = backoffDelay(attempt, this.config.reconnectDelay, this.config.maxReconnectDelay);
    this.setStatus('reconnecting');
    this.emit('reconnecting', { attempt, delay });
    this.clearReconnectTimer();
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.open().catch(() => {
        /* the close handler schedules the next attempt */
      });
    }, delay);
  }

  /** Reconnect now (a "reconnect" button, or the browser coming back online). */
  reconnect(): Promise<ConnectionEstablished> | null {
    if (this.ticketId === null) return null;
    this.stopped = false;
    this.reconnectAttempts = 0;
    this.clearReconnectTimer();
    return this.open();
  }

  private onOnline = () => {
    if (!this.stopped && this.reconnectTimer) {
      this.clearReconnectTimer();
      this.open().catch(() => {});
    }
  };

  handleMessage(frame: { tipo: string; data: any }): void {
    const data = frame.data;
    switch (frame.tipo) {
      case 'connection_established':
        this.onEstablished(data as ConnectionEstablished);
        break;
      case 'mensaje_recibido':
        this.noteSeq(data as Message);
        this.emit('messageReceived', data);
        break;
      case 'mensaje_confirmado':
        this.outbox?.remove((data as MessageConfirmed).client_id);
        this.emit('messageConfirmed', data);
        break;
      case 'usuario_escribiendo':
        this.emit('userTyping', data);
        break;
      case 'usuario_dejo_escribir':
        this.emit('userStoppedTyping', data);
        break;
      case 'mensajes_leidos':
        this.emit('messagesRead', data);
        break;
      case 'file_upload_authorized':
        this.emit('fileUploadAuthorized', data as UploadAuthorization);
        break;
      case 'file_uploaded':
        this.emit('fileUploaded', data as FileUploaded);
        break;
      case 'chat_transferred':
        if ((data as ChatTransferred).mensaje) this.noteSeq((data as ChatTransferred).mensaje);
        this.emit('chatTransferred', data);
        break;
      case 'ticket_actualizado':
        this.emit('ticketUpdated', data);
        break;
      case 'agente_joined':
        this.emit('agentJoined', data);
        break;
      case 'agente_left':
        this.emit('agentLeft', data);
        break;
      case 'heartbeat':
        this.handleHeartbeat(data);
        break;
      case 'error':
        this.handleServerError(data as ServerError);
        break;
      default:
        // Unknown frames are ignored (docs/PROTOCOL.md §2.16).
        break;
    }
  }

  private onEstablished(data: ConnectionEstablished): void {
    this.established = true;
    this.isReconnecting = false;
    // Our cursor belongs to another history (a restored or recreated
    // database): start over from what the server has.
    if (data.resync || (data.since !== null && data.since !== undefined && data.since > data.last_seq)) {
      this.lastSeq = 0;
      this.lastSeqId = null;
    }
    if (data.epoch) this.epoch = data.epoch;
    for (const message of data.historial_reciente ?? []) this.noteSeq(message);
    if (data.limites?.heartbeat_ms) this.config.heartbeatInterval = data.limites.heartbeat_ms;
    this.startHeartbeat();
    // Attempts are reset only once the connection has proved stable (defect D5):
    // a server that accepts and drops at once must not be hammered.
    if (this.stableTimer) clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => {
      this.reconnectAttempts = 0;
    }, this.config.stableAfter);
    this.setStatus('connected');
    this.emit('connectionEstablished', data);
    this.emit('connected', { ticketId: this.ticketId, timestamp: Date.now() });
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
    if (!this.isConnected() || !this.outbox) return;
    for (const message of this.outbox.all()) {
      this.send({ tipo: 'mensaje', data: message });
    }
  }

  /** The server answered our heartbeat (defect D2): the connection is alive. */
  handleHeartbeat(data: unknown): void {
    this.emit('heartbeat', data);
  }

  private handleServerError(error: ServerError): void {
    this.emit('serverError', error);
    if (error.tipo === 'mensaje' && error.client_id && this.outbox?.has(error.client_id)) {
      if (FINAL_ERRORS.has(error.codigo)) {
        this.outbox.remove(error.client_id);
        this.emit('messageFailed', error);
      } else {
        // Rate limit or storage trouble: keep it queued and try again shortly.
        this.emit('messageDelayed', error);
        if (!this.retryTimer) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = null;
            this.processMessageQueue();
          }, this.config.retryDelay);
        }
      }
    }
    if (error.tipo === 'file_upload_request') this.emit('fileUploadRefused', error);
  }

  /**
   * Queues `mensaje` and sends it when connected. Returns its `client_id`,
   * chosen before anything is sent (pass one to resend the same message).
   */
  sendMessage(mensaje: string, metadata: Record<string, unknown> = {}, clientId: string = generateClientId()): string {
    const message: OutgoingMessage = {
      mensaje,
      timestamp: new Date().toISOString(),
      client_id: clientId,
      metadata,
    };
    if (!this.outbox) this.outbox = new Outbox(this.storage, `soporte_outbox_${this.ticketId ?? 'sin_ticket'}`);
    this.outbox.add(message);
    if (this.isConnected() && this.established) {
      this.send({ tipo: 'mensaje', data: message });
    } else {
      this.emit('messageQueued', { tipo: 'mensaje', data: message });
    }
    if (this.typing) this.clearTyping();
    return clientId;
  }

  /** Forgets a queued message (the user gave up on it). */
  discardMessage(clientId: string): void {
    this.outbox?.remove(clientId);
  }

  startTyping(): void {
    if (this.typingTimer) clearTimeout(this.typingTimer);
    if (!this.typing) {
      this.typing = this.send({ tipo: 'typing_start', data: { timestamp: new Date().toISOString() } });
    }
    this.typingTimer = setTimeout(() => this.stopTyping(), this.config.typingTimeout);
  }

  stopTyping(): void {
    const wasTyping = this.typing;
    this.clearTyping();
    if (wasTyping) this.send({ tipo: 'typing_stop', data: { timestamp: new Date().toISOString() } });
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
      const done = () => {
        clearTimeout(timer);
        this.off('fileUploadAuthorized', onGrant);
        this.off('fileUploadRefused', onRefusal);
        this.off('disconnected', onClose);
      };
      const onGrant = (grant: UploadAuthorization) => {
        done();
        resolve(grant);
      };
      const onRefusal = (error: ServerError) => {
        done();
        reject(Object.assign(new Error(error.detalle), { codigo: error.codigo }));
      };
      const onClose = () => {
        done();
        reject(new Error('Conexión perdida antes de autorizar la subida'));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error('Timeout esperando evento file_upload_authorized'));
      }, timeout);
      this.on('fileUploadAuthorized', onGrant);
      this.on('fileUploadRefused', onRefusal);
      this.on('disconnected', onClose);
      this.send({
        tipo: 'file_upload_request',
        data: { nombre_archivo: file.name, tamaño: file.size, tipo_mime: file.type || 'application/octet-stream' },
      });
    });
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    const interval = this.config.heartbeatInterval;
    this.heartbeatTimer = setInterval(() => {
      if (!this.isConnected()) return;
      // Silence for 2.5 periods: the connection is dead even if the browser
      // has not noticed; drop it and resume elsewhere.
      if (Date.now() - this.lastFrameAt > interval * 2.5) {
        this.socket?.close(4000, 'sin latido');
        return;
      }
      this.send({ tipo: 'heartbeat', data: { timestamp: new Date().toISOString() } });
    }, interval);
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private stopTimers(): void {
    this.stopHeartbeat();
    if (this.stableTimer) clearTimeout(this.stableTimer);
    this.stableTimer = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.clearTyping();
  }

  private clearReconnectTimer(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private detachSocket(): void {
    const old = this.socket;
    if (!old) return;
    this.socket = null;
    old.onopen = old.onmessage = old.onerror = old.onclose = null;
    try {
      old.close(1000, 'reemplazado');
    } catch {
      /* already closed */
    }
  }

  private setStatus(status: ConnectionStatus): void {
    if (status === this._status) return;
    this._status = status;
    this.emit('statusChange', status);
  }

  isConnected(): boolean {
    return !!this.socket && this.socket.readyState === OPEN;
  }

  /** Sends a frame if the socket is open; returns whether it was sent. */
  send(frame: { tipo: string; data?: unknown }): boolean {
    if (!this.isConnected()) return false;
    this.socket!.send(JSON.stringify(frame));
    return true;
  }

  generateClientId(): string {
    return generateClientId();
  }

  on<T = any>(event: string, handler: Handler<T>): () => void {
    return this.emitter.on(event, handler);
  }

  off<T = any>(event: string, handler: Handler<T>): void {
    this.emitter.off(event, handler);
  }

  private emit(event: string, data?: unknown): void {
    this.emitter.emit(event, data);
  }

  waitForEvent<T = any>(event: string, timeout = 5000): Promise<T> {
    return this.emitter.waitForEvent<T>(event, timeout);
  }

  /**
   * Closes the socket and cancels any pending reconnection (defect D5). Sends
   * `typing_stop` only if typing (D8). The outgoing queue stays in storage:
   * the next `connect` to this ticket sends it.
   */
  disconnect(): void {
    this.stopped = true;
    this.generation += 1;
    this.isReconnecting = false;
    this.clearReconnectTimer();
    if (this.typing) this.stopTyping();
    this.stopTimers();
    const socket = this.socket;
    if (socket) {
      socket.close(1000, 'Cliente desconectado');
      this.socket = null;
      this.emit('disconnected', { code: 1000, reason: 'Cliente desconectado' });
    }
    this.setStatus('disconnected');
  }

  /** `disconnect` plus dropping every handler and the `online` listener. */
  destroy(): void {
    this.disconnect();
    if (typeof window !== 'undefined' && typeof window.removeEventListener === 'function') {
      window.removeEventListener('online', this.onOnline);
    }
    this.emitter.clear();
  }
}
