import { StrictMode, useCallback, useEffect, useMemo, useState, type FormEvent } from 'react';
import { createRoot } from 'react-dom/client';
import { ChatSync } from '../src/client/ChatSync';
import type { TicketView } from '../src/client/types';
import { ChatSoporte } from '../src/react/components/ChatSoporte';
import '../src/react/styles.css';
import './demo.css';
import { ESTADOS, me, NoToken, setTicketInLocation, Shell, ticketFromLocation, tokenFromLocation, useLocale } from './common';

/** The customer page: my tickets, a form to open one, and the chat widget. */
function CustomerPage() {
  const [locale, setLocale] = useLocale();
  const es = locale === 'es';
  const token = useMemo(tokenFromLocation, []);
  const user = useMemo(me, []);
  const api = useMemo(() => new ChatSync({ token: token ?? undefined }), [token]);
  const [tickets, setTickets] = useState<TicketView[]>([]);
  const [selected, setSelected] = useState<number | null>(ticketFromLocation);
  const [asunto, setAsunto] = useState('');
  const [error, setError] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    try {
      const list = await api.listTickets();
      setTickets(list.results);
      setSelected((current) => current ?? list.results[0]?.id ?? null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }, [api]);

  useEffect(() => {
    if (token) void refresh();
  }, [token, refresh]);
  useEffect(() => setTicketInLocation(selected), [selected]);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    if (!asunto.trim()) return;
    try {
      const ticket = await api.createTicket(asunto.trim());
      setAsunto('');
      setTickets((prev) => [ticket, ...prev]);
      setSelected(ticket.id);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  return (
    <Shell title={es ? 'Centro de ayuda' : 'Help center'} locale={locale} setLocale={setLocale} who={user ? user.nombre : undefined}>
      {!token ? (
        <NoToken locale={locale} />
      ) : (
        <div className="demo-customer">
          <aside className="demo-sidebar" aria-label={es ? 'Mis tickets' : 'My tickets'}>
            <form onSubmit={create} className="demo-new-ticket">
              <label htmlFor="asunto">{es ? 'Abrir un ticket nuevo' : 'Open a new ticket'}</label>
              <input id="asunto" value={asunto} onChange={(e) => setAsunto(e.target.value)} maxLength={200} placeholder={es ? 'Asunto: ¿en qué te ayudamos?' : 'Subject: how can we help?'} />
              <button type="submit" disabled={!asunto.trim()}>
                {es ? 'Abrir ticket' : 'Open ticket'}
              </button>
            </form>
            {error && (
              <p role="alert" className="demo-error">
                {error}
              </p>
            )}
            <h2>{es ? 'Mis tickets' : 'My tickets'}</h2>
            <ul className="demo-ticket-list">
              {tickets.map((t) => (
                <li key={t.id}>
                  <button type="button" className="demo-ticket" aria-current={t.id === selected ? 'true' : undefined} onClick={() => setSelected(t.id)}>
                    <span className="demo-ticket-subject">
                      #{t.id} {t.asunto}
                    </span>
                    <span className={`demo-estado demo-estado-${t.estado}`}>{ESTADOS[t.estado]?.[es ? 0 : 1] ?? t.estado}</span>
                  </button>
                </li>
              ))}
              {tickets.length === 0 && <li className="demo-muted">{es ? 'Aún no tienes tickets.' : 'No tickets yet.'}</li>}
            </ul>
          </aside>
          <div className="demo-widget">
            {selected ? (
              <ChatSoporte
                key={selected}
                ticketId={selected}
                token={token}
                locale={locale}
                minimizable
                titleCount
                onTicketChange={(ticket) => setTickets((prev) => prev.map((t) => (t.id === ticket.id ? { ...t, ...ticket } : t)))}
              />
            ) : (
              <p className="demo-muted">{es ? 'Abre un ticket para chatear con soporte.' : 'Open a ticket to chat with support.'}</p>
            )}
          </div>
        </div>
      )}
    </Shell>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <CustomerPage />
  </StrictMode>,
);
