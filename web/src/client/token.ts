import type { Person, Role } from './types';
import { defaultStorage } from './util';

/** Reads who the token is for (display only: the server checks the signature). */
export function personFromToken(token: string | null | undefined): Person | null {
  if (!token) return null;
  try {
    const payload = token.split('.')[1];
    const json = decodeURIComponent(
      atob(payload.replace(/-/g, '+').replace(/_/g, '/'))
        .split('')
        .map((c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0'))
        .join(''),
    );
    const claims: unknown = JSON.parse(json);
    if (typeof claims !== 'object' || claims === null) return null;
    const { sub, user_id, name, role, avatar } = claims as Record<string, unknown>;
    const id = sub !== undefined ? Number(sub) : Number(user_id);
    if (!Number.isFinite(id)) return null;
    return {
      id,
      nombre: typeof name === 'string' && name ? name : `Usuario ${id}`,
      tipo: role === 'AGENTE' || role === 'SUPERVISOR' ? (role satisfies Role) : 'CLIENTE',
      avatar: typeof avatar === 'string' ? avatar : null,
    };
  } catch {
    return null;
  }
}

/** The seed's token: `localStorage.authToken`, read when nothing else gives one. */
export function storedAuthToken(): string | null {
  try {
    return defaultStorage()?.getItem('authToken') || null;
  } catch {
    return null;
  }
}
