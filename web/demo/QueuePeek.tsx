import { useEffect, useState } from 'react';
import type { ChatSync } from '../src/client/ChatSync';
import type { AgentView, Message, TicketView } from '../src/client/types';
import { MessageList } from '../src/react/components/MessageList';

export interface QueuePeekProps {
  ticket: TicketView;
  api: ChatSync;
  agentes: AgentView[];
  es: boolean;
  supervisor: boolean;
}

/**
 * A queued ticket, read before taking it: its conversation read-only (REST
 * history, so opening it claims nothing and marks nothing read), with an
 * explicit "Asignarme", and "Asignar a…" for supervisors. Once assigned the
 * inbox's update turns this into the live conversation.
 */
export function QueuePeek({ ticket, api, agentes, es, supervisor }: QueuePeekProps) {
  const [messages, setMessages] = useState<Message[] | null>(null);
  const [target, setTarget] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    api.fetchChatHistory(ticket.id, { size: 50 }).then(
      (page) => live && setMessages([...page.results].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))),
      (error: unknown) => live && setProblem(error instanceof Error ? error.message : String(error)),
    );
    return () => {
      live = false;
    };
    // New messages while peeking (last_seq moves): read again.
  }, [api, ticket.id, ticket.last_seq]);

  const assign = async (agentId?: number) => {
    setBusy(true);
    setProblem(null);
    try {
      await api.assign(ticket.id, agentId);
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="sp-chat sp-theme-auto demo-peek" aria-labelledby={`peek-${ticket.id}`} data-testid="peek">
      <header className="sp-chat-header">
        <div className="sp-chat-title">
          <h2 id={`peek-${ticket.id}`}>{ticket.cliente.nombre}</h2>
          <span className="sp-ticket-id">
            #{ticket.id} · {ticket.asunto} · {es ? 'en cola, solo lectura' : 'queued, read-only'}
          </span>
        </div>
      </header>
      <div className="demo-peek-actions">
        <button type="button" className="sp-button" disabled={busy} onClick={() => void assign()}>
          {es ? 'Asignarme' : 'Assign to me'}
        </button>
        {supervisor && (
          <>
            <label>
              {es ? 'Asignar a…' : 'Assign to…'}{' '}
              <select value={target} onChange={(e) => setTarget(e.target.value)}>
                <option value="">—</option>
                {agentes.map((a) => (
                  <option key={a.id} value={a.id}>
                    {a.nombre}
                  </option>
                ))}
              </select>
            </label>
            <button type="button" className="sp-button sp-secondary" disabled={busy || !target} onClick={() => void assign(Number(target))}>
              {es ? 'Asignar' : 'Assign'}
            </button>
          </>
        )}
      </div>
      {problem && (
        <p role="alert" className="sp-csat-problem demo-peek-problem">
          {problem}
        </p>
      )}
      <MessageList messages={messages ?? []} hasMore={false} />
    </section>
  );
}
