// WebSocket close codes the server sends on the ticket and inbox sockets, and
// what the client does after each. The decision is made on the number; the
// Spanish reason text is only read for the old codes below.

export const CloseCode = {
  /** The client's own close. */
  Normal: 1000,
  /** Server restart (`el servidor se está reiniciando`) or silence (`conexión inactiva`). */
  GoingAway: 1001,
  /** The server failed building the greeting (`error interno`). */
  InternalError: 1011,
  /** The ticket was transferred away from this agent. */
  Transferred: 4001,
  /** The ticket no longer exists. */
  TicketGone: 4004,
  /** The token expired while the socket was open. */
  TokenExpired: 4100,
  /** The client read too slowly: the server dropped it rather than queue more. */
  SlowReader: 4101,
  /** Too many frames: flood or rate abuse. */
  Flood: 4102,
  /**
   * Compatibility, for one release: servers before the numeric codes sent 1008
   * for 4001, 4004, 4100 and 4102, told apart only by the reason text, and
   * 1013 for 4101. Remove with `legacyCode` once no such server is deployed.
   */
  LegacyPolicyViolation: 1008,
  LegacyTryAgainLater: 1013,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Why the server told us not to come back. */
export type FinalReason = 'transferred' | 'ticketGone' | 'closed';

/**
 * How long to wait before the next attempt: `now` (at once, once: a second
 * such close in a row backs off), `backoff` (the jittered exponential backoff;
 * after a connection that was up, its first step, 0.5–1 s by default: the
 * "short delay" a restart asks for), `long` (the backoff two steps further on,
 * for a server that asked us to slow down).
 */
export type ReconnectDelay = 'now' | 'backoff' | 'long';

export type ClosePolicy =
  /** Our own close: nothing to do. */
  | { action: 'stop' }
  /** 4000–4099: do not reconnect; tell the user why. */
  | { action: 'final'; reason: FinalReason }
  /** Reconnect, resuming with `since`; `refreshToken`: ask `getToken` first. */
  | { action: 'reconnect'; delay: ReconnectDelay; refreshToken: boolean };

const stop: ClosePolicy = { action: 'stop' };
const final = (reason: FinalReason): ClosePolicy => ({ action: 'final', reason });
const reconnect = (delay: ReconnectDelay, refreshToken = false): ClosePolicy => ({ action: 'reconnect', delay, refreshToken });

/**
 * The policy for a close: 1000 stops; 4000–4099 are final; 4100–4199 reconnect
 * as their row of the table says; any other code (1006 network loss included)
 * reconnects with backoff.
 */
export function closePolicy(code: number, reason = ''): ClosePolicy {
  switch (code) {
    case CloseCode.Normal:
      return stop;
    case CloseCode.Transferred:
      return final('transferred');
    case CloseCode.TicketGone:
      return final('ticketGone');
    case CloseCode.TokenExpired:
      return reconnect('now', true);
    case CloseCode.SlowReader:
      return reconnect('now');
    case CloseCode.Flood:
      return reconnect('long');
    case CloseCode.LegacyPolicyViolation:
    case CloseCode.LegacyTryAgainLater: {
      const current = legacyCode(code, reason);
      return current === null ? reconnect('backoff') : closePolicy(current);
    }
  }
  if (code >= 4000 && code <= 4099) return final('closed');
  return reconnect('backoff');
}

/** The numeric code an old server meant by 1008 + reason, or 1013 (compatibility, one release). */
export function legacyCode(code: number, reason: string): CloseCode | null {
  if (code === CloseCode.LegacyTryAgainLater) return CloseCode.SlowReader;
  if (code !== CloseCode.LegacyPolicyViolation) return null;
  if (/transferido/i.test(reason)) return CloseCode.Transferred;
  if (/ya no existe/i.test(reason)) return CloseCode.TicketGone;
  if (/token ha expirado/i.test(reason)) return CloseCode.TokenExpired;
  if (/demasiados mensajes/i.test(reason)) return CloseCode.Flood;
  return null;
}
