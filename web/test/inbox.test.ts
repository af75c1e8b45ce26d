import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { InboxFrame } from '../src/client/frames';
import { InboxClient, type InboxConfig } from '../src/client/InboxClient';
import type { InboxMessage, Person, TicketView } from '../src/client/types';
import { ana, carlos, FakeSocket, flush, ticketView } from './fakes';

const ticket = ticketView;

const snapshot: InboxFrame = { tipo: 'inbox', data: { usuario: carlos, tickets: [ticket(1), ticket(2, { agente: null })], agentes: [] } };

function preview(t: number, autor: Person = ana, timestamp = '2026-11-27T11:00:00.000Z'): InboxFrame {
  const data: InboxMessage = { ticket: t, mensaje_id: 9, seq: 1, autor, contenido: 'hola', tipo: 'TEXTO', interno: false, timestamp };
  return { tipo: 'inbox_mensaje', data };
}

function inbox() {
  const c = new InboxClient({ baseUrl: 'ws://chat.test', network: null });
  c.handle(snapshot);
  return c;
}

describe('InboxClient state', () => {
  it('counts unread messages from others, not own ones nor those of the open ticket', () => {
    const c = inbox();
    c.handle(preview(1));
    c.handle(preview(1));
    c.handle(preview(1, carlos));
    expect(c.getState().tickets.find((t) => t.id === 1)!.no_leidos).toBe(2);
    c.setOpenTicket(2);
    c.handle(preview(2));
    expect(c.getState().tickets.find((t) => t.id === 2)!.no_leidos).toBe(0);
    c.setOpenTicket(1);
    expect(c.getState().tickets.find((t) => t.id === 1)!.no_leidos).toBe(0);
  });

  it('orders by newest activity and drops a ticket transferred to another agent', () => {
    const c = inbox();
    expect(c.getState().tickets.map((t) => t.id)).toEqual([2, 1]);
    c.handle(preview(1, ana, '2026-11-27T12:00:00.000Z'));
    expect(c.getState().tickets.map((t) => t.id)).toEqual([1, 2]);
    const maria = { id: 2002, nombre: 'María', tipo: 'AGENTE' as const, avatar: null };
    c.handle({ tipo: 'ticket_actualizado', data: { evento: 'transferido', ticket: { ...ticket(1), agente: maria } } });
    expect(c.getState().tickets.map((t) => t.id)).toEqual([2]);
  });

  it('shows an edited or deleted last message as it now is, without moving the ticket', () => {
    const c = inbox();
    c.handle(preview(1, ana, '2026-11-27T12:00:00.000Z'));
    const before = c.getState().tickets.find((t) => t.id === 1)!;
    const shown = before.ultimo_mensaje!;
    c.handle({ tipo: 'mensaje_actualizado', data: { evento: 'eliminado', mensaje: { ...shown, contenido: 'Mensaje eliminado.', eliminado: true } } });
    const after = c.getState().tickets.find((t) => t.id === 1)!;
    expect(after.ultimo_mensaje!.contenido).toBe('Mensaje eliminado.');
    expect(after.ultimo_mensaje!.eliminado).toBe(true);
    expect(after.no_leidos).toBe(before.no_leidos);
    expect(after.actualizado).toBe(before.actualizado);
    // An older message's change leaves the preview alone.
    c.handle({ tipo: 'mensaje_actualizado', data: { evento: 'editado', mensaje: { ...shown, id: 1, contenido: 'otro' } } });
    expect(c.getState().tickets.find((t) => t.id === 1)!.ultimo_mensaje!.contenido).toBe('Mensaje eliminado.');
  });

  it('tracks who is typing per ticket', () => {
    const c = inbox();
    c.handle({ tipo: 'inbox_escribiendo', data: { ticket: 1, usuario: ana, escribiendo: true } });
    expect(c.getState().typing[1].map((p) => p.nombre)).toEqual(['Ana']);
    c.handle({ tipo: 'inbox_escribiendo', data: { ticket: 1, usuario: ana, escribiendo: false } });
    expect(c.getState().typing[1]).toEqual([]);
  });

  it('loads older tickets page by page from where the snapshot ends', async () => {
    const pages: Record<string, { results: TicketView[]; next: string | null }> = {
      'http://chat.test/api/soporte/tickets/?limit=2&cursor=a': { results: [ticket(2, { agente: null }), ticket(0)], next: 'http://chat.test/p2' },
      'http://chat.test/p2': { results: [ticket(3, { actualizado: '2026-11-27T09:00:00.000Z' })], next: null },
    };
    const asked: { url: string; auth: string | undefined }[] = [];
    const fetchImpl = (async (url: string, init?: RequestInit) => {
      asked.push({ url, auth: (init?.headers as Record<string, string> | undefined)?.Authorization });
      return new Response(JSON.stringify(pages[url]), { status: 200 });
    }) as typeof fetch;
    const c = new InboxClient({ baseUrl: 'ws://chat.test', network: null, fetchImpl, getToken: () => 'tok' });
    c.handle({ tipo: 'inbox', data: { ...(snapshot.data as object), next: 'http://chat.test/api/soporte/tickets/?limit=2&cursor=a' } } as InboxFrame);
    expect(c.getState().more).not.toBeNull();
    await c.loadMore();
    // Ticket 2 was listed already: once only; ticket 0 joins in activity order.
    expect(c.getState().tickets.map((t) => t.id)).toEqual([2, 1, 0]);
    expect(c.getState().more).toBe('http://chat.test/p2');
    await c.loadMore();
    expect(c.getState().tickets.map((t) => t.id)).toEqual([2, 1, 0, 3]);
    expect(c.getState().more).toBeNull();
    await c.loadMore(); // nothing left: no request
    expect(asked).toEqual([
      { url: 'http://chat.test/api/soporte/tickets/?limit=2&cursor=a', auth: 'Bearer tok' },
      { url: 'http://chat.test/p2', auth: 'Bearer tok' },
    ]);
    expect(c.getState().loadingMore).toBe(false);
  });

  it('keeps the list as it was when a page cannot be read', async () => {
    const fetchImpl = (async () => new Response('{}', { status: 503 })) as unknown as typeof fetch;
    const c = new InboxClient({ baseUrl: 'ws://chat.test', network: null, fetchImpl, getToken: () => 'tok' });
    c.handle({ tipo: 'inbox', data: { ...(snapshot.data as object), next: 'http://chat.test/p' } } as InboxFrame);
    await expect(c.loadMore()).rejects.toThrow('503');
    expect(c.getState().tickets.map((t) => t.id)).toEqual([2, 1]);
    expect(c.getState().more).toBe('http://chat.test/p');
    expect(c.getState().loadingMore).toBe(false);
  });

  it('gives a new snapshot on each change and keeps the old one intact', () => {
    const c = inbox();
    const before = c.getState();
    c.handle(preview(1));
    expect(c.getState()).not.toBe(before);
    expect(before.tickets.find((t) => t.id === 1)!.no_leidos).toBe(0);
  });
});

describe('InboxClient connection', () => {
  beforeEach(() => {
    FakeSocket.reset();
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  const client = (extra: Partial<InboxConfig> = {}) =>
    new InboxClient({
      baseUrl: 'ws://chat.test',
      WebSocketImpl: FakeSocket.impl,
      network: null,
      random: () => 0,
      fetchImpl: vi.fn(async () => new Response('{}', { status: 503 })) as unknown as typeof fetch,
      ...extra,
    });

  it('connects with the token and is connected once the inbox frame arrives', async () => {
    const c = client();
    c.connect('a+b');
    await flush();
    const s = FakeSocket.last();
    expect(s.url).toBe('ws://chat.test/ws/soporte/agentes/?token=a%2Bb');
    expect(c.getState().status).toBe('connecting');
    s.open();
    s.receive('inbox', snapshot.data);
    expect(c.getState()).toMatchObject({ status: 'connected', usuario: carlos });
  });

  it('notices a silent socket: after 2.5 heartbeat periods without a frame it reconnects', async () => {
    const c = client({ heartbeatInterval: 1000 });
    c.connect('tok');
    await flush();
    const s = FakeSocket.last();
    s.open();
    s.receive('inbox', snapshot.data);
    await vi.advanceTimersByTimeAsync(2000);
    expect(s.frames('heartbeat')).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(999);
    expect(c.getState().status).toBe('connected');
    await vi.advanceTimersByTimeAsync(1);
    expect(s.readyState).toBe(FakeSocket.CLOSED);
    expect(c.getState().status).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(500);
    expect(FakeSocket.instances).toHaveLength(2);
  });

  it('survives a getToken that fails: no unhandled rejection, retried with backoff', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const getToken = vi.fn<() => Promise<string>>().mockRejectedValueOnce(new Error('auth caída')).mockResolvedValue('fresco');
    const c = client({ getToken });
    c.connect();
    await flush();
    expect(FakeSocket.instances).toHaveLength(0);
    expect(c.getState().status).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(500);
    expect(getToken).toHaveBeenCalledTimes(2);
    expect(FakeSocket.last().url).toContain('token=fresco');
    expect(warn).toHaveBeenCalledOnce();
    warn.mockRestore();
  });

  it('stops with the refusal when a customer token opens it (403 from the team endpoint)', async () => {
    const fetchImpl = vi.fn(async () => new Response(JSON.stringify({ detalle: 'Solo para el equipo de soporte.' }), { status: 403 }));
    const c = client({ fetchImpl: fetchImpl as unknown as typeof fetch });
    c.connect('cliente');
    await flush();
    FakeSocket.last().drop(1006);
    await flush(10);
    expect(fetchImpl).toHaveBeenCalledWith('http://chat.test/api/soporte/agentes/', { headers: { Authorization: 'Bearer cliente' } });
    expect(c.getState()).toMatchObject({ status: 'error', error: { kind: 'refused', status: 403, detalle: 'Solo para el equipo de soporte.' } });
    await vi.advanceTimersByTimeAsync(60000);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('gets a fresh token and reconnects at once when the token expires (4100)', async () => {
    let n = 0;
    const c = client({ getToken: () => `t${++n}`, heartbeatInterval: 60000 });
    c.connect();
    await flush();
    FakeSocket.last().open();
    FakeSocket.last().receive('inbox', snapshot.data);
    FakeSocket.last().drop(4100, 'el token ha expirado');
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeSocket.last().url).toContain('token=t2');
  });

  it('disconnect closes with 1000 and schedules nothing', async () => {
    const c = client();
    c.connect('tok');
    await flush();
    const s = FakeSocket.last();
    s.open();
    s.receive('inbox', snapshot.data);
    c.disconnect();
    expect(s.closedWith).toEqual({ code: 1000, reason: 'Cliente desconectado' });
    expect(c.getState().status).toBe('disconnected');
    await vi.advanceTimersByTimeAsync(60000);
    expect(FakeSocket.instances).toHaveLength(1);
  });
});
