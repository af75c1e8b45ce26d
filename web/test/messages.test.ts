import { describe, expect, it, vi } from 'vitest';
import { ChatCache } from '../src/client/ChatCache';
import { ChatSync } from '../src/client/ChatSync';
import * as list from '../src/client/messages';
import type { Message } from '../src/client/types';
import { ana, MemoryStorage, msg } from './fakes';

const pending = (clientId: string, text = 'hola'): Message => ({
  client_id: clientId,
  timestamp: '2026-11-27T10:05:00.000Z',
  autor: ana,
  contenido: text,
  tipo: 'TEXTO',
  estado: 'ENVIANDO',
  archivos: [],
});

describe('message list', () => {
  it('keeps messages unique and in seq order whatever order they arrive in', () => {
    let l = list.mergeMessages([], [msg(3), msg(1)]);
    l = list.mergeMessages(l, [msg(2), msg(3)]);
    expect(l.map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('puts unconfirmed messages after confirmed ones, and the confirmation gives them their place', () => {
    let l = list.mergeMessages([], [msg(1)]);
    l = list.addPending(l, pending('mine'));
    l = list.mergeMessages(l, [msg(2)]);
    expect(l.map((m) => m.seq ?? m.client_id)).toEqual([1, 2, 'mine']);
    l = list.applyConfirmation(l, { client_id: 'mine', mensaje_id: 500, seq: 3, timestamp: '2026-11-27T10:06:00.000Z' });
    expect(l[2]).toMatchObject({ id: 500, seq: 3, estado: 'ENTREGADO' });
  });

  it('merges an own message coming back in catch-up with its optimistic copy (no duplicate)', () => {
    let l = list.addPending([], pending('mine'));
    l = list.mergeMessages(l, [msg(5, { id: 900, client_id: 'mine', autor: ana, contenido: 'hola' })]);
    expect(l).toHaveLength(1);
    expect(l[0]).toMatchObject({ id: 900, seq: 5, estado: 'ENTREGADO' });
    // The late confirmation of the same message changes nothing.
    l = list.applyConfirmation(l, { client_id: 'mine', mensaje_id: 900, seq: 5, timestamp: 'x' });
    expect(l).toHaveLength(1);
  });

  it('never turns a read message back into delivered', () => {
    let l = list.mergeMessages([], [msg(1)]);
    l = list.markRead(l, [101]);
    expect(l[0].estado).toBe('LEIDO');
    l = list.mergeMessages(l, [msg(1)]);
    expect(l[0].estado).toBe('LEIDO');
  });

  it('attaches an uploaded file once, and says when its message is not there yet', () => {
    const l = list.mergeMessages([], [msg(1, { tipo: 'ARCHIVO', contenido: '' })]);
    const file = { mensaje_id: 101, ticket: 7, id: 3, nombre: 'a.png', tamaño: 10, tipo_mime: 'image/png', url: '/f/3' };
    const once = list.attachFile(l, file)!;
    expect(list.attachFile(once, file)![0].archivos).toHaveLength(1);
    expect(list.attachFile(l, { ...file, mensaje_id: 999 })).toBeNull();
  });

  it('marks a failed message and back to sending for a retry', () => {
    let l = list.addPending([], pending('x'));
    l = list.markFailed(l, 'x', 'cerrado');
    expect(l[0]).toMatchObject({ estado: 'ERROR', error: 'cerrado' });
    l = list.markSending(l, 'x');
    expect(l[0].estado).toBe('ENVIANDO');
  });
});

describe('ChatCache', () => {
  it('keeps confirmed messages only, newest last, and expires them', () => {
    const storage = new MemoryStorage();
    const cache = new ChatCache(storage, 1000);
    cache.saveMessages(7, [msg(1), pending('p')]);
    expect(cache.getMessages(7)!.map((m) => m.seq)).toEqual([1]);
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + 2000);
    expect(cache.getMessages(7)).toBeNull();
    vi.restoreAllMocks();
  });

  it("writes the seed's format: {messages, timestamp, ticketId} and {message, timestamp}", () => {
    const storage = new MemoryStorage();
    const cache = new ChatCache(storage);
    const message = msg(1);
    vi.spyOn(Date, 'now').mockReturnValue(1_800_000_000_000);
    cache.saveMessages(7, [message]);
    cache.saveDraft(7, 'borrador');
    vi.restoreAllMocks();
    expect(JSON.parse(storage.getItem('chat_soporte_messages_7')!)).toEqual({ messages: [message], timestamp: 1_800_000_000_000, ticketId: 7 });
    expect(JSON.parse(storage.getItem('chat_soporte_draft_7')!)).toEqual({ message: 'borrador', timestamp: 1_800_000_000_000 });
  });

  it("reads what the seed's ChatCache wrote, and what 0.1.0 wrote", () => {
    const storage = new MemoryStorage();
    const now = Date.now();
    storage.setItem('chat_soporte_messages_7', JSON.stringify({ messages: [msg(1)], timestamp: now, ticketId: 7 }));
    storage.setItem('chat_soporte_draft_7', JSON.stringify({ message: 'del seed', timestamp: now }));
    storage.setItem('chat_soporte_messages_8', JSON.stringify({ value: [msg(2)], timestamp: now }));
    storage.setItem('chat_soporte_draft_8', JSON.stringify({ value: 'de 0.1.0', timestamp: now }));
    storage.setItem('chat_soporte_messages_9', 'no es json');
    const cache = new ChatCache(storage);
    expect(cache.getMessages(7)!.map((m) => m.seq)).toEqual([1]);
    expect(cache.getDraft(7)).toBe('del seed');
    expect(cache.getMessages(8)!.map((m) => m.seq)).toEqual([2]);
    expect(cache.getDraft(8)).toBe('de 0.1.0');
    expect(cache.getMessages(9)).toBeNull();
  });

  it('clears every entry under its prefix and nothing else', () => {
    const storage = new MemoryStorage();
    const cache = new ChatCache(storage);
    cache.saveMessages(1, [msg(1)]);
    cache.saveDraft(2, 'x');
    storage.setItem('authToken', 't');
    cache.clearAll();
    expect([...storage.map.keys()]).toEqual(['authToken']);
  });

  it('keeps one draft per ticket', () => {
    const cache = new ChatCache(new MemoryStorage());
    cache.saveDraft(1, 'uno');
    cache.saveDraft(2, 'dos');
    expect(cache.getDraft(1)).toBe('uno');
    expect(cache.getDraft(2)).toBe('dos');
    cache.saveDraft(1, '');
    expect(cache.getDraft(1)).toBeNull();
  });
});

describe('ChatSync', () => {
  it('sends no Content-Type on GET and no Authorization without a token (D10)', async () => {
    const fetchImpl = vi.fn(async () => new Response(JSON.stringify({ count: 0, next: null, previous: null, results: [] })));
    const sync = new ChatSync({ baseUrl: 'http://chat.test', fetchImpl: fetchImpl as unknown as typeof fetch });
    await sync.fetchChatHistory(7, { before: 40, size: 20 });
    const [url, init] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('http://chat.test/api/soporte/tickets/7/chat/historial/?page=1&size=20&before=40');
    expect(init.headers).toEqual({});
  });

  it('sends the socket queue shape to sync/ (D9) with the bearer token', async () => {
    const fetchImpl = vi.fn(async () => new Response(JSON.stringify({ results: [], errores: [] })));
    const sync = new ChatSync({ baseUrl: 'http://chat.test', token: 'tok', fetchImpl: fetchImpl as unknown as typeof fetch });
    await sync.syncOfflineMessages(7, [{ client_id: 'a', mensaje: 'hola', timestamp: 't', metadata: {} }]);
    const [, init] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit];
    expect(init.headers).toEqual({ Authorization: 'Bearer tok', 'Content-Type': 'application/json' });
    expect(JSON.parse(init.body as string)).toEqual({ messages: [{ client_id: 'a', contenido: 'hola', timestamp: 't', metadata: {} }] });
  });

  it('throws the server detalle on errors', async () => {
    const fetchImpl = vi.fn(async () => new Response(JSON.stringify({ detalle: 'No encontrado.' }), { status: 404 }));
    const sync = new ChatSync({ baseUrl: 'http://chat.test', token: 'tok', fetchImpl: fetchImpl as unknown as typeof fetch });
    await expect(sync.getTicket(9)).rejects.toMatchObject({ message: 'No encontrado.', status: 404 });
  });
});

describe('message changes', () => {
  it('takes the newer copy of a changed message, never adds one not held, and empties a deleted one', () => {
    const file = { id: 9, nombre: 'a.png', tamaño: 1, tipo_mime: 'image/png', url: '/f/9' };
    const held = list.mergeMessages([], [msg(1), msg(2, { archivos: [file] })]);
    let l = list.applyUpdates(held, [msg(1, { contenido: 'v2', editado: true, rev: 2 }), msg(9, { rev: 3 })]);
    expect(l.map((m) => m.contenido)).toEqual(['v2', held[1].contenido]);
    // An older copy (rev 1) arriving later does not undo it.
    l = list.applyUpdates(l, [msg(1, { contenido: 'v1', editado: true, rev: 1 })]);
    l = list.mergeMessages(l, [msg(1)]);
    expect(l[0]).toMatchObject({ contenido: 'v2', rev: 2, editado: true });
    l = list.applyUpdates(l, [msg(2, { eliminado: true, contenido: 'Mensaje eliminado.', rev: 4, archivos: [] })]);
    expect(l[1]).toMatchObject({ eliminado: true, archivos: [] });
    expect(list.applyUpdates(l, [])).toBe(l);
  });
});
