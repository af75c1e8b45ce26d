import { useEffect, useMemo, useRef, useState } from 'react';
import { Attention } from '../client/attention';
import type { InboxClient } from '../client/InboxClient';
import { translator, type Locale } from '../i18n';

/**
 * An agent's attention signals from the inbox: a new ticket in the queue,
 * and a message from someone else on a ticket of theirs (the queue's too)
 * while that conversation is not on screen. Sound is on unless they turned
 * it off; notifications once they allowed them. Returns the controls' state.
 */
export function useInboxAttention(
  client: InboxClient,
  openTicket: number | null,
  onOpen: (ticket: number) => void,
  locale: Locale = 'es',
  given?: Attention,
) {
  const t = useMemo(() => translator(locale), [locale]);
  const [attention] = useState(() => given ?? new Attention({ defaultSound: true, key: 'soporte_sound_agente' }));
  const [sound, setSound] = useState(attention.soundOn);
  const [canAsk, setCanAsk] = useState(attention.canAsk);
  const open = useRef(openTicket);
  open.current = openTicket;
  const navigate = useRef(onOpen);
  navigate.current = onOpen;

  useEffect(() => {
    const known = new Set<number>();
    const offInbox = client.on('inbox', (snapshot) => snapshot.tickets.forEach((ticket) => known.add(ticket.id)));
    const offTicket = client.on('ticketUpdated', ({ ticket }) => {
      const fresh = !known.has(ticket.id);
      known.add(ticket.id);
      if (fresh && !ticket.agente && ticket.estado === 'ABIERTO') {
        attention.signal({ title: t('attention.newTicket'), body: `#${ticket.id} ${ticket.asunto}`, tag: `ticket-${ticket.id}`, onClick: () => navigate.current(ticket.id) }, false);
      }
    });
    const offMessage = client.on('inboxMessage', (preview) => {
      const me = client.getState().usuario;
      if ((preview.autor.id !== null && preview.autor.id === me?.id) || preview.autor.tipo === 'SISTEMA') return;
      attention.signal(
        { title: `${preview.autor.nombre} · #${preview.ticket}`, body: preview.contenido, tag: `ticket-${preview.ticket}`, onClick: () => navigate.current(preview.ticket) },
        preview.ticket === open.current,
      );
    });
    return () => {
      offInbox();
      offTicket();
      offMessage();
    };
  }, [client, attention, t]);

  return {
    sound,
    onSound: (on: boolean) => {
      attention.setSound(on);
      setSound(on);
    },
    canAsk,
    onAsk: () => {
      void attention.requestPermission().then(() => setCanAsk(attention.canAsk));
    },
  };
}
