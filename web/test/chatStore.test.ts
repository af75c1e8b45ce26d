// The chat state without React: every transition the hook shows, driven by a
// fake socket and fake timers.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ChatCache } from '../src/client/ChatCache';
import { ChatStore, type ChatStoreConfig } from '../src/client/ChatStore';
import type { HistoryPage } from '../src/client/types';
import { OfflineError } from '../src/client/uploadChecks';
import { ana, carlos, FakeSocket, flush, MemoryStorage, msg } from './fakes';

// A token whose payload says Ana (display only; never verified client-side).
const token = `x.${btoa(JSON.stringify({ sub: '1001', name: 'Ana', role: 'CLIENTE' }))}.y`;
const maria = { id: 2002, nombre: 'María', tipo: 'AGENTE' as const, avatar: null };

let storage: MemoryStorage;
let fetchImpl: ReturnType<typeof vi.fn<(url: string, init?: RequestInit) => Promise<Response>>>;

function store(extra: Partial<ChatStoreConfig> = {}) {
  return new ChatStore({
    ticketId: 7,
    token,
    baseUrl: 'http://chat.test',
    storage,
    cache: new ChatCache(storage),
    fetchImpl: fetchImpl as unknown as typeof fetch,
    client: { WebSocketImpl: FakeSocket.impl, network: null, random: () => 0, heartbeatInterval: 60000 },
    hours: false,
    profile: false,
    queue: false,
    ...extra,
  });
}

/** A store connected and greeted; returns it with its socket. */
async function connected(extra: Partial<ChatStoreConfig> = {}, greeting: Parameters<FakeSocket['establish']>[0] = {}) {
  const s = store(extra);
  s.connect();
  await flush();
  const socket = FakeSocket.last();
  socket.establish(greeting);
  return { s, socket };
}

beforeEach(() => {
  FakeSocket.reset();
  storage = new MemoryStorage();
  fetchImpl = vi.fn(async () => new Response(JSON.stringify({ marcados: [], no_leidos: 0 })));
  vi.useFakeTimers();
});
afterEach(() => vi.useRealTimers());

describe('ChatStore messages', () => {
  it('shows a message at once as ENVIANDO, then ENTREGADO, then LEIDO', async () => {
    const { s, socket } = await connected();
    const id = s.sendMessage('  Hola  ')!;
    expect(s.getState().messages).toEqual([expect.objectContaining({ client_id: id, estado: 'ENVIANDO', contenido: 'Hola', autor: expect.objectContaining({ nombre: 'Ana' }) })]);
    expect(s.getState().outbox.map((m) => m.client_id)).toEqual([id]);
    expect(socket.frames('mensaje')[0].data).toMatchObject({ client_id: id, mensaje: 'Hola' });
    socket.receive('mensaje_confirmado', { client_id: id, mensaje_id: 50, seq: 1, timestamp: '2026-11-27T10:00:00.000Z' });
    expect(s.getState().messages[0]).toMatchObject({ id: 50, seq: 1, estado: 'ENTREGADO' });
    expect(s.getState().outbox).toEqual([]);
    socket.receive('mensajes_leidos', { lector: carlos, message_ids: [50], timestamp: 'x' });
    expect(s.getState().messages[0].estado).toBe('LEIDO');
  });

  it('sends nothing for blank text', async () => {
    const { s, socket } = await connected();
    expect(s.sendMessage('   ')).toBeNull();
    expect(s.getState().messages).toEqual([]);
    expect(socket.sent).toEqual([]);
  });

  it('ignores the echo of its own reading', async () => {
    const { s, socket } = await connected({}, { historial_reciente: [msg(1)] });
    const before = s.getState();
    socket.receive('mensajes_leidos', { lector: ana, message_ids: [101], timestamp: 'x' });
    expect(s.getState()).toBe(before);
  });

  it('queues a message written while offline and delivers it after the greeting, exactly once', async () => {
    const s = store();
    s.connect();
    await flush();
    const socket = FakeSocket.last();
    const id = s.sendMessage('sin conexión')!;
    expect(s.getState().messages[0].estado).toBe('ENVIANDO');
    expect(socket.sent).toEqual([]);
    socket.establish();
    expect(socket.frames('mensaje').map((f) => f.data.client_id)).toEqual([id]);
    // The catch-up may bring our own message before the confirmation.
    socket.receive('mensaje_recibido', msg(1, { id: 60, client_id: id, autor: ana, contenido: 'sin conexión' }));
    socket.receive('mensaje_confirmado', { client_id: id, mensaje_id: 60, seq: 1, timestamp: 'x', duplicado: true });
    expect(s.getState().messages).toHaveLength(1);
    expect(s.getState().messages[0]).toMatchObject({ id: 60, estado: 'ENTREGADO' });
  });

  it('shows messages still queued from an earlier visit as ENVIANDO', async () => {
    const first = store();
    first.connect();
    await flush();
    const id = first.sendMessage('escrito antes de recargar')!;
    first.destroy();
    const second = store();
    second.connect();
    expect(second.getState().messages).toEqual([expect.objectContaining({ client_id: id, estado: 'ENVIANDO', contenido: 'escrito antes de recargar' })]);
    expect(second.getState().outbox).toHaveLength(1);
  });

  it('marks a refused message ERROR and retries it with the same client_id', async () => {
    const { s, socket } = await connected();
    const id = s.sendMessage('hola')!;
    socket.receive('error', { codigo: 'sin_permiso', detalle: 'No puedes', tipo: 'mensaje', client_id: id });
    expect(s.getState().messages[0]).toMatchObject({ estado: 'ERROR', error: 'No puedes', errorCode: 'sin_permiso' });
    expect(s.getState().outbox).toEqual([]);
    s.retryMessage(id);
    expect(s.getState().messages[0].estado).toBe('ENVIANDO');
    expect(socket.frames('mensaje').map((f) => f.data.client_id)).toEqual([id, id]);
    expect(s.getState().messages).toHaveLength(1);
  });

  it('discards an unconfirmed message from the list and the outbox', async () => {
    const s = store();
    s.connect();
    const id = s.sendMessage('mejor no')!;
    s.discardMessage(id);
    expect(s.getState().messages).toEqual([]);
    expect(s.getState().outbox).toEqual([]);
    await flush();
    FakeSocket.last().establish();
    expect(FakeSocket.last().frames('mensaje')).toEqual([]);
  });

  it('paints the cached messages first and resumes after the newest', async () => {
    new ChatCache(storage).saveMessages(7, [msg(1), msg(2)]);
    const s = store();
    expect(s.getState().messages.map((m) => m.seq)).toEqual([1, 2]);
    s.connect();
    await flush();
    expect(FakeSocket.last().url).toBe(`ws://chat.test/ws/soporte/ticket/7/?token=${encodeURIComponent(token)}&since=2&since_id=102&rev=0`);
    FakeSocket.last().establish({ since: 2, last_seq: 3, historial_reciente: [msg(3)] });
    expect(s.getState().messages.map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('starts over from the greeting when the cursor is stale, keeping unconfirmed messages', async () => {
    new ChatCache(storage).saveMessages(7, [msg(1), msg(2)]);
    const s = store();
    s.connect();
    const pending = s.sendMessage('pendiente')!;
    await flush();
    FakeSocket.last().establish({ resync: true, since: null, last_seq: 1, historial_reciente: [msg(1, { id: 900 })] });
    expect(s.getState().messages.map((m) => m.id ?? m.client_id)).toEqual([900, pending]);
    expect(s.getState().hasMore).toBe(false);
  });

  it('attaches a file whose file_uploaded arrives before its message', async () => {
    const { s, socket } = await connected();
    const file = { mensaje_id: 105, ticket: 7, id: 3, nombre: 'a.png', tamaño: 10, tipo_mime: 'image/png', url: '/f/3/' };
    socket.receive('file_uploaded', file);
    expect(s.getState().messages).toEqual([]);
    socket.receive('mensaje_recibido', msg(5));
    expect(s.getState().messages[0].archivos).toEqual([{ id: 3, nombre: 'a.png', tamaño: 10, tipo_mime: 'image/png', url: '/f/3/' }]);
  });

  it('takes the transfer message into the list and swaps the agent', async () => {
    const { s, socket } = await connected({}, { participants: [{ ...ana }, { ...carlos, online: true }], historial_reciente: [msg(1)] });
    const mensaje = msg(2, { tipo: 'TRANSFERENCIA', client_id: null, autor: { id: null, nombre: 'Sistema', tipo: 'SISTEMA', avatar: null }, contenido: 'Chat transferido de Carlos a María.' });
    socket.receive('chat_transferred', { ticket: 7, agente_anterior: carlos, nuevo_agente: maria, motivo: '', mensaje_automatico: mensaje.contenido, timestamp: 'x', mensaje });
    expect(s.getState().messages.map((m) => m.tipo)).toEqual(['TEXTO', 'TRANSFERENCIA']);
    expect(s.getState().participants.map((p) => p.nombre)).toEqual(['Ana', 'María']);
  });

  it('follows agents joining and leaving, and ticket changes', async () => {
    const { s, socket } = await connected();
    socket.receive('agente_joined', { usuario: { ...carlos, online: true }, timestamp: 'x' });
    expect(s.getState().participants.map((p) => [p.nombre, p.online])).toEqual([
      ['Ana', true],
      ['Carlos', true],
    ]);
    socket.receive('agente_left', { usuario: { ...carlos, online: false }, timestamp: 'y' });
    expect(s.getState().participants.map((p) => [p.nombre, p.online])).toEqual([
      ['Ana', true],
      ['Carlos', false],
    ]);
    const ticket = { ...s.getState().ticket!, estado: 'CERRADO' as const };
    socket.receive('ticket_actualizado', { evento: 'estado', ticket });
    expect(s.getState().ticket?.estado).toBe('CERRADO');
  });

  it('shows staff when the customer leaves and comes back', async () => {
    const { s, socket } = await connected();
    socket.receive('cliente_left', { usuario: { ...ana, online: false, lastSeen: '2026-11-27T10:00:00.000Z' }, timestamp: 'x' });
    expect(s.getState().participants.find((p) => p.id === ana.id)).toMatchObject({ online: false, lastSeen: '2026-11-27T10:00:00.000Z' });
    socket.receive('cliente_joined', { usuario: { ...ana, online: true }, timestamp: 'y' });
    expect(s.getState().participants.filter((p) => p.id === ana.id).map((p) => p.online)).toEqual([true]);
  });
});

describe('ChatStore typing', () => {
  it('tracks who types, clears on usuario_dejo_escribir', async () => {
    const { s, socket } = await connected();
    socket.receive('usuario_escribiendo', { usuario: carlos });
    socket.receive('usuario_escribiendo', { usuario: carlos });
    expect(s.getState().typing).toEqual([carlos]);
    socket.receive('usuario_dejo_escribir', { usuario: carlos });
    expect(s.getState().typing).toEqual([]);
  });

  it('forgets a typist whose stop frame was lost, 2 s after the server timeout', async () => {
    const { s, socket } = await connected({}, { limites: { max_mensaje: 5000, heartbeat_ms: 60000, typing_timeout_ms: 5000, mensajes_por_segundo: 10 } });
    socket.receive('usuario_escribiendo', { usuario: carlos });
    await vi.advanceTimersByTimeAsync(6999);
    expect(s.getState().typing).toEqual([carlos]);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.getState().typing).toEqual([]);
  });

  it('restarts the timeout on each usuario_escribiendo', async () => {
    const { s, socket } = await connected({}, { limites: { max_mensaje: 5000, heartbeat_ms: 60000, typing_timeout_ms: 1000, mensajes_por_segundo: 10 } });
    socket.receive('usuario_escribiendo', { usuario: carlos });
    await vi.advanceTimersByTimeAsync(2000);
    socket.receive('usuario_escribiendo', { usuario: carlos });
    await vi.advanceTimersByTimeAsync(2999);
    expect(s.getState().typing).toEqual([carlos]);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.getState().typing).toEqual([]);
  });

  it('forgets everyone typing when the connection drops', async () => {
    const { s, socket } = await connected();
    socket.receive('usuario_escribiendo', { usuario: carlos });
    socket.drop(1006);
    expect(s.getState().typing).toEqual([]);
    expect(s.getState().connection).toBe('reconnecting');
  });
});

describe('ChatStore history, read receipts, drafts and cache', () => {
  it('loads older history through REST with before = the oldest seq', async () => {
    const page: HistoryPage = { count: 2, next: null, previous: null, results: [msg(1), msg(2)] };
    fetchImpl.mockImplementation(async () => new Response(JSON.stringify(page)));
    const { s } = await connected({}, { historial_reciente: [msg(3), msg(4)], last_seq: 4 });
    expect(s.getState().hasMore).toBe(true);
    const loading = s.loadOlder();
    expect(s.getState().loadingOlder).toBe(true);
    await loading;
    expect(fetchImpl.mock.calls[0][0]).toBe('http://chat.test/api/soporte/tickets/7/chat/historial/?page=1&size=30&before=3');
    expect(s.getState()).toMatchObject({ loadingOlder: false, hasMore: false });
    expect(s.getState().messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
  });

  it('reports a history failure as a history error', async () => {
    fetchImpl.mockImplementation(async () => new Response(JSON.stringify({ detalle: 'No encontrado.' }), { status: 404 }));
    const { s } = await connected({}, { historial_reciente: [msg(3)], last_seq: 3 });
    await s.loadOlder();
    expect(s.getState().error).toEqual({ kind: 'history', detalle: 'No encontrado.' });
  });

  it('batches mark-read 250 ms after the first id, and never sends an id twice', async () => {
    const { s } = await connected({}, { historial_reciente: [msg(1)] });
    s.markRead([101]);
    s.markRead([101, 102]);
    await vi.advanceTimersByTimeAsync(249);
    expect(fetchImpl).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(fetchImpl).toHaveBeenCalledOnce();
    const [url, init] = fetchImpl.mock.calls[0];
    expect(url).toBe('http://chat.test/api/soporte/tickets/7/chat/mark-read/');
    expect(JSON.parse(String(init?.body))).toEqual({ message_ids: [101, 102] });
    s.markRead([101]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(fetchImpl).toHaveBeenCalledOnce();
  });

  it('sends ids again after a failed mark-read', async () => {
    fetchImpl.mockRejectedValueOnce(new Error('red caída'));
    const { s } = await connected();
    s.markRead([101]);
    await vi.advanceTimersByTimeAsync(250);
    s.markRead([101]);
    await vi.advanceTimersByTimeAsync(250);
    expect(fetchImpl).toHaveBeenCalledTimes(2);
  });

  it('saves the draft 200 ms after the last keystroke', async () => {
    const cache = new ChatCache(storage);
    const s = store({ cache });
    s.setDraft('bor');
    await vi.advanceTimersByTimeAsync(150);
    s.setDraft('borrador');
    await vi.advanceTimersByTimeAsync(199);
    expect(cache.getDraft(7)).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(cache.getDraft(7)).toBe('borrador');
    expect(store({ cache }).getState().draft).toBe('borrador');
  });

  it('writes confirmed messages to the cache 300 ms after a change, and at once on disconnect', async () => {
    const cache = new ChatCache(storage);
    const { s, socket } = await connected({ cache });
    socket.receive('mensaje_recibido', msg(1));
    await vi.advanceTimersByTimeAsync(299);
    expect(cache.getMessages(7)).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(cache.getMessages(7)?.map((m) => m.seq)).toEqual([1]);
    socket.receive('mensaje_recibido', msg(2));
    s.disconnect();
    expect(cache.getMessages(7)?.map((m) => m.seq)).toEqual([1, 2]);
  });
});

describe('ChatStore uploads', () => {
  it('refuses an upload while offline, before asking for anything', async () => {
    const s = store();
    s.connect();
    await expect(s.uploadFile(new File(['x'], 'a.png'))).rejects.toBeInstanceOf(OfflineError);
    expect(s.getState().uploads).toEqual([]);
  });

  it('refuses a file too big or of a type not allowed', async () => {
    const { s, socket } = await connected({ maxFileSize: 10 });
    await expect(s.uploadFile(new File(['x'.repeat(11)], 'a.png'))).rejects.toMatchObject({ reason: 'tooBig' });
    await expect(s.uploadFile(new File(['x'], 'a.exe'))).rejects.toMatchObject({ reason: 'badType' });
    expect(socket.frames('file_upload_request')).toEqual([]);
  });

  it('drops the upload from the list when the server refuses it', async () => {
    const { s, socket } = await connected();
    const upload = s.uploadFile(new File(['x'], 'a.pdf'));
    const refused = expect(upload).rejects.toThrow('Tipo de archivo no permitido.');
    await flush();
    expect(s.getState().uploads).toEqual([expect.objectContaining({ fileName: 'a.pdf', progress: 0 })]);
    socket.receive('error', { codigo: 'tipo_no_permitido', detalle: 'Tipo de archivo no permitido.', tipo: 'file_upload_request' });
    await refused;
    expect(s.getState().uploads).toEqual([]);
  });
});

describe('ChatStore connection and errors', () => {
  it('knows who the user is from the token, then from the greeting', async () => {
    const s = store();
    expect(s.getState().currentUser).toMatchObject({ id: 1001, nombre: 'Ana' });
    s.connect();
    await flush();
    FakeSocket.last().establish({ usuario: { ...ana, nombre: 'Ana López', online: true } });
    expect(s.getState().currentUser?.nombre).toBe('Ana López');
  });

  it('follows the connection status', async () => {
    const s = store();
    const seen: string[] = [];
    s.subscribe(() => seen.push(s.getState().connection));
    s.connect();
    await flush();
    FakeSocket.last().establish();
    s.disconnect();
    expect([...new Set(seen)]).toEqual(['connecting', 'connected', 'disconnected']);
  });

  it('says why the server refused the connection, and clears it on reconnect', async () => {
    fetchImpl.mockImplementation(async () => new Response(JSON.stringify({ detalle: 'No tienes acceso a este ticket.' }), { status: 403 }));
    const s = store();
    s.connect();
    await flush();
    FakeSocket.last().drop(1006);
    await flush(10);
    expect(s.getState()).toMatchObject({ connection: 'error', error: { kind: 'refused', status: 403, detalle: 'No tienes acceso a este ticket.' } });
    // Nothing is queued on a chat refused for good.
    expect(s.sendMessage('¿hola?')).toBeNull();
    expect(s.getState().outbox).toEqual([]);
    expect(s.getState().messages).toEqual([]);
    s.reconnect();
    expect(s.getState().error).toBeNull();
  });

  it('says when it gave up reconnecting', async () => {
    const { s } = await connected({ client: { WebSocketImpl: FakeSocket.impl, network: null, maxReconnectAttempts: 1, random: () => 0 } });
    FakeSocket.last().drop(1006);
    await vi.advanceTimersByTimeAsync(500);
    FakeSocket.last().drop(1006);
    await flush(10);
    expect(s.getState().error).toEqual({ kind: 'reconnectFailed', attempts: 1 });
  });

  it('can disconnect and connect again (React StrictMode) without showing a message twice', async () => {
    const s = store();
    s.connect();
    s.sendMessage('una vez');
    await flush();
    s.disconnect();
    s.connect();
    await flush();
    FakeSocket.last().establish();
    expect(FakeSocket.instances).toHaveLength(2);
    expect(FakeSocket.instances[0].readyState).toBe(FakeSocket.CLOSED);
    expect(s.getState().messages).toHaveLength(1);
    expect(FakeSocket.last().frames('mensaje')).toHaveLength(1);
  });

  it('gives a new snapshot on each change and never changes an old one', async () => {
    const { s, socket } = await connected();
    const before = s.getState();
    const messages = before.messages;
    socket.receive('mensaje_recibido', msg(1));
    expect(s.getState()).not.toBe(before);
    expect(before.messages).toBe(messages);
    expect(messages).toEqual([]);
  });

  it('adds the token to attachment URLs', async () => {
    const { s } = await connected();
    const encoded = encodeURIComponent(token);
    expect(s.fileUrl('/api/soporte/archivos/3/')).toBe(`/api/soporte/archivos/3/?token=${encoded}`);
    expect(s.fileUrl('/a/?x=1')).toBe(`/a/?x=1&token=${encoded}`);
  });
});

describe('ChatStore ticket actions', () => {
  it('rates the ticket and keeps the rating on it; a 409 (rated elsewhere) reads the ticket again', async () => {
    const { s } = await connected();
    const rating = { puntuacion: 5, comentario: 'Genial', creado: '2026-12-06T10:00:00.000Z' };
    fetchImpl.mockImplementationOnce(async () => new Response(JSON.stringify(rating), { status: 201 }));
    await s.rate(5, '  Genial ');
    const [url, init] = fetchImpl.mock.calls[0];
    expect(url).toBe('http://chat.test/api/soporte/tickets/7/csat/');
    expect(JSON.parse(String(init?.body))).toEqual({ puntuacion: 5, comentario: 'Genial' });
    expect(s.getState().ticket?.csat).toEqual(rating);

    const other = await connected();
    const rated = { ...other.s.getState().ticket!, csat: rating };
    fetchImpl.mockImplementationOnce(async () => new Response(JSON.stringify({ detalle: 'Este ticket ya tiene tu valoración.' }), { status: 409 }));
    fetchImpl.mockImplementationOnce(async () => new Response(JSON.stringify(rated)));
    await other.s.rate(3);
    expect(other.s.getState().ticket?.csat).toEqual(rating);
  });

  it('rejects with the server’s reason when a rating is refused', async () => {
    const { s } = await connected();
    fetchImpl.mockImplementationOnce(async () => new Response(JSON.stringify({ detalle: 'El plazo para valorar este ticket terminó.' }), { status: 400 }));
    await expect(s.rate(4)).rejects.toThrow('El plazo para valorar');
    expect(s.getState().ticket?.csat).toBeFalsy();
  });

  it('moves the ticket and holds what the server answered', async () => {
    const { s } = await connected();
    const resolved = { ...s.getState().ticket!, estado: 'RESUELTO' };
    fetchImpl.mockImplementationOnce(async () => new Response(JSON.stringify(resolved)));
    await s.setTicketState('RESUELTO');
    expect(fetchImpl.mock.calls[0][0]).toBe('http://chat.test/api/soporte/tickets/7/estado/');
    expect(s.getState().ticket?.estado).toBe('RESUELTO');
  });
});

describe('ChatStore team hours', () => {
  it('reads the hours at each greeting and keeps the last ones when that fails', async () => {
    const hours = { horario: null, abierto: false, cierra: null, abre: '2026-12-08T08:00:00.000Z', respuesta_tipica_segundos: 60 };
    fetchImpl.mockImplementation(async () => new Response(JSON.stringify(hours)));
    const { s, socket } = await connected({ hours: true });
    await vi.waitFor(() => expect(s.getState().hours).toEqual(hours));
    expect(fetchImpl.mock.calls[0][0]).toBe('http://chat.test/api/soporte/horario/');
    fetchImpl.mockImplementation(async () => new Response('{"detalle":"x"}', { status: 503 }));
    socket.establish();
    await flush();
    expect(s.getState().hours).toEqual(hours);
  });
});

describe('ChatStore profile and transcripts', () => {
  it('reads the profile once, saves an address and asks for the transcript at it', async () => {
    const me = { id: 1, nombre: 'Ana', rol: 'CLIENTE', avatar: null, email: null, avisos_por_correo: true };
    fetchImpl.mockImplementation(async () => new Response(JSON.stringify(me)));
    const { s, socket } = await connected({ profile: true });
    await vi.waitFor(() => expect(s.getState().profile).toEqual(me));
    expect(fetchImpl.mock.calls[0][0]).toBe('http://chat.test/api/soporte/yo/');
    // A second greeting (a reconnection) does not read it again.
    socket.establish();
    await flush();
    expect(fetchImpl).toHaveBeenCalledTimes(1);

    fetchImpl.mockImplementationOnce(async () => new Response(JSON.stringify({ ...me, email: 'ana@example.com' })));
    await s.saveEmail(' ana@example.com ');
    expect(fetchImpl.mock.calls[1][0]).toBe('http://chat.test/api/soporte/yo/');
    expect((fetchImpl.mock.calls[1][1] as RequestInit).method).toBe('PATCH');
    expect(JSON.parse(String((fetchImpl.mock.calls[1][1] as RequestInit).body))).toEqual({ email: 'ana@example.com' });
    expect(s.getState().profile?.email).toBe('ana@example.com');

    fetchImpl.mockImplementationOnce(async () => new Response(JSON.stringify({ para: 'otra@example.com' }), { status: 202 }));
    await expect(s.requestTranscript('otra@example.com')).resolves.toBe('otra@example.com');
    expect(fetchImpl.mock.calls[2][0]).toBe('http://chat.test/api/soporte/tickets/7/transcripcion/');
    expect(s.getState().profile?.email).toBe('otra@example.com');
  });
});

describe('ChatStore queue place', () => {
  it('reads a waiting customer’s place now and every 15 s, and forgets it once an agent has the ticket', async () => {
    const queued = { id: 7, asunto: 'Prueba', estado: 'ABIERTO' as const, cliente: ana, agente: null, creado: '2026-11-27T10:00:00.000Z', actualizado: '2026-11-27T10:00:00.000Z', last_seq: 0 };
    let place = 3;
    fetchImpl.mockImplementation(async () => new Response(JSON.stringify({ posicion: place, espera_tipica_segundos: 120 })));
    const { s, socket } = await connected({ queue: true }, { ticket: queued });
    await vi.waitFor(() => expect(s.getState().queue).toEqual({ posicion: 3, espera_tipica_segundos: 120 }));
    expect(fetchImpl.mock.calls[0][0]).toBe('http://chat.test/api/soporte/tickets/7/cola/');
    place = 2;
    await vi.advanceTimersByTimeAsync(15_000);
    expect(s.getState().queue?.posicion).toBe(2);
    // An agent takes it: no more place, no more reads.
    socket.receive('ticket_actualizado', { ticket: { ...queued, agente: carlos } });
    expect(s.getState().queue).toBeNull();
    const calls = fetchImpl.mock.calls.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(fetchImpl.mock.calls.length).toBe(calls);
  });
});

describe('ChatStore edits, deletions and replies', () => {
  const edited = (seq: number, rev: number, contenido: string) => msg(seq, { contenido, editado: true, rev, editado_en: '2026-11-27T10:09:00.000Z' });

  it('applies a live edit and a deletion to the message held, and nothing older undoes them', async () => {
    const { s, socket } = await connected({}, { historial_reciente: [msg(1), msg(2, { archivos: [{ id: 9, nombre: 'a.png', tamaño: 1, tipo_mime: 'image/png', url: '/f/9' }] })] });
    socket.receive('mensaje_actualizado', { evento: 'editado', mensaje: edited(1, 1, 'corregido') });
    socket.receive('mensaje_actualizado', { evento: 'eliminado', mensaje: msg(2, { contenido: 'Mensaje eliminado.', eliminado: true, rev: 2, archivos: [] }) });
    // A message never loaded here is not added by its change.
    socket.receive('mensaje_actualizado', { evento: 'editado', mensaje: edited(40, 3, 'viejo') });
    let messages = s.getState().messages;
    expect(messages.map((m) => [m.seq, m.contenido, m.editado ?? false, m.eliminado ?? false])).toEqual([
      [1, 'corregido', true, false],
      [2, 'Mensaje eliminado.', false, true],
    ]);
    expect(messages[1].archivos).toEqual([]);
    // A history page read before the edit arrives late: the edit stays.
    socket.receive('mensaje_recibido', msg(1));
    messages = s.getState().messages;
    expect(messages[0].contenido).toBe('corregido');
  });

  it('resumes with the revision of its last greeting, from the cache after a reload, and applies what changed', async () => {
    const first = await connected({}, { historial_reciente: [msg(1), msg(2)], rev: 4 });
    first.s.disconnect();
    // A reload: the cache has the messages and the revision.
    const { s } = { s: store() };
    expect(s.getState().rev).toBe(4);
    s.connect();
    await flush();
    expect(FakeSocket.last().url).toContain('&since=2&since_id=102&rev=4');
    FakeSocket.last().establish({ since: 2, last_seq: 2, rev: 6, actualizados: [edited(2, 6, 'dos, corregido')] });
    expect(s.getState().messages[1]).toMatchObject({ contenido: 'dos, corregido', editado: true, rev: 6 });
    expect(s.getState().rev).toBe(6);
  });

  it('edits and deletes over REST and takes the answer at once', async () => {
    const { s } = await connected({}, { historial_reciente: [msg(1)] });
    fetchImpl.mockImplementation(async () => new Response(JSON.stringify(edited(1, 1, 'nuevo'))));
    await s.editMessage(101, '  nuevo ');
    const [url, init] = fetchImpl.mock.calls.at(-1)!;
    expect(url).toBe('http://chat.test/api/soporte/tickets/7/chat/mensajes/101/');
    expect(init?.method).toBe('PATCH');
    expect(JSON.parse(String(init?.body))).toEqual({ mensaje: 'nuevo' });
    expect(s.getState().messages[0].contenido).toBe('nuevo');
    fetchImpl.mockImplementation(async () => new Response(JSON.stringify({ detalle: 'Ya no se puede editar este mensaje.', codigo: 'fuera_de_plazo' }), { status: 409 }));
    await expect(s.editMessage(101, 'tarde')).rejects.toMatchObject({ status: 409, codigo: 'fuera_de_plazo' });
    expect(s.getState().messages[0].contenido).toBe('nuevo');
    fetchImpl.mockImplementation(async () => new Response(JSON.stringify(msg(1, { eliminado: true, rev: 2, contenido: 'Mensaje eliminado.' }))));
    await s.deleteMessage(101);
    expect(fetchImpl.mock.calls.at(-1)![1]?.method).toBe('DELETE');
    expect(s.getState().messages[0].eliminado).toBe(true);
  });

  it('sends a reply with reply_to, shows it quoted at once and clears the reply', async () => {
    const { s, socket } = await connected({}, { historial_reciente: [msg(1)] });
    s.setReplyTo(101);
    expect(s.getState().replyTo).toBe(101);
    s.sendMessage('respuesta');
    expect(socket.frames('mensaje')[0].data).toMatchObject({ mensaje: 'respuesta', reply_to: 101 });
    expect(s.getState().messages.at(-1)).toMatchObject({ contenido: 'respuesta', replyTo: 101 });
    expect(s.getState().replyTo).toBeNull();
  });
});
