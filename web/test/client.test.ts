import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SoporteChatWebSocket } from '../src/client/SoporteChatWebSocket';
import { Emitter } from '../src/client/emitter';
import { backoffDelay } from '../src/client/util';
import { FakeSocket, MemoryStorage, flush, msg } from './fakes';

function client(extra: Record<string, unknown> = {}) {
  return new SoporteChatWebSocket({
    baseUrl: 'ws://chat.test',
    WebSocketImpl: FakeSocket.impl,
    network: null,
    storage: new MemoryStorage(),
    fetchImpl: vi.fn(async () => new Response('{}', { status: 503 })) as unknown as typeof fetch,
    ...extra,
  });
}

beforeEach(() => {
  FakeSocket.reset();
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Emitter', () => {
  it('calls every handler even when one removes itself while running (D7)', async () => {
    const e = new Emitter<{ x: number }>();
    const seen: string[] = [];
    const waiting = e.waitForEvent('x', 1000);
    e.on('x', () => seen.push('second'));
    e.emit('x', 1);
    await expect(waiting).resolves.toBe(1);
    expect(seen).toEqual(['second']);
  });
});

describe('backoffDelay', () => {
  it('doubles per attempt, caps at the maximum and keeps at least half the delay', () => {
    expect(backoffDelay(1, 1000, 30000, () => 0)).toBe(500);
    expect(backoffDelay(1, 1000, 30000, () => 1)).toBe(1000);
    expect(backoffDelay(3, 1000, 30000, () => 0.999)).toBeLessThanOrEqual(4000);
    expect(backoffDelay(3, 1000, 30000, () => 0)).toBe(2000);
    expect(backoffDelay(20, 1000, 30000, () => 1)).toBe(30000);
  });
});

describe('SoporteChatWebSocket', () => {
  it('encodes the token in the URL and resolves connect on connection_established (D1, D11)', async () => {
    const c = client();
    const connected = vi.fn();
    c.on('connected', connected);
    const p = c.connect(7, 'a+b/c=');
    await flush();
    const s = FakeSocket.last();
    expect(s.url).toBe('ws://chat.test/ws/soporte/ticket/7/?token=a%2Bb%2Fc%3D');
    s.establish();
    await expect(p).resolves.toMatchObject({ last_seq: 0 });
    expect(connected).toHaveBeenCalledOnce();
    expect(c.status).toBe('connected');
  });

  it('reconnects to the same ticket with the same token, resuming with since=lastSeq (D5)', async () => {
    const c = client({ reconnectDelay: 1000 });
    c.connect(7, 'tok').catch(() => {});
    await flush();
    FakeSocket.last().establish({ historial_reciente: [msg(1), msg(2)] });
    FakeSocket.last().receive('mensaje_recibido', msg(3));
    FakeSocket.last().drop(1006);
    expect(c.status).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.instances).toHaveLength(2);
    expect(FakeSocket.last().url).toBe('ws://chat.test/ws/soporte/ticket/7/?token=tok&since=3&since_id=103&rev=0');
  });

  it('resumes with the epoch and the id at since, and starts over when told to resync', async () => {
    const c = client({ reconnectDelay: 1000 });
    c.connect(7, 'tok').catch(() => {});
    await flush();
    FakeSocket.last().establish({ epoch: 'e1', historial_reciente: [msg(1), msg(2)] });
    FakeSocket.last().drop(1006);
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.last().url).toBe('ws://chat.test/ws/soporte/ticket/7/?token=tok&since=2&epoch=e1&since_id=102&rev=0');
    // A restored database: the server has another history (epoch e2) of one message.
    FakeSocket.last().establish({ epoch: 'e2', resync: true, since: null, last_seq: 1, historial_reciente: [msg(1, { id: 900 })] });
    expect(c.lastSequence).toBe(1);
    FakeSocket.last().drop(1006);
    await vi.advanceTimersByTimeAsync(5000);
    expect(FakeSocket.last().url).toBe('ws://chat.test/ws/soporte/ticket/7/?token=tok&since=1&epoch=e2&since_id=900&rev=0');
  });

  it('asks getToken for a fresh token before every connection', async () => {
    let n = 0;
    const c = client({ getToken: () => `t${++n}` });
    c.connect(7).catch(() => {});
    await flush();
    FakeSocket.last().establish();
    FakeSocket.last().drop(1008, 'el token ha expirado');
    await vi.advanceTimersByTimeAsync(1000);
    await flush();
    expect(FakeSocket.last().url).toContain('token=t2');
  });

  it('does not count an own confirmation as received from the room', async () => {
    const c = client();
    c.connect(7, 'tok').catch(() => {});
    await flush();
    FakeSocket.last().establish({ historial_reciente: [msg(4)] });
    const id = c.sendMessage('hola');
    FakeSocket.last().receive('mensaje_confirmado', { client_id: id, mensaje_id: 900, seq: 9, timestamp: 'x' });
    expect(c.lastSequence).toBe(4);
  });

  it('queues messages written offline, keeps them in storage and sends them once connected with the same client_id', async () => {
    const storage = new MemoryStorage();
    const first = client({ storage });
    first.connect(7, 'tok').catch(() => {});
    await flush();
    const queued = vi.fn();
    first.on('messageQueued', queued);
    const id = first.sendMessage('escrito sin conexión');
    expect(queued).toHaveBeenCalledOnce();
    expect(FakeSocket.last().sent).toHaveLength(0);
    expect(storage.getItem('soporte_outbox_7')).toContain(id);

    // A reload: a new client on the same storage sends it after the greeting.
    first.disconnect();
    const second = client({ storage });
    second.connect(7, 'tok').catch(() => {});
    await flush();
    FakeSocket.last().establish();
    const sent = FakeSocket.last().frames('mensaje');
    expect(sent).toHaveLength(1);
    expect(sent[0].data).toMatchObject({ client_id: id, mensaje: 'escrito sin conexión' });
    FakeSocket.last().receive('mensaje_confirmado', { client_id: id, mensaje_id: 1, seq: 1, timestamp: 'x', duplicado: false });
    expect(second.pendingMessages()).toHaveLength(0);
    expect(storage.getItem('soporte_outbox_7')).toBeNull();
  });

  it('resends unconfirmed messages after a reconnect with the same client_id', async () => {
    const c = client();
    c.connect(7, 'tok').catch(() => {});
    await flush();
    FakeSocket.last().establish();
    const id = c.sendMessage('hola');
    expect(FakeSocket.last().frames('mensaje')).toHaveLength(1);
    FakeSocket.last().drop(1001, 'el servidor se está reiniciando');
    await vi.advanceTimersByTimeAsync(1000);
    FakeSocket.last().establish();
    const resent = FakeSocket.last().frames('mensaje');
    expect(resent.map((f) => f.data.client_id)).toEqual([id]);
  });

  it('drops a message the server refuses for good and reports it; keeps one refused for rate', async () => {
    const c = client({ retryDelay: 500 });
    c.connect(7, 'tok').catch(() => {});
    await flush();
    const s = FakeSocket.last();
    s.establish();
    const failed = vi.fn();
    c.on('messageFailed', failed);
    const a = c.sendMessage('x'.repeat(10));
    const b = c.sendMessage('rápido');
    s.receive('error', { codigo: 'ticket_cerrado', detalle: 'cerrado', tipo: 'mensaje', client_id: a });
    s.receive('error', { codigo: 'limite_de_frecuencia', detalle: 'espera', tipo: 'mensaje', client_id: b });
    expect(failed).toHaveBeenCalledWith(expect.objectContaining({ client_id: a, codigo: 'ticket_cerrado' }));
    expect(c.pendingMessages().map((m) => m.client_id)).toEqual([b]);
    await vi.advanceTimersByTimeAsync(500);
    expect(s.frames('mensaje').filter((f) => f.data.client_id === b)).toHaveLength(2);
  });

  it('fails a message refused for rate more times than maxRetries, with the reason', async () => {
    const c = client({ retryDelay: 100, maxRetries: 2 });
    c.connect(7, 'tok').catch(() => {});
    await flush();
    const s = FakeSocket.last();
    s.establish();
    const failed = vi.fn();
    c.on('messageFailed', failed);
    const id = c.sendMessage('otra vez');
    const refuse = () => s.receive('error', { codigo: 'limite_de_frecuencia', detalle: 'Espera un momento.', tipo: 'mensaje', client_id: id });
    for (let i = 0; i < 2; i++) {
      refuse();
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(s.frames('mensaje').filter((f) => f.data.client_id === id)).toHaveLength(3);
    expect(failed).not.toHaveBeenCalled();
    refuse();
    expect(failed).toHaveBeenCalledWith(expect.objectContaining({ client_id: id, codigo: 'limite_de_frecuencia', detalle: 'Espera un momento.' }));
    expect(c.pendingMessages()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.frames('mensaje').filter((f) => f.data.client_id === id)).toHaveLength(3);
  });

  it('answers heartbeats without failing (D2) and ignores unknown frames', async () => {
    const c = client();
    c.connect(7, 'tok').catch(() => {});
    await flush();
    const s = FakeSocket.last();
    s.establish();
    const beat = vi.fn();
    c.on('heartbeat', beat);
    s.receive('heartbeat', { timestamp: 'now' });
    s.receive('algo_nuevo', {});
    expect(beat).toHaveBeenCalledWith({ timestamp: 'now' });
  });

  it('does not retry a refused upgrade (D6)', async () => {
    const fetchImpl = vi.fn(async () => new Response(JSON.stringify({ detalle: 'No tienes acceso a este ticket.' }), { status: 403 }));
    const c = client({ fetchImpl });
    const refused = vi.fn();
    c.on('refused', refused);
    const p = c.connect(7, 'tok');
    await flush();
    FakeSocket.last().drop(1006);
    await expect(p).rejects.toThrow();
    await flush(10);
    expect(fetchImpl).toHaveBeenCalledWith('http://chat.test/api/soporte/tickets/7/', expect.anything());
    expect(refused).toHaveBeenCalledWith({ kind: 'refused', status: 403, detalle: 'No tienes acceso a este ticket.' });
    await vi.advanceTimersByTimeAsync(60000);
    expect(FakeSocket.instances).toHaveLength(1);
    expect(c.status).toBe('error');
  });

  it('does not reconnect after being transferred away', async () => {
    const c = client();
    c.connect(7, 'tok').catch(() => {});
    await flush();
    FakeSocket.last().establish();
    FakeSocket.last().drop(1008, 'el ticket fue transferido a otro agente');
    await vi.advanceTimersByTimeAsync(60000);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('resets the attempt counter only after the connection proves stable (D5)', async () => {
    const c = client({ reconnectDelay: 1000, stableAfter: 5000 });
    const attempts: number[] = [];
    c.on('reconnecting', ({ attempt }: { attempt: number }) => attempts.push(attempt));
    c.connect(7, 'tok').catch(() => {});
    await flush();
    FakeSocket.last().establish();
    FakeSocket.last().drop();
    await vi.advanceTimersByTimeAsync(1000);
    FakeSocket.last().establish();
    FakeSocket.last().drop(); // dropped again at once: backoff keeps growing
    await vi.advanceTimersByTimeAsync(2000);
    FakeSocket.last().establish();
    await vi.advanceTimersByTimeAsync(5000);
    FakeSocket.last().drop(); // after a stable period: back to the first delay
    expect(attempts).toEqual([1, 2, 1]);
  });

  it('gives up after maxReconnectAttempts and says so', async () => {
    const c = client({ maxReconnectAttempts: 2, reconnectDelay: 10 });
    const failed = vi.fn();
    c.on('reconnectionFailed', failed);
    c.connect(7, 'tok').catch(() => {});
    await flush();
    FakeSocket.last().establish();
    FakeSocket.last().drop();
    for (let i = 0; i < 2; i++) {
      await vi.advanceTimersByTimeAsync(100);
      FakeSocket.last().drop();
      await flush(10);
    }
    expect(failed).toHaveBeenCalledOnce();
    expect(c.isReconnecting).toBe(false);
    expect(c.status).toBe('error');
  });

  it('disconnect cancels a pending reconnection and sends typing_stop only while typing (D5, D8)', async () => {
    const c = client();
    c.connect(7, 'tok').catch(() => {});
    await flush();
    const s = FakeSocket.last();
    s.establish();
    c.disconnect();
    expect(s.frames('typing_stop')).toHaveLength(0);

    c.connect(7, 'tok').catch(() => {});
    await flush();
    const s2 = FakeSocket.last();
    s2.establish();
    c.startTyping();
    c.startTyping();
    expect(s2.frames('typing_start')).toHaveLength(1);
    s2.drop();
    c.disconnect();
    await vi.advanceTimersByTimeAsync(60000);
    expect(FakeSocket.instances).toHaveLength(2);
  });

  it('a second connect replaces the socket instead of leaking it (D11)', async () => {
    const c = client();
    c.connect(7, 'tok').catch(() => {});
    await flush();
    const first = FakeSocket.last();
    first.establish();
    c.connect(7, 'tok').catch(() => {});
    await flush();
    expect(first.readyState).toBe(3);
    expect(FakeSocket.instances).toHaveLength(2);
  });
});

describe('uploadFile', () => {
  class FakeXhr {
    static last: FakeXhr;
    headers: Record<string, string> = {};
    upload: { onprogress: ((e: any) => void) | null } = { onprogress: null };
    method = '';
    url = '';
    body: FormData | null = null;
    status = 0;
    responseText = '';
    responseType = '';
    onload: (() => void) | null = null;
    onerror: (() => void) | null = null;
    onabort: (() => void) | null = null;
    constructor() {
      FakeXhr.last = this;
    }
    open(method: string, url: string) {
      this.method = method;
      this.url = url;
    }
    setRequestHeader(name: string, value: string) {
      this.headers[name] = value;
    }
    send(body: FormData) {
      this.body = body;
    }
    abort() {
      this.onabort?.();
    }
  }

  it('waits for file_upload_authorized, posts with XHR and reports progress (D3)', async () => {
    vi.stubGlobal('XMLHttpRequest', FakeXhr);
    const c = client();
    c.connect(7, 'tok').catch(() => {});
    await flush();
    const s = FakeSocket.last();
    s.establish();
    const progress: number[] = [];
    const file = new File([new Uint8Array(2000)], 'captura.png', { type: 'image/png' });
    const done = c.uploadFile(file, (p) => progress.push(p.percent));
    await flush();
    expect(s.frames('file_upload_request')[0].data).toEqual({ nombre_archivo: 'captura.png', tamaño: 2000, tipo_mime: 'image/png' });
    s.receive('file_upload_authorized', { upload_id: 'u1', upload_url: 'http://chat.test/api/soporte/uploads/u1/', headers: { 'X-Upload-Token': 'secret', 'Content-Type': 'text/plain' }, expires_at: 'x', max_size: 2000, nombre: 'captura.png' });
    await flush();
    const xhr = FakeXhr.last;
    expect(xhr.url).toBe('http://chat.test/api/soporte/uploads/u1/');
    expect(xhr.headers).toEqual({ 'X-Upload-Token': 'secret' });
    expect((xhr.body!.get('file') as File).name).toBe('captura.png');
    xhr.upload.onprogress!({ lengthComputable: true, loaded: 1000, total: 2000 });
    xhr.status = 201;
    xhr.responseText = JSON.stringify({ id: 3, mensaje_id: 12, nombre: 'captura.png' });
    xhr.onload!();
    await expect(done).resolves.toMatchObject({ id: 3, mensaje_id: 12 });
    expect(progress).toEqual([50, 100]);
    vi.unstubAllGlobals();
  });

  it('rejects when the server refuses the upload request', async () => {
    const c = client();
    c.connect(7, 'tok').catch(() => {});
    await flush();
    const s = FakeSocket.last();
    s.establish();
    const done = c.uploadFile(new File(['x'], 'virus.exe'));
    await flush();
    s.receive('error', { codigo: 'tipo_no_permitido', detalle: 'Tipo de archivo no permitido.', tipo: 'file_upload_request' });
    await expect(done).rejects.toThrow('Tipo de archivo no permitido.');
  });
});

describe('SoporteChatWebSocket edits', () => {
  beforeEach(() => {
    FakeSocket.reset();
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  it('resumes with the revision of its last greeting and tells of changes and their refusals', async () => {
    const c = client({ reconnectDelay: 1000 });
    const updated = vi.fn();
    const refused = vi.fn();
    c.on('messageUpdated', updated);
    c.on('messageChangeRefused', refused);
    c.connect(7, 'tok').catch(() => {});
    await flush();
    FakeSocket.last().establish({ historial_reciente: [msg(1)], rev: 3 });
    // A live change does not move the revision it resumes from.
    FakeSocket.last().receive('mensaje_actualizado', { evento: 'editado', mensaje: msg(1, { rev: 4 }) });
    expect(updated).toHaveBeenCalledWith(expect.objectContaining({ evento: 'editado' }));
    expect(c.editMessage(101, 'otro')).toBe(true);
    expect(c.deleteMessage(101)).toBe(true);
    expect(FakeSocket.last().frames('editar_mensaje')[0].data).toEqual({ mensaje_id: 101, mensaje: 'otro' });
    expect(FakeSocket.last().frames('eliminar_mensaje')[0].data).toEqual({ mensaje_id: 101 });
    FakeSocket.last().receive('error', { codigo: 'no_es_autor', detalle: 'x', tipo: 'editar_mensaje', mensaje_id: 101 });
    expect(refused).toHaveBeenCalledWith(expect.objectContaining({ codigo: 'no_es_autor', mensaje_id: 101 }));
    FakeSocket.last().drop(1006);
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.last().url).toBe('ws://chat.test/ws/soporte/ticket/7/?token=tok&since=1&since_id=101&rev=3');
  });
});
