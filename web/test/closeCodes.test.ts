import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ChatError } from '../src/client/chatState';
import { ChatStore } from '../src/client/ChatStore';
import { CloseCode, closePolicy, legacyCode } from '../src/client/closeCodes';
import { ServerClose } from '../src/generated/closeCodes';
import { FakeSocket, flush } from './fakes';

describe('the server\'s close codes (generated from crates/protocol)', () => {
  it('are each one the client knows, with the policy their range says', () => {
    const known = Object.values(CloseCode) as number[];
    for (const [name, close] of Object.entries(ServerClose)) {
      expect(known, name).toContain(close.code);
      const policy = closePolicy(close.code, close.reason);
      if (close.code >= 4000 && close.code < 4100) expect(policy.action, name).toBe('final');
      else expect(policy.action, name).toBe('reconnect');
    }
  });
});

describe('closePolicy', () => {
  it.each([
    [1000, { action: 'stop' }],
    [1001, { action: 'reconnect', delay: 'backoff', refreshToken: false }],
    [1011, { action: 'reconnect', delay: 'backoff', refreshToken: false }],
    [4001, { action: 'final', reason: 'transferred' }],
    [4004, { action: 'final', reason: 'ticketGone' }],
    [4100, { action: 'reconnect', delay: 'now', refreshToken: true }],
    [4101, { action: 'reconnect', delay: 'now', refreshToken: false }],
    [4102, { action: 'reconnect', delay: 'long', refreshToken: false }],
  ])('close %i → %o', (code, policy) => {
    expect(closePolicy(code, 'cualquier texto')).toEqual(policy);
  });

  it('decides on the number, never on the reason text', () => {
    expect(closePolicy(4001, '')).toEqual(closePolicy(4001, 'el ticket fue transferido a otro agente'));
    expect(closePolicy(1001, 'el ticket fue transferido a otro agente')).toEqual({ action: 'reconnect', delay: 'backoff', refreshToken: false });
  });

  it('treats 4000–4099 as final and 4100–4199 as reconnect, at the range edges', () => {
    expect(closePolicy(3999)).toMatchObject({ action: 'reconnect' });
    expect(closePolicy(4000)).toEqual({ action: 'final', reason: 'closed' });
    expect(closePolicy(4099)).toEqual({ action: 'final', reason: 'closed' });
    expect(closePolicy(4100)).toMatchObject({ action: 'reconnect' });
    expect(closePolicy(4199)).toEqual({ action: 'reconnect', delay: 'backoff', refreshToken: false });
    expect(closePolicy(4200)).toMatchObject({ action: 'reconnect' });
  });

  it('reconnects with backoff after any other code, network loss included', () => {
    for (const code of [1002, 1006, 1007, 1009, 1012, 3000]) {
      expect(closePolicy(code)).toEqual({ action: 'reconnect', delay: 'backoff', refreshToken: false });
    }
  });

  it('still reads the old 1008 and 1013 closes for one release', () => {
    expect(closePolicy(1008, 'el ticket fue transferido a otro agente')).toEqual(closePolicy(4001));
    expect(closePolicy(1008, 'el ticket ya no existe')).toEqual(closePolicy(4004));
    expect(closePolicy(1008, 'el token ha expirado')).toEqual(closePolicy(4100));
    expect(closePolicy(1008, 'demasiados mensajes')).toEqual(closePolicy(4102));
    expect(closePolicy(1013, 'no se leen los mensajes a tiempo; reconecta con since')).toEqual(closePolicy(4101));
    expect(closePolicy(1008, 'otra cosa')).toEqual({ action: 'reconnect', delay: 'backoff', refreshToken: false });
    expect(legacyCode(1008, 'el ticket fue transferido a otro agente')).toBe(CloseCode.Transferred);
    expect(legacyCode(4001, 'el ticket fue transferido a otro agente')).toBeNull();
  });
});

// Each close code end to end through ChatStore on a fake socket: whether it
// reconnects (and after how long, jitter fixed at 0), whether it asks
// getToken again, and what the store (and so the hook) shows as the error.
describe('ChatStore after each close code', () => {
  beforeEach(() => {
    FakeSocket.reset();
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  type Row = [code: number, reason: string, reconnectAfter: number | null, freshToken: boolean, error: ChatError | null];
  const rows: Row[] = [
    [1000, '', null, false, null],
    [1001, 'el servidor se está reiniciando', 500, false, null],
    [1001, 'conexión inactiva', 500, false, null],
    [1011, 'error interno', 500, false, null],
    [4001, 'el ticket fue transferido a otro agente', null, false, { kind: 'transferred' }],
    [4004, 'el ticket ya no existe', null, false, { kind: 'ticketGone' }],
    [4100, 'el token ha expirado', 0, true, null],
    [4101, 'no se leen los mensajes a tiempo; reconecta', 0, false, null],
    [4102, 'demasiados mensajes', 2000, false, null],
    [4050, 'otro motivo', null, false, { kind: 'closed', code: 4050, reason: 'otro motivo' }],
    [4150, '', 500, false, null],
    [1006, '', 500, false, null],
    // Compatibility (one release): the old codes with their reason texts.
    [1008, 'el ticket fue transferido a otro agente', null, false, { kind: 'transferred' }],
    [1008, 'el ticket ya no existe', null, false, { kind: 'ticketGone' }],
    [1008, 'el token ha expirado', 0, true, null],
    [1008, 'demasiados mensajes', 2000, false, null],
    [1013, 'no se leen los mensajes a tiempo; reconecta con since', 0, false, null],
  ];

  it.each(rows)('close %i %s: reconnects after %s ms, fresh token %s, error %o', async (code, reason, reconnectAfter, freshToken, error) => {
    let n = 0;
    const store = new ChatStore({
      ticketId: 7,
      baseUrl: 'http://chat.test',
      getToken: () => `t${++n}`,
      storage: null,
      cache: null,
      fetchImpl: vi.fn(async () => new Response('{}')) as unknown as typeof fetch,
      client: { WebSocketImpl: FakeSocket.impl, network: null, random: () => 0, heartbeatInterval: 600000 },
      hours: false,
      profile: false,
      queue: false,
    });
    store.connect();
    await flush();
    FakeSocket.last().establish();
    await vi.advanceTimersByTimeAsync(5000); // stable: the next close is the first in a row
    FakeSocket.last().drop(code, reason);
    await flush();
    if (reconnectAfter === null) {
      await vi.advanceTimersByTimeAsync(120000);
      expect(FakeSocket.instances).toHaveLength(1);
      expect(store.getState().connection).toBe('disconnected');
    } else {
      if (reconnectAfter > 0) {
        await vi.advanceTimersByTimeAsync(reconnectAfter - 1);
        expect(FakeSocket.instances).toHaveLength(1);
      }
      await vi.advanceTimersByTimeAsync(1);
      expect(FakeSocket.instances).toHaveLength(2);
      expect(FakeSocket.last().url).toContain(freshToken ? 'token=t2' : 'token=t1');
      expect(store.getState().connection).toBe('reconnecting');
    }
    expect(store.getState().error).toEqual(error);
    store.destroy();
  });
});
