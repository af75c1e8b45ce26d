import type { TicketView } from '../src/client/types';
import { formatSize } from '../src/react/components/FileAttachment';
import type { ChatSoporteState } from '../src/react/useChatSoporte';
import { ESTADOS } from './common';

const ROL: Record<string, [string, string]> = {
  CLIENTE: ['cliente', 'customer'],
  AGENTE: ['agente', 'agent'],
  SUPERVISOR: ['supervisor', 'supervisor'],
  SISTEMA: ['sistema', 'system'],
};

export interface ContextPanelProps {
  ticket: TicketView;
  chat: ChatSoporteState;
  /** The inbox's tickets: the customer's others among them. */
  tickets: TicketView[];
  onOpen: (ticket: number) => void;
  es: boolean;
}

/**
 * Beside the conversation: the ticket's data (and the host's `metadata`
 * when it has any), the customer's other tickets the agent can see, the
 * files shared here, and who takes part, online or when last seen.
 */
export function ContextPanel({ ticket, chat, tickets, onOpen, es }: ContextPanelProps) {
  const date = (iso: string) => new Date(iso).toLocaleString(es ? 'es-ES' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short' });
  const others = tickets.filter((t) => t.cliente.id === ticket.cliente.id && t.id !== ticket.id);
  const files = chat.messages.flatMap((m) => m.archivos ?? []);
  const metadata = Object.entries((ticket as { metadata?: Record<string, unknown> | null }).metadata ?? {});
  return (
    <aside className="demo-context" aria-label={es ? 'Contexto del ticket' : 'Ticket context'} data-testid="context">
      <section>
        <h3>{es ? 'Ticket' : 'Ticket'}</h3>
        <dl className="demo-facts">
          <dt>{es ? 'Cliente' : 'Customer'}</dt>
          <dd>{ticket.cliente.nombre}</dd>
          <dt>{es ? 'Estado' : 'State'}</dt>
          <dd>{ESTADOS[chat.ticket?.estado ?? ticket.estado]?.[es ? 0 : 1]}</dd>
          <dt>{es ? 'Creado' : 'Created'}</dt>
          <dd>{date(ticket.creado)}</dd>
          {metadata.map(([key, value]) => (
            <div key={key}>
              <dt>{key}</dt>
              <dd>{typeof value === 'string' ? value : JSON.stringify(value)}</dd>
            </div>
          ))}
        </dl>
      </section>
      <section>
        <h3>{es ? 'Otros tickets del cliente' : 'The customer’s other tickets'}</h3>
        {others.length === 0 ? (
          <p className="demo-muted">{es ? 'Ninguno que puedas ver.' : 'None you can see.'}</p>
        ) : (
          <ul className="demo-context-list">
            {others.map((t) => (
              <li key={t.id}>
                <button type="button" className="demo-link" onClick={() => onOpen(t.id)}>
                  #{t.id} {t.asunto}
                </button>{' '}
                <span className="demo-muted">
                  {ESTADOS[t.estado]?.[es ? 0 : 1]} · {date(t.actualizado)}
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section>
        <h3>{es ? 'Archivos' : 'Files'}</h3>
        {files.length === 0 ? (
          <p className="demo-muted">{es ? 'Ninguno en este ticket.' : 'None in this ticket.'}</p>
        ) : (
          <ul className="demo-context-list">
            {files.map((f) => (
              <li key={f.id}>
                <a href={chat.fileUrl(f.url)} download={f.nombre}>
                  {f.nombre}
                </a>{' '}
                <span className="demo-muted">{formatSize(f.tamaño)}</span>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section>
        <h3>{es ? 'Participantes' : 'Participants'}</h3>
        <ul className="demo-context-list">
          {chat.participants.map((p) => (
            <li key={`${p.tipo}-${p.id}`} className="demo-participant">
              <span className="demo-avatar" aria-hidden="true">
                {p.nombre.slice(0, 1).toUpperCase()}
              </span>
              <span>
                {p.nombre} <span className="demo-muted">({ROL[p.tipo]?.[es ? 0 : 1] ?? p.tipo})</span>
                <br />
                <span className="demo-muted">
                  {p.online ? (es ? 'en línea' : 'online') : p.lastSeen ? `${es ? 'visto' : 'seen'} ${date(p.lastSeen)}` : es ? 'desconectado' : 'offline'}
                </span>
              </span>
            </li>
          ))}
        </ul>
      </section>
    </aside>
  );
}
