import type { KeyValueStorage, TokenSource } from './types';

/** A client id the server accepts: 1-100 visible ASCII characters. */
export function generateClientId(): string {
  const random =
    typeof crypto !== 'undefined' && 'randomUUID' in crypto
      ? crypto.randomUUID().replace(/-/g, '').slice(0, 12)
      : Math.random().toString(36).slice(2, 14);
  return `client_${Date.now()}_${random}`;
}

export async function resolveToken(source: TokenSource | undefined): Promise<string | null> {
  if (source === undefined) return null;
  const token = typeof source === 'function' ? await source() : source;
  return token || null;
}

/** localStorage when the page has one and it works; otherwise null. */
export function defaultStorage(): KeyValueStorage | null {
  try {
    if (typeof localStorage === 'undefined') return null;
    const probe = '__soporte_probe__';
    localStorage.setItem(probe, '1');
    localStorage.removeItem(probe);
    return localStorage;
  } catch {
    return null;
  }
}

/** `http://host` → `ws://host`, `https://host` → `wss://host`. */
export function httpToWs(url: string): string {
  return url.replace(/^http(s?):/i, 'ws$1:');
}

/** `ws://host` → `http://host`, `wss://host` → `https://host`. */
export function wsToHttp(url: string): string {
  return url.replace(/^ws(s?):/i, 'http$1:');
}

/** The page's own origin as an http(s) base, or localhost:8000 outside a browser. */
export function pageOrigin(): string {
  if (typeof location !== 'undefined' && /^https?:$/.test(location.protocol)) return location.origin;
  return 'http://localhost:8000';
}

/**
 * Exponential backoff with "equal jitter": half the delay is fixed, half random,
 * so many clients dropped at once (a server restart) do not return together.
 */
export function backoffDelay(attempt: number, base: number, max: number, random = Math.random): number {
  const exp = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}
