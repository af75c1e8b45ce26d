import type { Person, Role } from '../client/types';

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
    const claims = JSON.parse(json);
    const id = claims.sub !== undefined ? Number(claims.sub) : Number(claims.user_id);
    if (!Number.isFinite(id)) return null;
    return {
      id,
      nombre: claims.name || `Usuario ${id}`,
      tipo: (claims.role as Role) ?? 'CLIENTE',
      avatar: claims.avatar ?? null,
    };
  } catch {
    return null;
  }
}
