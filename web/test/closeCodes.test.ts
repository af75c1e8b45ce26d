import { describe, expect, it } from 'vitest';
import { CloseCode, closePolicy, legacyCode } from '../src/client/closeCodes';

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
