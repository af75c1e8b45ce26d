import { renderHook } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { Attention } from '../src/client/attention';
import type { InboxFrame } from '../src/client/frames';
import { InboxClient } from '../src/client/InboxClient';
import type { Person, TicketView } from '../src/client/types';
import { useInboxAttention } from '../src/react/useInboxAttention';
import { ana, carlos, MemoryStorage, ticketView } from './fakes';

const ticket = ticketView;

const updated = (t: TicketView): InboxFrame => ({ tipo: 'ticket_actualizado', data: { evento: 'nuevo', ticket: t } });

const message = (t: number, autor: Person = ana): InboxFrame => ({
  tipo: 'inbox_mensaje',
  data: { ticket: t, mensaje_id: 9, seq: 1, autor, contenido: 'hola', tipo: 'TEXTO', interno: false, timestamp: '2026-11-27T11:00:00.000Z' },
});

describe('useInboxAttention', () => {
  it('chimes for a new queued ticket and for others’ messages off screen, never for the agent’s own', () => {
    const play = vi.fn();
    const attention = new Attention({ defaultSound: true, storage: new MemoryStorage(), notifications: null, play, isHidden: () => false });
    const client = new InboxClient({ baseUrl: 'ws://chat.test', network: null });
    renderHook(() => useInboxAttention(client, 1, () => {}, 'es', attention));
    client.handle({ tipo: 'inbox', data: { usuario: carlos, tickets: [ticket(1)], agentes: [] } });
    // The conversation on screen: nothing.
    client.handle(message(1));
    expect(play).not.toHaveBeenCalled();
    // Another ticket of theirs: a chime. Their own message: none.
    client.handle(updated(ticket(2)));
    expect(play).not.toHaveBeenCalled();
    client.handle(message(2));
    client.handle(message(2, carlos));
    expect(play).toHaveBeenCalledTimes(1);
    // A new ticket in the queue: a chime; the same ticket again: none.
    client.handle(updated(ticket(3, { agente: null })));
    client.handle(updated(ticket(3, { agente: null, asunto: 'otro' })));
    expect(play).toHaveBeenCalledTimes(2);
  });
});
