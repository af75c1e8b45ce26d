import { Emitter, type Handler } from './emitter';
import type {
  AgentView,
  ChatTransferred,
  ConnectionStatus,
  InboxMessage,
  InboxSnapshot,
  InboxTyping,
  Person,
  TicketUpdated,
  TicketView,
  TokenSource,
} from './types';
import { backoffDelay, httpToWs, pageOrigin, resolveToken } from './util';

export interface InboxState {
  status: ConnectionStatus;
  usuario: Person | null;
  /** Newest activity first. */
  tickets: TicketView[];
  agentes: AgentView[];
  /** Ticket id → names of who is typing there now. */
  typing: Record<number, Person[]>;
  error: string | null;
}

export interface InboxConfig {
  baseUrl?: string;
  getToken?: () => string | Promise<string>;
  reconnectDelay?: number;
  maxReconnectDelay?: number;
  heartbeatInterval?: number;
  WebSocketImpl?: typeof WebSocket;
}

/**
 * The agents' inbox socket (`/ws/soporte/agentes/`, docs/PROTOCOL.md §3): one
 * socket that follows every ticket an agent or supervisor may work on. It keeps
 * the state (tickets with unread counts and previews, the team, who is typing)
 * and tells subscribers when it changes (`subscribe`, for useSyncExternalStore).
 * It reconnects with jittered backoff; each `inbox` frame replaces the state.
 */
export class InboxClient {
  private emitter = new Emitter();
  private socket: WebSocket | null = null;
  private token: TokenSource | undefined;
  private attempts = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private stopped = true;
  private listeners = new Set<() => void>();
  /** The ticket the user has open: its messages do not count as unread. */
  private openTicket: number | null = null;
  private state: InboxState = { status: 'disconnected', usuario: null, tickets: [], agentes: [], typing: {}, error: null };
  private readonly baseUrl: string;

  constructor(private readonly config: InboxConfig = {}) {
    this.baseUrl = (config.baseUrl ?? httpToWs(pageOrigin())).replace(/\/$/, '');
  }

  getState = (): InboxState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  on<T = any>(event: string, handler: Handler<T>): () => void {
    return this.emitter.on(event, handler);
  }

  off<T = any>(event: string, handler: Handler<T>): void {
    this.emitter.off(event, handler);
  }

  private update(patch: Partial<InboxState>): void {
    this.state = { ...this.state, ...patch };
    this.listeners.forEach((l) => l());
  }

  connect(token?: TokenSource): void {
    if (token !== undefined) this.token = token;
    this.stopped = false;
    this.attempts = 0;
    void this.open();
  }

  private async open(): Promise<void> {
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close(1000);
      this.socket = null;
    }
    this.update({ status: this.attempts > 0 ? 'reconnecting' : 'connecting' });
    const token = this.config.getToken ? await this.config.getToken() : await resolveToken(this.token);
    if (this.stopped) return;
    const Impl = this.config.WebSocketImpl ?? WebSocket;
    const socket = new Impl(`${this.baseUrl}/ws/soporte/agentes/?token=${encodeURIComponent(token ?? '')}`);
    this.socket = socket;
    let established = false;
    socket.onmessage = (event: MessageEvent) => {
      let frame: any;
      try {
        frame = JSON.parse(String(event.data));
      } catch {
        return;
      }
      if (frame?.tipo === 'inbox') {
        established = true;
        this.attempts = 0;
      }
      this.handle(frame);
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.heartbeat) clearInterval(this.heartbeat);
      this.heartbeat = null;
      if (this.stopped || event.code === 1000) return this.update({ status: 'disconnected' });
      if (!established && this.attempts >= 3) {
        // Refused three times in a row without ever opening: a bad token or role.
        this.stopped = true;
        return this.update({ status: 'error', error: 'No se pudo abrir la bandeja de entrada.' });
      }
      this.attempts += 1;
      const delay = backoffDelay(this.attempts, this.config.reconnectDelay ?? 1000, this.config.maxReconnectDelay ?? 30000);
      this.update({ status: 'reconnecting' });
      this.timer = setTimeout(() => void this.open(), delay);
    };
  }

  reconnect(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.connect();
  }

  disconnect(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.timer = this.heartbeat = null;
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close(1000);
      this.socket = null;
    }
    this.update({ status: 'disconnected' });
  }

  /** The ticket shown now: its unread count stays at zero while it is open. */
  setOpenTicket(ticketId: number | null): void {
    this.openTicket = ticketId;
    if (ticketId !== null) this.patchTicket(ticketId, (t) => ({ ...t, no_leidos: 0 }));
  }

  private patchTicket(id: number, fn: (t: TicketView) => TicketView): void {
    const tickets = this.state.tickets.map((t) => (t.id === id ? fn(t) : t));
    this.update({ tickets: sortTickets(tickets) });
  }

  handle(frame: { tipo: string; data: any }): void {
    const data = frame.data;
    switch (frame.tipo) {
      case 'inbox': {
        const snapshot = data as InboxSnapshot;
        this.update({
          status: 'connected',
          error: null,
          usuario: snapshot.usuario,
          tickets: sortTickets(snapshot.tickets.map((t) => (t.id === this.openTicket ? { ...t, no_leidos: 0 } : t))),
          agentes: snapshot.agentes,
          typing: {},
        });
        if (this.heartbeat) clearInterval(this.heartbeat);
        this.heartbeat = setInterval(() => {
          if (this.socket?.readyState === 1) this.socket.send(JSON.stringify({ tipo: 'heartbeat', data: {} }));
        }, this.config.heartbeatInterval ?? 30000);
        this.emitter.emit('inbox', snapshot);
        break;
      }
      case 'ticket_actualizado': {
        const { ticket } = data as TicketUpdated;
        const existing = this.state.tickets.find((t) => t.id === ticket.id);
        const me = this.state.usuario;
        // An agent sees the queue and their own tickets only.
        const visible = me?.tipo === 'SUPERVISOR' || !ticket.agente || ticket.agente.id === me?.id;
        let tickets: TicketView[];
        if (!visible) tickets = this.state.tickets.filter((t) => t.id !== ticket.id);
        else if (existing) tickets = this.state.tickets.map((t) => (t.id === ticket.id ? { ...t, ...ticket } : t));
        else tickets = [...this.state.tickets, { ...ticket, no_leidos: 0, ultimo_mensaje: null }];
        this.update({ tickets: sortTickets(tickets) });
        this.emitter.emit('ticketUpdated', data);
        break;
      }
      case 'chat_transferred':
        this.emitter.emit('chatTransferred', data as ChatTransferred);
        break;
      case 'inbox_mensaje': {
        const preview = data as InboxMessage;
        const mine = preview.autor.id !== null && preview.autor.id === this.state.usuario?.id;
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
        this.emitter.emit('inboxMessage', preview);
        break;
      }
      case 'inbox_escribiendo': {
        const typing = data as InboxTyping;
        const current = (this.state.typing[typing.ticket] ?? []).filter((p) => p.id !== typing.usuario.id);
        const next = typing.escribiendo ? [...current, typing.usuario] : current;
        this.update({ typing: { ...this.state.typing, [typing.ticket]: next } });
        break;
      }
      case 'agente_disponibilidad': {
        const agent = data as AgentView;
        const others = this.state.agentes.filter((a) => a.id !== agent.id);
        this.update({ agentes: [...others, agent].sort((a, b) => a.nombre.localeCompare(b.nombre)) });
        break;
      }
      default:
        break;
    }
  }
}

function sortTickets(tickets: TicketView[]): TicketView[] {
  return [...tickets].sort((a, b) => (a.actualizado < b.actualizado ? 1 : a.actualizado > b.actualizado ? -1 : 0));
}
