// Test doubles: a WebSocket the test drives by hand, and an in-memory Storage.
import type { ClientFrame } from '../src/client/frames';
import type { ConnectionEstablished, Message, TicketView } from '../src/client/types';

type CloseLike = { code: number; reason: string };

export class FakeSocket {
  // The WebSocket constants the client reads instead of magic numbers.
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  static instances: FakeSocket[] = [];
  static reset() {
    FakeSocket.instances = [];
  }
  static last(): FakeSocket {
    return FakeSocket.instances[FakeSocket.instances.length - 1];
  }
  /** Stands in for the `WebSocket` constructor in a config. */
  static get impl(): typeof WebSocket {
    return FakeSocket as unknown as typeof WebSocket;
  }
  readyState = 0;
  sent: ClientFrame[] = [];
  closedWith: { code?: number; reason?: string } | null = null;
  onopen: ((e: object) => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: ((e: CloseLike) => void) | null = null;
  onerror: ((e: object) => void) | null = null;
  constructor(public url: string) {
    FakeSocket.instances.push(this);
  }
  send(data: string) {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(JSON.parse(data));
  }
  close(code?: number, reason?: string) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.closedWith = { code, reason };
    this.onclose?.({ code: code ?? 1000, reason: reason ?? '' });
  }
  /** The server accepts the upgrade. */
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(tipo: string, data: unknown) {
    this.onmessage?.({ data: JSON.stringify({ tipo, data }) });
  }
  /** Open and greet, as the server does. */
  establish(overrides: Partial<ConnectionEstablished> = {}) {
    this.open();
    this.receive('connection_established', established(overrides));
  }
  /** The server (or the network) drops the connection. */
  drop(code = 1006, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  frames<T extends ClientFrame['tipo']>(tipo: T): Extract<ClientFrame, { tipo: T }>[] {
    return this.sent.filter((f): f is Extract<ClientFrame, { tipo: T }> => f.tipo === tipo);
  }
  /** A text frame that is not one of ours (garbage, or a frame from a newer server). */
  receiveRaw(text: string) {
    this.onmessage?.({ data: text });
  }
}

export class MemoryStorage {
  map = new Map<string, string>();
  getItem(k: string) {
    return this.map.has(k) ? this.map.get(k)! : null;
  }
  setItem(k: string, v: string) {
    this.map.set(k, v);
  }
  removeItem(k: string) {
    this.map.delete(k);
  }
  get length() {
    return this.map.size;
  }
  key(i: number) {
    return [...this.map.keys()][i] ?? null;
  }
}

export const ana = { id: 1001, nombre: 'Ana', tipo: 'CLIENTE' as const, avatar: null };
export const carlos = { id: 2001, nombre: 'Carlos', tipo: 'AGENTE' as const, avatar: null };

export function established(overrides: Partial<ConnectionEstablished> = {}): ConnectionEstablished {
  return {
    usuario: { ...ana, online: true, lastSeen: null },
    ticket: { id: 7, asunto: 'Prueba', estado: 'ABIERTO', cliente: ana, agente: carlos, creado: '2026-11-27T10:00:00.000Z', actualizado: '2026-11-27T10:00:00.000Z', last_seq: 0 },
    participants: [{ ...ana, online: true }],
    historial_reciente: [],
    since: null,
    last_seq: 0,
    limites: { max_mensaje: 5000, heartbeat_ms: 30000, typing_timeout_ms: 5000, mensajes_por_segundo: 10 },
    ...overrides,
  };
}

let nextId = 1;
/** A ticket as inbox lists show it: Ana's, Carlos's, open. */
export const ticketView = (id: number, extra: Partial<TicketView> = {}): TicketView => ({
  id,
  asunto: `T${id}`,
  estado: 'ABIERTO',
  cliente: ana,
  agente: carlos,
  creado: '2026-11-27T10:00:00.000Z',
  actualizado: `2026-11-27T10:00:0${id}.000Z`,
  last_seq: 0,
  no_leidos: 0,
  ultimo_mensaje: null,
  ...extra,
});

export function msg(seq: number, overrides: Partial<Message> = {}): Message {
  return {
    id: overrides.id ?? 100 + seq,
    client_id: `c${seq}`,
    ticket: 7,
    seq,
    timestamp: new Date(Date.UTC(2026, 10, 27, 10, 0, seq)).toISOString(),
    autor: carlos,
    contenido: `Mensaje ${seq} ${nextId++}`,
    tipo: 'TEXTO',
    estado: 'ENTREGADO',
    archivos: [],
    metadata: {},
    interno: false,
    ...overrides,
  };
}

/** Lets pending promises (token lookups) run. */
export async function flush(times = 5) {
  for (let i = 0; i < times; i++) await Promise.resolve();
}
