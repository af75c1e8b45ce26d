import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError, ChatSync } from '../src/client/ChatSync';

let fetchImpl: ReturnType<typeof vi.fn<(url: string, init?: RequestInit) => Promise<Response>>>;

beforeEach(() => {
  fetchImpl = vi.fn(async () => new Response(JSON.stringify({ count: 0, next: null, previous: null, results: [] })));
  vi.stubGlobal('fetch', fetchImpl);
  localStorage.clear();
});
afterEach(() => {
  vi.unstubAllGlobals();
  localStorage.clear();
});

const headers = (call: number) => (fetchImpl.mock.calls[call][1]?.headers ?? {}) as Record<string, string>;

describe('ChatSync', () => {
  it("takes the seed's form: an API base string, and the token from localStorage authToken on each call", async () => {
    const sync = new ChatSync('http://chat.test/api');
    expect(sync.apiBase).toBe('http://chat.test/api');
    localStorage.setItem('authToken', 'primero');
    await sync.fetchChatHistory(7, 2, 20);
    expect(fetchImpl.mock.calls[0][0]).toBe('http://chat.test/api/soporte/tickets/7/chat/historial/?page=2&size=20');
    expect(headers(0)).toEqual({ Authorization: 'Bearer primero' });
    localStorage.setItem('authToken', 'renovado');
    await sync.getChatStats(7);
    expect(headers(1)).toEqual({ Authorization: 'Bearer renovado' });
  });

  it('accepts the string form without /api and with a trailing slash', async () => {
    await new ChatSync('http://chat.test/').getTicket(3);
    expect(fetchImpl.mock.calls[0][0]).toBe('http://chat.test/api/soporte/tickets/3/');
  });

  it('prefers getToken, then token, to authToken', async () => {
    localStorage.setItem('authToken', 'guardado');
    await new ChatSync({ baseUrl: 'http://chat.test', token: 'propio' }).getTicket(1);
    await new ChatSync({ baseUrl: 'http://chat.test', token: 'propio', getToken: () => 'fresco' }).getTicket(1);
    await new ChatSync({ baseUrl: 'http://chat.test' }).getTicket(1);
    expect([0, 1, 2].map((i) => headers(i).Authorization)).toEqual(['Bearer propio', 'Bearer fresco', 'Bearer guardado']);
  });

  it('sends no Authorization without any token, and no Content-Type on a GET (D10)', async () => {
    await new ChatSync('http://chat.test/api').getTicket(1);
    expect(headers(0)).toEqual({});
    await new ChatSync('http://chat.test/api').markAsRead(1, [5]);
    expect(headers(1)).toEqual({ 'Content-Type': 'application/json' });
  });

  it("throws ApiError with the server's detalle and status", async () => {
    fetchImpl.mockResolvedValueOnce(new Response(JSON.stringify({ detalle: 'No encontrado.' }), { status: 404 }));
    const error = await new ChatSync('http://chat.test').getTicket(9).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ message: 'No encontrado.', status: 404 });
  });
});
