import { describe, expect, it } from 'vitest';
import { InboxClient } from '../src/client/InboxClient';
import { ana, carlos } from './fakes';

const ticket = (id: number, extra: Record<string, unknown> = {}) => ({
  id,
  asunto: `T${id}`,
  estado: 'ABIERTO',
  cliente: ana,
  agente: carlos,
  creado: '2026-11-27T10:00:00.000Z',
  actualizado: `2026-11-27T10:00:0${id}.000Z`,
  last_seq: 0,
  no_leidos: 0,
  ultimo_mensaje: null,
  ...extra,
});

function inbox() {
  const c = new InboxClient({ baseUrl: 'ws://chat.test' });
  c.handle({ tipo: 'inbox', data: { usuario: carlos, tickets: [ticket(1), ticket(2, { agente: null })], agentes: [] } });
  return c;
}

describe('InboxClient', () => {
  it('counts unread messages from others, not own ones nor those of the open ticket', () => {
    const c = inbox();
    const preview = (t: number, autor: { id: number; nombre: string; tipo: string; avatar: null } = ana) => ({ tipo: 'inbox_mensaje', data: { ticket: t, mensaje_id: 9, seq: 1, autor, contenido: 'hola', tipo: 'TEXTO', interno: false, timestamp: '2026-11-27T11:00:00.000Z' } });
    c.handle(preview(1));
    c.handle(preview(1));
    c.handle(preview(1, carlos));
    expect(c.getState().tickets.find((t) => t.id === 1)!.no_leidos).toBe(2);
    c.setOpenTicket(2);
    c.handle(preview(2));
    expect(c.getState().tickets.find((t) => t.id === 2)!.no_leidos).toBe(0);
    c.setOpenTicket(1);
    expect(c.getState().tickets.find((t) => t.id === 1)!.no_leidos).toBe(0);
  });

  it('orders by newest activity and drops a ticket transferred to another agent', () => {
    const c = inbox();
    expect(c.getState().tickets.map((t) => t.id)).toEqual([2, 1]);
    c.handle({ tipo: 'inbox_mensaje', data: { ticket: 1, mensaje_id: 9, seq: 1, autor: ana, contenido: 'x', tipo: 'TEXTO', interno: false, timestamp: '2026-11-27T12:00:00.000Z' } });
    expect(c.getState().tickets.map((t) => t.id)).toEqual([1, 2]);
    const maria = { id: 2002, nombre: 'María', tipo: 'AGENTE', avatar: null };
    c.handle({ tipo: 'ticket_actualizado', data: { evento: 'transferido', ticket: { ...ticket(1), agente: maria } } });
    expect(c.getState().tickets.map((t) => t.id)).toEqual([2]);
  });

  it('tracks who is typing per ticket', () => {
    const c = inbox();
    c.handle({ tipo: 'inbox_escribiendo', data: { ticket: 1, usuario: ana, escribiendo: true } });
    expect(c.getState().typing[1].map((p) => p.nombre)).toEqual(['Ana']);
    c.handle({ tipo: 'inbox_escribiendo', data: { ticket: 1, usuario: ana, escribiendo: false } });
    expect(c.getState().typing[1]).toEqual([]);
  });
});
