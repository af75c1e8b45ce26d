import { Emitter, type Handler } from './emitter';
import { parseInboxFrame, type InboxClientFrame, type InboxFrame } from './frames';
import { probeRefusal } from './probe';
import { ReconnectingSocket, type NetworkEvents, type SocketStop } from './ReconnectingSocket';
import { StateStore } from './StateStore';
import type {
  AgentView,
  ChatTransferred,
  ConnectionStatus,
  InboxMessage,
  InboxSnapshot,
  InboxTyping,
  Person,
  TicketList,
  TicketUpdated,
  TicketView,
  TokenSource,
} from './types';
import { httpToWs, pageOrigin, resolveToken, wsToHttp } from './util';

/** Why the inbox stopped trying: the server's final close, a refused upgrade, or too many failed attempts. */
export type InboxError = SocketStop;

export interface InboxState {
  status: ConnectionStatus;
  usuario: Person | null;
  /** Newest activity first. */
  tickets: TicketView[];
  agentes: AgentView[];
  /** Ticket id → who is typing there now. */
  typing: Record<number, Person[]>;
  error: InboxError | null;
  /** Older tickets not listed yet: the page `loadMore` reads next (`null`: all are listed). */
  more: string | null;
  loadingMore: boolean;
}

export interface InboxEvents {
  inbox: InboxSnapshot;
  ticketUpdated: TicketUpdated;
  chatTransferred: ChatTransferred;
  inboxMessage: InboxMessage;
}

export interface InboxConfig {
  /** WebSocket base, e.g. `ws://localhost:8000`. Default: the page's origin. */
  baseUrl?: string;
  /** HTTP base for the REST probe. Default: derived from `baseUrl`. */
  apiBase?: string;
  /** Called for the first connection, after 4100 and after an attempt that failed before `inbox`. */
  getToken?: () => string | Promise<string>;
  reconnectDelay?: number;
  maxReconnectDelay?: number;
  maxReconnectAttempts?: number;
  stableAfter?: number;
  heartbeatInterval?: number;
  connectTimeout?: number;
  WebSocketImpl?: typeof WebSocket;
  fetchImpl?: typeof fetch;
  network?: NetworkEvents | null;
  isOnline?: () => boolean;
  random?: () => number;
}

type Greeting = Extract<InboxFrame, { tipo: 'inbox' }>;

/**
 * The agents' inbox socket (`/ws/soporte/agentes/`, docs/PROTOCOL.md §3): one
 * socket that follows every ticket an agent or supervisor may work on. It
 * keeps the state (tickets with unread counts and previews, the team, who is
 * typing) in a store (`getState`/`subscribe`, for useSyncExternalStore). The
 * connection is a `ReconnectingSocket`, as for a ticket: backoff, heartbeat
 * and silence detection, close-code policy; each `inbox` frame replaces the
 * state.
 */
export class InboxClient {
  private readonly store = new StateStore<InboxState>({
    status: 'disconnected',
    usuario: null,
    tickets: [],
    agentes: [],
    typing: {},
    error: null,
    more: null,
    loadingMore: false,
  });
  private readonly emitter = new Emitter<InboxEvents>();
  private readonly socket: ReconnectingSocket<InboxFrame, InboxClientFrame, Greeting>;
  private token: TokenSource | undefined;
  /** The ticket the user has open: its messages do not count as unread. */
  private openTicket: number | null = null;

  constructor(private readonly config: InboxConfig = {}) {
    const baseUrl = (config.baseUrl ?? httpToWs(pageOrigin())).replace(/\/$/, '');
    const apiBase = (config.apiBase ?? wsToHttp(baseUrl)).replace(/\/$/, '');
    this.socket = new ReconnectingSocket<InboxFrame, InboxClientFrame, Greeting>({
      url: (token) => `${baseUrl}/ws/soporte/agentes/?token=${encodeURIComponent(token ?? '')}`,
      getToken: () => this.tokenForConnection(),
      parse: parseInboxFrame,
      isGreeting: (frame): frame is Greeting => frame.tipo === 'inbox',
      heartbeatFrame: () => JSON.stringify({ tipo: 'heartbeat', data: { timestamp: new Date().toISOString() } } satisfies InboxClientFrame),
      // A customer's token (403) or a bad one (401) is told by the team endpoint, which needs the same rights.
      probe: (token) => probeRefusal(`${apiBase}/api/soporte/agentes/`, token, { fetchImpl: config.fetchImpl, canRefreshToken: config.getToken !== undefined }),
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
    this.socket.on('status', (status) => this.store.set({ status }));
    this.socket.on('stopped', (error) => this.store.set({ error }));
    this.socket.on('frame', (frame) => this.handle(frame));
  }

  getState = (): InboxState => this.store.getState();

  subscribe = (listener: () => void): (() => void) => this.store.subscribe(listener);

  on<K extends keyof InboxEvents>(event: K, handler: Handler<InboxEvents[K]>): () => void {
    return this.emitter.on(event, handler);
  }

  off<K extends keyof InboxEvents>(event: K, handler: Handler<InboxEvents[K]>): void {
    this.emitter.off(event, handler);
  }

  private async tokenForConnection(): Promise<string | null> {
    if (this.config.getToken) {
      const fresh = await this.config.getToken();
      if (fresh) return fresh;
    }
    return resolveToken(this.token);
  }

  /** Opens the inbox. `token`: a token or a function returning one, when there is no `getToken`. */
  connect(token?: TokenSource): void {
    if (token !== undefined) this.token = token;
    this.store.set({ error: null });
    this.socket.connect().catch(() => {
      /* status and error come through the store */
    });
  }

  reconnect(): void {
    this.connect();
  }

  disconnect(): void {
    this.socket.disconnect();
  }

  /**
   * Lists the next page of older tickets (the snapshot holds the newest
   * 200): those not listed yet join, in activity order. Rejects when the
   * page cannot be read; the state is then as before.
   */
  async loadMore(): Promise<void> {
    const { more, loadingMore } = this.store.getState();
    if (!more || loadingMore) return;
    this.store.set({ loadingMore: true });
    try {
      const token = await this.tokenForConnection();
      const fetchImpl = this.config.fetchImpl ?? fetch;
      const response = await fetchImpl(more, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
      if (!response.ok) throw new Error(`GET ${more}: HTTP ${response.status}`);
      const page = (await response.json()) as TicketList;
      const state = this.store.getState();
      // A new snapshot replaced the list meanwhile: it has its own `more`.
      if (state.more !== more) return;
      const listed = new Set(state.tickets.map((t) => t.id));
      const older = page.results.filter((t) => !listed.has(t.id));
      this.store.set({ tickets: sortTickets([...state.tickets, ...older]), more: page.next ?? null });
    } finally {
      this.store.set({ loadingMore: false });
    }
  }

  /** The ticket shown now: its unread count stays at zero while it is open. */
  setOpenTicket(ticketId: number | null): void {
    this.openTicket = ticketId;
    if (ticketId !== null) this.patchTicket(ticketId, (t) => ({ ...t, no_leidos: 0 }));
  }

  private patchTicket(id: number, fn: (t: TicketView) => TicketView): void {
    const state = this.store.getState();
    if (!state.tickets.some((t) => t.id === id)) return;
    this.store.set({ tickets: sortTickets(state.tickets.map((t) => (t.id === id ? fn(t) : t))) });
  }

  /** Applies one inbox frame to the state (public for tests and for hosts that relay frames). */
  handle(frame: InboxFrame): void {
    const state = this.store.getState();
    switch (frame.tipo) {
      case 'inbox': {
        const snapshot = frame.data;
        this.store.set({
          error: null,
          usuario: snapshot.usuario,
          tickets: sortTickets(snapshot.tickets.map((t) => (t.id === this.openTicket ? { ...t, no_leidos: 0 } : t))),
          agentes: snapshot.agentes,
          typing: {},
          more: snapshot.next ?? null,
        });
        return this.emitter.emit('inbox', snapshot);
      }
      case 'ticket_actualizado': {
        const { ticket } = frame.data;
        const existing = state.tickets.find((t) => t.id === ticket.id);
        const me = state.usuario;
        // An agent sees the queue and their own tickets only.
        const visible = me?.tipo === 'SUPERVISOR' || !ticket.agente || ticket.agente.id === me?.id;
        let tickets: TicketView[];
        if (!visible) tickets = state.tickets.filter((t) => t.id !== ticket.id);
        else if (existing) tickets = state.tickets.map((t) => (t.id === ticket.id ? { ...t, ...ticket } : t));
        else tickets = [...state.tickets, { ...ticket, no_leidos: 0, ultimo_mensaje: null }];
        this.store.set({ tickets: sortTickets(tickets) });
        return this.emitter.emit('ticketUpdated', frame.data);
      }
      case 'chat_transferred':
        return this.emitter.emit('chatTransferred', frame.data);
      case 'inbox_mensaje': {
        const preview = frame.data;
        const mine = preview.autor.id !== null && preview.autor.id === state.usuario?.id;
        this.patchTicket(preview.ticket, (t) => ({
          ...t,
          last_seq: Math.max(t.last_seq, preview.seq),
          actualizado: preview.timestamp,
          no_leidos: mine || preview.ticket === this.openTicket ? t.no_leidos : t.no_leidos + 1,
          ultimo_mensaje: {
            id: preview.mensaje_id,
            client_id: null,
            ticket: preview.ticket,
            seq: preview.seq,
            timestamp: preview.timestamp,
            autor: preview.autor,
            contenido: preview.contenido,
            tipo: preview.tipo,
            estado: 'ENTREGADO',
            archivos: [],
            interno: preview.interno,
          },
        }));
        return this.emitter.emit('inboxMessage', preview);
      }
      case 'mensaje_actualizado': {
        // Edited or deleted: the preview shows it as it now is, when it is
        // the one shown; order and unread counts stay as they were.
        const { mensaje } = frame.data;
        if (mensaje.ticket === undefined) return;
        this.patchTicket(mensaje.ticket, (t) =>
          t.ultimo_mensaje?.id === mensaje.id ? { ...t, ultimo_mensaje: { ...t.ultimo_mensaje, ...mensaje } } : t,
        );
        return;
      }
      case 'inbox_escribiendo': {
        const typing: InboxTyping = frame.data;
        const current = (state.typing[typing.ticket] ?? []).filter((p) => p.id !== typing.usuario.id);
        const next = typing.escribiendo ? [...current, typing.usuario] : current;
        return this.store.set({ typing: { ...state.typing, [typing.ticket]: next } });
      }
      case 'agente_disponibilidad': {
        const agent = frame.data;
        const others = state.agentes.filter((a) => a.id !== agent.id);
        return this.store.set({ agentes: [...others, agent].sort((a, b) => a.nombre.localeCompare(b.nombre)) });
      }
      case 'heartbeat':
      case 'error':
        // The inbox sends only heartbeats, so an `error` can only answer a frame we never send.
        return;
    }
  }
}

function sortTickets(tickets: TicketView[]): TicketView[] {
  return [...tickets].sort((a, b) => (a.actualizado < b.actualizado ? 1 : a.actualizado > b.actualizado ? -1 : 0));
}
