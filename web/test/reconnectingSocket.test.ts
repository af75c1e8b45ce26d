import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseTicketFrame, type ClientFrame, type TicketFrame } from '../src/client/frames';
import { ReconnectingSocket, type ReconnectingSocketConfig, type SocketEvents } from '../src/client/ReconnectingSocket';
import { FakeSocket, flush } from './fakes';

type Greeting = Extract<TicketFrame, { tipo: 'connection_established' }>;

/** A socket on FakeSocket with every event recorded, online by default, jitter fixed at 0. */
function harness(extra: Partial<ReconnectingSocketConfig<TicketFrame, Greeting>> = {}) {
  const network = new EventTarget();
  const online = { value: true };
  let n = 0;
  const getToken = vi.fn(async () => `t${++n}`);
  const socket = new ReconnectingSocket<TicketFrame, ClientFrame, Greeting>({
    url: (token) => `ws://chat.test/ws/?token=${token}`,
    getToken,
    parse: parseTicketFrame,
    isGreeting: (frame): frame is Greeting => frame.tipo === 'connection_established',
    heartbeatFrame: () => JSON.stringify({ tipo: 'heartbeat', data: { timestamp: 'now' } }),
    WebSocketImpl: FakeSocket.impl,
    network,
    isOnline: () => online.value,
    random: () => 0,
    reconnectDelay: 1000,
    heartbeatInterval: 1000,
    ...extra,
  });
  const seen: { [K in keyof SocketEvents<TicketFrame>]: SocketEvents<TicketFrame>[K][] } = {
    status: [],
    frame: [],
    closed: [],
    reconnecting: [],
    stopped: [],
    tokenError: [],
    error: [],
  };
  for (const name of Object.keys(seen) as (keyof SocketEvents<TicketFrame>)[]) {
    socket.on(name, (data) => (seen[name] as unknown[]).push(data));
  }
  return { socket, seen, getToken, network, online };
}

/** Connects, leaving the first attempt's outcome to the events under test. */
function start(socket: ReconnectingSocket<TicketFrame, ClientFrame, Greeting>) {
  socket.connect().catch(() => {});
}

beforeEach(() => {
  FakeSocket.reset();
  vi.useFakeTimers();
});
afterEach(() => vi.useRealTimers());

describe('ReconnectingSocket', () => {
  it('is connected only once the greeting arrives, and resolves connect with it', async () => {
    const { socket, seen } = harness();
    const open = socket.connect();
    await flush();
    const s = FakeSocket.last();
    expect(s.url).toBe('ws://chat.test/ws/?token=t1');
    s.open();
    s.receive('heartbeat', { timestamp: 'x' });
    expect(socket.status).toBe('connecting');
    expect(socket.isReady()).toBe(false);
    s.establish();
    await expect(open).resolves.toMatchObject({ tipo: 'connection_established' });
    expect(seen.status).toEqual(['connecting', 'connected']);
    expect(seen.frame.map((f) => f.tipo)).toEqual(['heartbeat', 'connection_established']);
  });

  it('ignores text that is not a frame and frames of the other socket', async () => {
    const { socket, seen } = harness();
    start(socket);
    await flush();
    const s = FakeSocket.last();
    s.establish();
    s.receiveRaw('no es json');
    s.receiveRaw('{"tipo": 3}');
    s.receive('inbox_mensaje', {});
    s.receive('algo_nuevo', {});
    expect(seen.frame.map((f) => f.tipo)).toEqual(['connection_established']);
    expect(socket.status).toBe('connected');
  });

  it('waits the jittered backoff exactly: half fixed, half random, doubling per attempt', async () => {
    const { socket, seen } = harness({ random: () => 0 });
    start(socket);
    await flush();
    FakeSocket.last().establish();
    FakeSocket.last().drop(1006);
    expect(seen.reconnecting).toEqual([{ attempt: 1, delay: 500 }]);
    await vi.advanceTimersByTimeAsync(499);
    expect(FakeSocket.instances).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.instances).toHaveLength(2);
    FakeSocket.last().establish();
    FakeSocket.last().drop(1011, 'error interno');
    expect(seen.reconnecting[1]).toEqual({ attempt: 2, delay: 1000 });
  });

  it('uses the random half of the delay for jitter', async () => {
    const { socket, seen } = harness({ random: () => 1 });
    start(socket);
    await flush();
    FakeSocket.last().establish();
    FakeSocket.last().drop(1006);
    expect(seen.reconnecting).toEqual([{ attempt: 1, delay: 1000 }]);
  });

  it('sends a heartbeat each period once greeted, and none before', async () => {
    const { socket } = harness({ heartbeatInterval: 1000 });
    start(socket);
    await flush();
    const s = FakeSocket.last();
    s.open();
    await vi.advanceTimersByTimeAsync(1500);
    expect(s.frames('heartbeat')).toHaveLength(0);
    s.establish();
    await vi.advanceTimersByTimeAsync(999);
    expect(s.frames('heartbeat')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.frames('heartbeat')).toHaveLength(1);
    s.receive('heartbeat', { timestamp: 'x' });
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.frames('heartbeat')).toHaveLength(2);
  });

  it('drops a connection silent for more than 2.5 heartbeat periods and reconnects', async () => {
    const { socket, seen } = harness({ heartbeatInterval: 1000 });
    start(socket);
    await flush();
    const s = FakeSocket.last();
    s.establish(); // the last frame, at t = 0
    // Ticks at 1000 and 2000 (silence 1000, 2000 ≤ 2500) send heartbeats; 3000 finds 3000 > 2500.
    await vi.advanceTimersByTimeAsync(2999);
    expect(s.readyState).toBe(FakeSocket.OPEN);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.closedWith).toEqual({ code: 1000, reason: 'sin latido' });
    expect(seen.closed).toEqual([{ code: 1006, reason: 'sin latido', policy: { action: 'reconnect', delay: 'backoff', refreshToken: false } }]);
    expect(socket.status).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(500);
    expect(FakeSocket.instances).toHaveLength(2);
  });

  it('counts silence from the last frame received', async () => {
    const { socket } = harness({ heartbeatInterval: 1000 });
    start(socket);
    await flush();
    const s = FakeSocket.last();
    s.establish();
    await vi.advanceTimersByTimeAsync(1500);
    s.receive('heartbeat', { timestamp: 'x' }); // t = 1500
    // Ticks at 2000, 3000, 4000 see 500, 1500, 2500 (not more than 2500); 5000 sees 3500.
    await vi.advanceTimersByTimeAsync(3499);
    expect(s.readyState).toBe(FakeSocket.OPEN);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.readyState).toBe(FakeSocket.CLOSED);
  });

  it('takes the server heartbeat period when told', async () => {
    const { socket } = harness({ heartbeatInterval: 1000 });
    start(socket);
    await flush();
    const s = FakeSocket.last();
    s.establish();
    socket.setHeartbeatInterval(4000);
    await vi.advanceTimersByTimeAsync(3999);
    expect(s.frames('heartbeat')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.frames('heartbeat')).toHaveLength(1);
  });

  it('gives up on an attempt that is not greeted within connectTimeout', async () => {
    const { socket, seen } = harness({ connectTimeout: 3000 });
    const failed = expect(socket.connect()).rejects.toThrow('tiempo de conexión agotado');
    await flush();
    FakeSocket.last().open();
    await vi.advanceTimersByTimeAsync(2999);
    expect(seen.closed).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    await failed;
    expect(seen.closed[0]).toMatchObject({ code: 1006, reason: 'tiempo de conexión agotado' });
    expect(seen.reconnecting).toHaveLength(1);
  });

  it('handles a failing getToken: reports it, rejects the first attempt, retries with backoff', async () => {
    const { socket, seen, getToken } = harness();
    getToken.mockRejectedValueOnce(new Error('auth caída'));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const open = socket.connect();
    await expect(open).rejects.toThrow('auth caída');
    expect(seen.tokenError).toEqual([new Error('auth caída')]);
    expect(FakeSocket.instances).toHaveLength(0);
    expect(seen.reconnecting).toEqual([{ attempt: 1, delay: 500 }]);
    await vi.advanceTimersByTimeAsync(500);
    expect(FakeSocket.last().url).toContain('token=t1');
    warn.mockRestore();
  });

  it('reuses the token after a drop, and asks for a fresh one after 4100 and reconnects at once', async () => {
    const { socket, seen, getToken } = harness({ heartbeatInterval: 60000 });
    start(socket);
    await flush();
    FakeSocket.last().establish();
    FakeSocket.last().drop(1001, 'el servidor se está reiniciando');
    await vi.advanceTimersByTimeAsync(500);
    expect(FakeSocket.last().url).toContain('token=t1');
    expect(getToken).toHaveBeenCalledTimes(1);
    FakeSocket.last().establish();
    await vi.advanceTimersByTimeAsync(5000); // stable: attempts back to zero
    FakeSocket.last().drop(4100, 'el token ha expirado');
    expect(seen.reconnecting.at(-1)).toEqual({ attempt: 1, delay: 0 });
    await vi.advanceTimersByTimeAsync(0);
    expect(getToken).toHaveBeenCalledTimes(2);
    expect(FakeSocket.last().url).toContain('token=t2');
  });

  it('asks for a fresh token after an attempt that failed before the greeting', async () => {
    const { socket, getToken } = harness();
    start(socket);
    await flush();
    FakeSocket.last().drop(1006);
    await vi.advanceTimersByTimeAsync(500);
    expect(getToken).toHaveBeenCalledTimes(2);
    expect(FakeSocket.last().url).toContain('token=t2');
  });

  it('reconnects at once only for the first such close in a row', async () => {
    const { socket, seen } = harness();
    start(socket);
    await flush();
    FakeSocket.last().establish();
    FakeSocket.last().drop(4101, 'no se leen los mensajes a tiempo; reconecta');
    await vi.advanceTimersByTimeAsync(0);
    FakeSocket.last().establish();
    FakeSocket.last().drop(4101, 'no se leen los mensajes a tiempo; reconecta');
    expect(seen.reconnecting).toEqual([
      { attempt: 1, delay: 0 },
      { attempt: 2, delay: 1000 },
    ]);
  });

  it('stops for good on a final close', async () => {
    const { socket, seen } = harness();
    start(socket);
    await flush();
    FakeSocket.last().establish();
    FakeSocket.last().drop(4004, 'el ticket ya no existe');
    expect(seen.stopped).toEqual([{ kind: 'final', reason: 'ticketGone', code: 4004, detalle: 'el ticket ya no existe' }]);
    expect(socket.status).toBe('disconnected');
    await vi.advanceTimersByTimeAsync(60000);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('does not retry an upgrade the REST probe says is refused', async () => {
    const probe = vi.fn(async () => ({ status: 401, detalle: 'Token inválido.' }));
    const { socket, seen } = harness({ probe });
    start(socket);
    await flush();
    FakeSocket.last().drop(1006);
    await flush();
    expect(probe).toHaveBeenCalledWith('t1');
    expect(seen.stopped).toEqual([{ kind: 'refused', status: 401, detalle: 'Token inválido.' }]);
    expect(socket.status).toBe('error');
    await vi.advanceTimersByTimeAsync(60000);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('gives up after maxReconnectAttempts failed attempts in a row', async () => {
    const { socket, seen } = harness({ maxReconnectAttempts: 2 });
    start(socket);
    await flush();
    for (let i = 0; i < 3; i++) {
      FakeSocket.last().drop(1006);
      await vi.advanceTimersByTimeAsync(5000);
    }
    expect(seen.stopped).toEqual([{ kind: 'gaveUp', attempts: 2 }]);
    expect(FakeSocket.instances).toHaveLength(3);
    expect(socket.status).toBe('error');
  });

  it('spends no attempt while offline and dials as soon as the browser is online', async () => {
    const { socket, seen, network, online } = harness();
    start(socket);
    await flush();
    FakeSocket.last().establish();
    online.value = false;
    FakeSocket.last().drop(1006);
    expect(socket.status).toBe('reconnecting');
    expect(seen.reconnecting).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(60000);
    expect(FakeSocket.instances).toHaveLength(1);
    online.value = true;
    network.dispatchEvent(new Event('online'));
    await flush();
    expect(FakeSocket.instances).toHaveLength(2);
  });

  it('holds a scheduled attempt when the browser goes offline, and sends it when back online', async () => {
    const { socket, network } = harness({ reconnectDelay: 10000 });
    start(socket);
    await flush();
    FakeSocket.last().establish();
    FakeSocket.last().drop(1006);
    network.dispatchEvent(new Event('offline'));
    await vi.advanceTimersByTimeAsync(20000);
    expect(FakeSocket.instances).toHaveLength(1);
    network.dispatchEvent(new Event('online'));
    await flush();
    expect(FakeSocket.instances).toHaveLength(2);
  });

  it('stops listening to the network on disconnect', async () => {
    const { socket, network } = harness();
    const remove = vi.spyOn(network, 'removeEventListener');
    start(socket);
    await flush();
    socket.disconnect();
    expect(remove.mock.calls.map((c) => c[0]).sort()).toEqual(['offline', 'online']);
  });

  it('opens nothing when disconnected during the token lookup, and connects again after', async () => {
    const { socket, getToken } = harness();
    let release: (t: string) => void = () => {};
    getToken.mockImplementationOnce(() => new Promise<string>((r) => (release = r)));
    const open = socket.connect();
    socket.disconnect();
    await expect(open).rejects.toThrow('Desconectado');
    release('tarde');
    await flush();
    expect(FakeSocket.instances).toHaveLength(0);
    start(socket);
    await flush();
    FakeSocket.last().establish();
    expect(socket.status).toBe('connected');
  });

  it('sends only while open', async () => {
    const { socket } = harness();
    const frame: ClientFrame = { tipo: 'typing_start', data: { timestamp: 'x' } };
    expect(socket.send(frame)).toBe(false);
    start(socket);
    await flush();
    FakeSocket.last().open();
    expect(socket.send(frame)).toBe(true);
    expect(FakeSocket.last().sent).toEqual([frame]);
  });
});
