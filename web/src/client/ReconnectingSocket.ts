import { closePolicy, type ClosePolicy, type FinalReason, type ReconnectDelay } from './closeCodes';
import { Emitter } from './emitter';
import type { ConnectionStatus } from './types';
import { backoffDelay } from './util';

/** Why the socket stopped trying, until `connect` or `reconnect` is called again. */
export type SocketStop =
  /** The server closed with a final code (4000–4099): coming back cannot help. */
  | { kind: 'final'; reason: FinalReason; code: number; detalle: string }
  /** The upgrade was refused (bad token, no access, no such ticket), as a REST probe told. */
  | { kind: 'refused'; status: number; detalle: string }
  /** `maxReconnectAttempts` attempts in a row failed. */
  | { kind: 'gaveUp'; attempts: number };

/** What a REST probe learned about a refused upgrade. */
export interface Refusal {
  status: number;
  detalle: string;
}

export interface SocketEvents<In> {
  status: ConnectionStatus;
  /** Every frame, the greeting included, after the status is `connected` for the greeting. */
  frame: In;
  /** A socket we held closed: by the server, the network, or for silence (not by `disconnect`). */
  closed: { code: number; reason: string; policy: ClosePolicy };
  reconnecting: { attempt: number; delay: number };
  stopped: SocketStop;
  /** `getToken` threw or rejected: the attempt counts as failed and is retried later. */
  tokenError: unknown;
  error: Event;
}

/** What the socket needs from `window`: the online/offline events. */
export type NetworkEvents = Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;

export interface ReconnectingSocketConfig<In, Greeting extends In = In> {
  /** The URL of the next attempt (it may carry a cursor that moved meanwhile). */
  url: (token: string | null) => string;
  /** Asked for the first attempt, after `4100` and after an attempt that failed before the greeting. */
  getToken: () => string | null | Promise<string | null>;
  /** Text frame → typed frame, or null for text to ignore. */
  parse: (text: string) => In | null;
  /** The frame the server sends first once it admitted the connection. */
  isGreeting: (frame: In) => frame is Greeting;
  /** The application heartbeat to send every `heartbeatInterval` (already serialized). */
  heartbeatFrame: () => string;
  /** Asks the REST API why an upgrade failed (a browser cannot see the status); null: retry. */
  probe?: (token: string | null) => Promise<Refusal | null>;
  /** First reconnection delay, doubled per attempt, with jitter. Default 1000. */
  reconnectDelay?: number;
  /** Longest delay between two attempts. Default 30000. */
  maxReconnectDelay?: number;
  /** Attempts in a row before giving up (`stopped` `gaveUp`). Default 20. */
  maxReconnectAttempts?: number;
  /** Attempts reset only after the connection stays up this long. Default 5000. */
  stableAfter?: number;
  /** Heartbeat period. Default 30000. */
  heartbeatInterval?: number;
  /** Silence for this many heartbeat periods means the connection is dead. Default 2.5. */
  silenceFactor?: number;
  /** An attempt with no greeting after this long is dropped and retried. Default 10000. */
  connectTimeout?: number;
  WebSocketImpl?: typeof WebSocket;
  /** For tests: the jitter's random source. */
  random?: () => number;
  /** Where `online`/`offline` come from (default `window`); null: not listened to. */
  network?: NetworkEvents | null;
  /** Whether the browser believes it is online (default `navigator.onLine`). */
  isOnline?: () => boolean;
}

/** The close the browser would report for a connection we abandoned ourselves. */
const ABNORMAL = 1006;

const defaultNetwork = (): NetworkEvents | null => (typeof window !== 'undefined' && typeof window.addEventListener === 'function' ? window : null);
const defaultIsOnline = () => typeof navigator === 'undefined' || navigator.onLine !== false;

/**
 * One WebSocket that stays connected, used by both the ticket client and the
 * inbox client: it gets a token, dials, parses and dispatches frames, sends a
 * heartbeat and drops a connection that falls silent, reconnects with
 * jittered exponential backoff, waits for the browser to be online, and
 * decides after each close by its numeric code (closeCodes.ts). A connection
 * counts as up only once the server's greeting arrives, since the server
 * checks everything before it.
 *
 * Hand-written rather than `partysocket` (the maintained fork of
 * reconnecting-websocket): that one reconnects after every close it did not
 * start, with no say per close code, no silence detection, no notion of a
 * greeting, and buffers sends where we need an outbox confirmed by the server.
 */
export class ReconnectingSocket<In, Out = unknown, Greeting extends In = In> {
  private readonly emitter = new Emitter<SocketEvents<In>>();
  private readonly opts: Required<Omit<ReconnectingSocketConfig<In, Greeting>, 'probe' | 'WebSocketImpl' | 'network'>> &
    Pick<ReconnectingSocketConfig<In, Greeting>, 'probe' | 'WebSocketImpl'> & { network: NetworkEvents | null };
  private socket: WebSocket | null = null;
  private token: string | null = null;
  private needToken = true;
  private greeted = false;
  private stopped = true;
  /** Waiting for the browser to come back online before the next attempt. */
  private paused = false;
  /** Whether the online/offline listeners are attached (only while connecting or connected). */
  private listening = false;
  private attempts = 0;
  private lastFrameAt = 0;
  /** Bumped by each dial and by `disconnect`, so a slow token lookup never opens a stale socket. */
  private generation = 0;
  private _status: ConnectionStatus = 'disconnected';
  private pending: { resolve: (frame: Greeting) => void; reject: (error: Error) => void } | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private stableTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;

  constructor(config: ReconnectingSocketConfig<In, Greeting>) {
    // Settings passed as `undefined` (a wrapper forwarding its own options) take the default.
    const given = Object.fromEntries(Object.entries(config).filter(([, value]) => value !== undefined)) as ReconnectingSocketConfig<In, Greeting>;
    this.opts = {
      reconnectDelay: 1000,
      maxReconnectDelay: 30000,
      maxReconnectAttempts: 20,
      stableAfter: 5000,
      heartbeatInterval: 30000,
      silenceFactor: 2.5,
      connectTimeout: 10000,
      random: Math.random,
      isOnline: defaultIsOnline,
      ...given,
      network: config.network === undefined ? defaultNetwork() : config.network,
    };
  }

  get status(): ConnectionStatus {
    return this._status;
  }

  /** True while an attempt is scheduled, dialing, or waiting to be online. */
  get isReconnecting(): boolean {
    return !this.stopped && !this.greeted && (this.attempts > 0 || this.paused);
  }

  on<K extends keyof SocketEvents<In>>(event: K, handler: (data: SocketEvents<In>[K]) => void): () => void {
    return this.emitter.on(event, handler);
  }

  /** Starts (or restarts) the connection. Resolves with the greeting; rejects if this first attempt fails (retries go on). */
  connect(): Promise<Greeting> {
    this.stopped = false;
    this.attempts = 0;
    this.needToken = true;
    this.clearReconnectTimer();
    this.listenToNetwork(true);
    return this.dial();
  }

  /** Reconnects now, from attempt zero (a "reconnect" button). */
  reconnect(): Promise<Greeting> {
    return this.connect();
  }

  /** Closes with 1000 and cancels any pending attempt. `connect` starts again. */
  disconnect(reason = 'Cliente desconectado'): void {
    this.stopped = true;
    this.paused = false;
    this.generation += 1;
    this.clearReconnectTimer();
    this.stopConnectionTimers();
    this.listenToNetwork(false);
    const socket = this.socket;
    this.socket = null;
    this.greeted = false;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
      socket.close(1000, reason);
    }
    this.settle(new Error('Desconectado'));
    this.setStatus('disconnected');
  }

  /** `disconnect` plus dropping every handler. */
  destroy(): void {
    this.disconnect();
    this.emitter.clear();
  }

  /** The socket is open (not necessarily greeted yet). */
  isOpen(): boolean {
    const Impl = this.opts.WebSocketImpl ?? WebSocket;
    return this.socket !== null && this.socket.readyState === Impl.OPEN;
  }

  /** Open and greeted: the server admitted the connection. */
  isReady(): boolean {
    return this.greeted && this.isOpen();
  }

  /** Sends a frame if the socket is open; returns whether it was sent. */
  send(frame: Out): boolean {
    if (!this.isOpen()) return false;
    this.socket!.send(JSON.stringify(frame));
    return true;
  }

  /** The server's `limites.heartbeat_ms` wins over the configured period. */
  setHeartbeatInterval(ms: number): void {
    if (!(ms > 0) || ms === this.opts.heartbeatInterval) return;
    this.opts.heartbeatInterval = ms;
    if (this.heartbeatTimer) this.startHeartbeat();
  }

  private dial(): Promise<Greeting> {
    this.detachSocket();
    const generation = ++this.generation;
    this.greeted = false;
    this.paused = false;
    this.setStatus(this.attempts > 0 ? 'reconnecting' : 'connecting');
    this.settle(new Error('Reemplazado por otra conexión'));
    const greeting = new Promise<Greeting>((resolve, reject) => {
      this.pending = { resolve, reject };
    });
    void this.open(generation);
    return greeting;
  }

  private async open(generation: number): Promise<void> {
    if (this.needToken) {
      try {
        this.token = await this.opts.getToken();
        this.needToken = false;
      } catch (error) {
        if (generation !== this.generation || this.stopped) return;
        console.warn('Soporte: getToken failed', error);
        this.emitter.emit('tokenError', error);
        this.settle(error instanceof Error ? error : new Error(String(error)));
        this.scheduleReconnect('backoff');
        return;
      }
    }
    if (generation !== this.generation || this.stopped) return;
    const Impl = this.opts.WebSocketImpl ?? WebSocket;
    let socket: WebSocket;
    try {
      socket = new Impl(this.opts.url(this.token));
    } catch (error) {
      this.settle(error instanceof Error ? error : new Error(String(error)));
      this.scheduleReconnect('backoff');
      return;
    }
    this.socket = socket;
    this.lastFrameAt = Date.now();
    this.connectTimer = setTimeout(() => this.abandon('tiempo de conexión agotado'), this.opts.connectTimeout);
    socket.onmessage = (event: MessageEvent) => this.onMessage(event);
    socket.onerror = (event: Event) => this.emitter.emit('error', event);
    socket.onclose = (event: CloseEvent) => {
      if (this.socket === socket) this.onClose(event.code, event.reason);
    };
  }

  private onMessage(event: MessageEvent): void {
    this.lastFrameAt = Date.now();
    const frame = this.opts.parse(String(event.data));
    if (frame === null) return;
    if (!this.greeted && this.opts.isGreeting(frame)) {
      this.greeted = true;
      if (this.connectTimer) clearTimeout(this.connectTimer);
      this.connectTimer = null;
      this.startHeartbeat();
      // Attempts reset only once the connection has proved stable (seed defect
      // D5): a server that accepts and drops at once must not be hammered.
      this.stableTimer = setTimeout(() => {
        this.attempts = 0;
      }, this.opts.stableAfter);
      this.setStatus('connected');
      this.emitter.emit('frame', frame);
      this.pending?.resolve(frame);
      this.pending = null;
      return;
    }
    this.emitter.emit('frame', frame);
  }

  private onClose(code: number, reason: string): void {
    const wasGreeted = this.greeted;
    this.socket = null;
    this.greeted = false;
    this.stopConnectionTimers();
    const policy = closePolicy(code, reason);
    this.emitter.emit('closed', { code, reason, policy });
    this.settle(new Error(reason || `Conexión cerrada (${code})`));
    void this.afterClose(code, reason, policy, wasGreeted);
  }

  private async afterClose(code: number, reason: string, policy: ClosePolicy, wasGreeted: boolean): Promise<void> {
    if (this.stopped) return this.setStatus('disconnected');
    if (policy.action === 'stop') {
      this.stopped = true;
      return this.setStatus('disconnected');
    }
    if (policy.action === 'final') return this.stop({ kind: 'final', reason: policy.reason, code, detalle: reason }, 'disconnected');
    if (policy.refreshToken || !wasGreeted) this.needToken = true;
    if (!wasGreeted && code === ABNORMAL && this.opts.probe) {
      // A browser cannot read why an upgrade was refused; ask the REST API
      // before retrying, so a 401/403/404 is not retried forever (defect D6).
      const generation = this.generation;
      const verdict = await this.opts.probe(this.token);
      if (this.stopped || generation !== this.generation) return;
      if (verdict) return this.stop({ kind: 'refused', ...verdict }, 'error');
    }
    this.scheduleReconnect(policy.delay);
  }

  private stop(why: SocketStop, status: ConnectionStatus): void {
    this.stopped = true;
    this.clearReconnectTimer();
    this.listenToNetwork(false);
    this.setStatus(status);
    this.emitter.emit('stopped', why);
  }

  private scheduleReconnect(kind: ReconnectDelay): void {
    if (this.stopped) return;
    this.clearReconnectTimer();
    if (!this.opts.isOnline()) {
      // No attempt is spent while the browser knows it is offline: `online` dials.
      this.paused = true;
      return this.setStatus('reconnecting');
    }
    if (this.attempts >= this.opts.maxReconnectAttempts) return this.stop({ kind: 'gaveUp', attempts: this.attempts }, 'error');
    const first = this.attempts === 0;
    this.attempts += 1;
    const { reconnectDelay: base, maxReconnectDelay: max, random } = this.opts;
    const delay =
      kind === 'now' && first ? 0 : backoffDelay(kind === 'long' ? this.attempts + 2 : this.attempts, base, max, random);
    this.setStatus('reconnecting');
    this.emitter.emit('reconnecting', { attempt: this.attempts, delay });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.dial().catch(() => {
        /* the close handler schedules the next attempt */
      });
    }, delay);
  }

  /** Drops a connection we no longer trust, as the network would have. */
  private abandon(reason: string): void {
    const socket = this.socket;
    if (!socket) return;
    this.detachSocket(reason);
    this.onClose(ABNORMAL, reason);
  }

  private startHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    const interval = this.opts.heartbeatInterval;
    this.heartbeatTimer = setInterval(() => {
      // The server answers every heartbeat, so silence this long means the
      // connection is dead even if the browser has not noticed yet.
      if (Date.now() - this.lastFrameAt > interval * this.opts.silenceFactor) return this.abandon('sin latido');
      if (this.isOpen()) this.socket!.send(this.opts.heartbeatFrame());
    }, interval);
  }

  private stopConnectionTimers(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.stableTimer) clearTimeout(this.stableTimer);
    this.heartbeatTimer = this.connectTimer = this.stableTimer = null;
  }

  private clearReconnectTimer(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private detachSocket(reason = 'reemplazado'): void {
    const old = this.socket;
    if (!old) return;
    this.socket = null;
    this.stopConnectionTimers();
    old.onopen = old.onmessage = old.onerror = old.onclose = null;
    try {
      old.close(1000, reason);
    } catch {
      /* already closed */
    }
  }

  private settle(error: Error): void {
    this.pending?.reject(error);
    this.pending = null;
  }

  private setStatus(status: ConnectionStatus): void {
    if (status === this._status) return;
    this._status = status;
    this.emitter.emit('status', status);
  }

  private listenToNetwork(on: boolean): void {
    const target = this.opts.network;
    if (!target || on === this.listening) return;
    this.listening = on;
    if (on) {
      target.addEventListener('online', this.onOnline);
      target.addEventListener('offline', this.onOffline);
    } else {
      target.removeEventListener('online', this.onOnline);
      target.removeEventListener('offline', this.onOffline);
    }
  }

  /** Back online: the attempt that was waiting goes now. */
  private onOnline = (): void => {
    if (this.stopped || (!this.paused && !this.reconnectTimer)) return;
    this.clearReconnectTimer();
    this.dial().catch(() => {});
  };

  /** Offline: a scheduled attempt would only fail; wait for `online` instead. */
  private onOffline = (): void => {
    if (this.stopped || !this.reconnectTimer) return;
    this.clearReconnectTimer();
    this.paused = true;
  };
}
