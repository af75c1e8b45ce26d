import { act, renderHook, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ChatCache } from '../src/client/ChatCache';
import { useChatSoporte, type UseChatConfig } from '../src/react/useChatSoporte';
import { ana, carlos, FakeSocket, MemoryStorage, msg } from './fakes';

// A token whose payload says Ana (display only; never verified client-side).
const token = `x.${btoa(JSON.stringify({ sub: '1001', name: 'Ana', role: 'CLIENTE' }))}.y`;

let fetchImpl: ReturnType<typeof vi.fn>;
let storage: MemoryStorage;

function config(extra: Partial<UseChatConfig> = {}): UseChatConfig {
  return {
    token,
    baseUrl: 'http://chat.test',
    storage,
    cache: new ChatCache(storage),
    fetchImpl: fetchImpl as unknown as typeof fetch,
    client: { WebSocketImpl: FakeSocket as unknown as typeof WebSocket, reconnectDelay: 10 },
    hours: false,
    profile: false,
    queue: false,
    ...extra,
  };
}

async function socket() {
  await waitFor(() => expect(FakeSocket.instances.length).toBeGreaterThan(0));
  return FakeSocket.last();
}

beforeEach(() => {
  FakeSocket.reset();
  storage = new MemoryStorage();
  fetchImpl = vi.fn(async () => new Response(JSON.stringify({ marcados: [], no_leidos: 0 })));
});
afterEach(() => vi.useRealTimers());

describe('useChatSoporte', () => {
  it('shows a message at once as ENVIANDO, then ENTREGADO, then LEIDO', async () => {
    const { result } = renderHook(({ c }) => useChatSoporte(7, c), { initialProps: { c: config() } });
    const s = await socket();
    act(() => s.establish());
    expect(result.current.connectionStatus).toBe('connected');
    let id: string | null = null;
    act(() => {
      id = result.current.sendMessage('Hola');
    });
    expect(result.current.messages).toHaveLength(1);
    expect(result.current.messages[0]).toMatchObject({ client_id: id, estado: 'ENVIANDO', contenido: 'Hola' });
    expect(s.frames('mensaje')[0].data.client_id).toBe(id);
    act(() => s.receive('mensaje_confirmado', { client_id: id, mensaje_id: 50, seq: 1, timestamp: '2026-11-27T10:00:00.000Z' }));
    expect(result.current.messages[0]).toMatchObject({ id: 50, seq: 1, estado: 'ENTREGADO' });
    act(() => s.receive('mensajes_leidos', { lector: carlos, message_ids: [50], timestamp: 'x' }));
    expect(result.current.messages[0].estado).toBe('LEIDO');
  });

  it('queues a message written while offline and delivers it after the connection, exactly once', async () => {
    const { result } = renderHook(({ c }) => useChatSoporte(7, c), { initialProps: { c: config() } });
    const s = await socket();
    let id: string | null = null;
    act(() => {
      id = result.current.sendMessage('sin conexión');
    });
    expect(result.current.messages[0].estado).toBe('ENVIANDO');
    expect(s.sent).toHaveLength(0);
    act(() => s.establish());
    expect(s.frames('mensaje').map((f) => f.data.client_id)).toEqual([id]);
    // The catch-up may bring our own message before the confirmation.
    act(() => s.receive('mensaje_recibido', msg(1, { id: 60, client_id: id, autor: ana, contenido: 'sin conexión' })));
    act(() => s.receive('mensaje_confirmado', { client_id: id, mensaje_id: 60, seq: 1, timestamp: 'x', duplicado: true }));
    expect(result.current.messages).toHaveLength(1);
    expect(result.current.messages[0]).toMatchObject({ id: 60, estado: 'ENTREGADO' });
  });

  it('marks a refused message ERROR and retries it with the same client_id', async () => {
    const { result } = renderHook(({ c }) => useChatSoporte(7, c), { initialProps: { c: config() } });
    const s = await socket();
    act(() => s.establish());
    let id = '';
    act(() => {
      id = result.current.sendMessage('hola')!;
    });
    act(() => s.receive('error', { codigo: 'sin_permiso', detalle: 'No puedes', tipo: 'mensaje', client_id: id }));
    expect(result.current.messages[0]).toMatchObject({ estado: 'ERROR', error: 'No puedes' });
    act(() => result.current.retryMessage(id));
    expect(result.current.messages[0].estado).toBe('ENVIANDO');
    expect(s.frames('mensaje').map((f) => f.data.client_id)).toEqual([id, id]);
    expect(result.current.messages).toHaveLength(1);
  });

  it('paints the cached messages first and resumes with since', async () => {
    new ChatCache(storage).saveMessages(7, [msg(1), msg(2)]);
    const { result } = renderHook(({ c }) => useChatSoporte(7, c), { initialProps: { c: config() } });
    expect(result.current.messages.map((m) => m.seq)).toEqual([1, 2]);
    const s = await socket();
    expect(s.url).toContain('since=2');
    act(() => s.establish({ since: 2, last_seq: 3, historial_reciente: [msg(3)] }));
    expect(result.current.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('tracks typing per ticket and clears it on usuario_dejo_escribir', async () => {
    const { result } = renderHook(({ c }) => useChatSoporte(7, c), { initialProps: { c: config() } });
    const s = await socket();
    act(() => s.establish());
    act(() => s.receive('usuario_escribiendo', { usuario: carlos }));
    expect(result.current.typingUsers).toEqual([2001]);
    expect(result.current.typingPeople[0].nombre).toBe('Carlos');
    act(() => s.receive('usuario_dejo_escribir', { usuario: carlos }));
    expect(result.current.typingUsers).toEqual([]);
  });

  it('takes the transfer message into the list and swaps the agent', async () => {
    const { result } = renderHook(({ c }) => useChatSoporte(7, c), { initialProps: { c: config() } });
    const s = await socket();
    act(() => s.establish({ participants: [{ ...ana }, { ...carlos, online: true }], historial_reciente: [msg(1)] }));
    const nuevo = { id: 2002, nombre: 'María', tipo: 'AGENTE' as const, avatar: null };
    const mensaje = msg(2, { tipo: 'TRANSFERENCIA', client_id: null, autor: { id: null, nombre: 'Sistema', tipo: 'SISTEMA', avatar: null }, contenido: 'Chat transferido de Carlos a María.' });
    act(() => s.receive('chat_transferred', { ticket: 7, agente_anterior: carlos, nuevo_agente: nuevo, motivo: '', mensaje_automatico: mensaje.contenido, timestamp: 'x', mensaje }));
    expect(result.current.messages.map((m) => m.tipo)).toEqual(['TEXTO', 'TRANSFERENCIA']);
    expect(result.current.participants.map((p) => p.nombre)).toEqual(['Ana', 'María']);
  });

  it('loads older history through REST with before=oldest seq', async () => {
    fetchImpl.mockImplementation(async () => new Response(JSON.stringify({ count: 2, next: null, previous: null, results: [msg(1), msg(2)] })));
    const { result } = renderHook(({ c }) => useChatSoporte(7, c), { initialProps: { c: config() } });
    const s = await socket();
    act(() => s.establish({ historial_reciente: [msg(3), msg(4)], last_seq: 4 }));
    expect(result.current.hasMore).toBe(true);
    await act(() => result.current.loadOlder());
    expect(fetchImpl.mock.calls[0][0]).toBe('http://chat.test/api/soporte/tickets/7/chat/historial/?page=1&size=30&before=3');
    expect(result.current.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    expect(result.current.hasMore).toBe(false);
  });

  it('batches mark-read and never sends an id twice', async () => {
    const { result } = renderHook(({ c }) => useChatSoporte(7, c), { initialProps: { c: config() } });
    const s = await socket();
    act(() => s.establish({ historial_reciente: [msg(1)] }));
    act(() => {
      result.current.markRead([101]);
      result.current.markRead([101, 102]);
    });
    await waitFor(() => expect(fetchImpl).toHaveBeenCalledTimes(1));
    const [url, init] = fetchImpl.mock.calls[0] as [string, RequestInit];
    expect(url).toBe('http://chat.test/api/soporte/tickets/7/chat/mark-read/');
    expect(JSON.parse(init.body as string)).toEqual({ message_ids: [101, 102] });
    act(() => result.current.markRead([101]));
    await new Promise((r) => setTimeout(r, 300));
    expect(fetchImpl).toHaveBeenCalledTimes(1);
  });

  it('keeps a draft per ticket', async () => {
    const cfg = config();
    const { result, rerender } = renderHook(({ id, c }) => useChatSoporte(id, c), { initialProps: { id: 7, c: cfg } });
    act(() => result.current.setDraft('borrador del 7'));
    await new Promise((r) => setTimeout(r, 250));
    rerender({ id: 8, c: cfg });
    await waitFor(() => expect(result.current.draft).toBe(''));
    rerender({ id: 7, c: cfg });
    await waitFor(() => expect(result.current.draft).toBe('borrador del 7'));
  });

  it('refuses a file that is too big or of a type not allowed before sending anything', async () => {
    const { result } = renderHook(({ c }) => useChatSoporte(7, c), { initialProps: { c: config({ maxFileSize: 10 }) } });
    const s = await socket();
    act(() => s.establish());
    await expect(result.current.uploadFile(new File(['x'.repeat(11)], 'a.png'))).rejects.toMatchObject({ reason: 'tooBig' });
    await expect(result.current.uploadFile(new File(['x'], 'a.exe'))).rejects.toMatchObject({ reason: 'badType' });
    expect(s.frames('file_upload_request')).toHaveLength(0);
  });
});
