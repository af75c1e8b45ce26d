import type { Refusal } from './ReconnectingSocket';

/**
 * Asks a REST endpoint that needs the same rights as the socket why an upgrade
 * failed: a browser's WebSocket sees only a close with 1006, never the 401, 403
 * or 404 (docs/PROTOCOL.md §2.2). Returns null when retrying may help: the
 * network is down, the server is busy, or the token may be refreshed.
 */
export async function probeRefusal(
  url: string,
  token: string | null,
  options: { fetchImpl?: typeof fetch; canRefreshToken: boolean },
): Promise<Refusal | null> {
  const fetchImpl = options.fetchImpl ?? (typeof fetch !== 'undefined' ? fetch : undefined);
  if (!fetchImpl) return null;
  try {
    const response = await fetchImpl(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    if (response.status === 401 && options.canRefreshToken) return null;
    if (response.status !== 401 && response.status !== 403 && response.status !== 404) return null;
    const body: unknown = await response.json().catch(() => null);
    const detalle = typeof body === 'object' && body !== null && 'detalle' in body && typeof body.detalle === 'string' ? body.detalle : `HTTP ${response.status}`;
    return { status: response.status, detalle };
  } catch {
    return null;
  }
}
