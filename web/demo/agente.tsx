import { StrictMode, useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { createRoot } from 'react-dom/client';
import { ChatSync } from '../src/client/ChatSync';
import type { AgentView, CannedResponse, TicketState, TicketView } from '../src/client/types';
import { ChatView } from '../src/react/components/ChatSoporte';
import { AttentionControls } from '../src/react/components/AttentionControls';
import { ConnectionStatus } from '../src/react/components/ConnectionStatus';
import { SearchBox } from '../src/react/components/SearchBox';
import { useAgentInbox } from '../src/react/useAgentInbox';
import { useInboxAttention } from '../src/react/useInboxAttention';
import { useChatSoporte } from '../src/react/useChatSoporte';
import '../src/react/styles.css';
import './demo.css';
import { ESTADOS, me, NoToken, setTicketInLocation, Shell, ticketFromLocation, tokenFromLocation, useLocale } from './common';
import { ContextPanel } from './ContextPanel';
import { Dashboard } from './Dashboard';
import { QueuePeek } from './QueuePeek';
import { ShortcutsHelp, useConsoleShortcuts } from './shortcuts';

function Console() {
  const [locale, setLocale] = useLocale();
  const es = locale === 'es';
  const token = useMemo(tokenFromLocation, []);
  const user = useMemo(me, []);
  const inbox = useAgentInbox({ token: token ?? undefined });
  const api = useMemo(() => new ChatSync({ token: token ?? undefined }), [token]);
  const [selected, setSelected] = useState<number | null>(ticketFromLocation);
  const [showClosed, setShowClosed] = useState(false);
  const [stateFilter, setStateFilter] = useState<TicketState | ''>('');
  const [agentFilter, setAgentFilter] = useState('');
  // What the lists show: closed ones only when asked; then the filters.
  const listed = (t: TicketView) =>
    (showClosed || stateFilter === 'CERRADO' || t.estado !== 'CERRADO') &&
    (!stateFilter || t.estado === stateFilter) &&
    (!agentFilter || String(t.agente?.id ?? '') === agentFilter);
  const [notice, setNotice] = useState<string | null>(null);
  const supervisor = user?.tipo === 'SUPERVISOR';
  const attention = useInboxAttention(inbox.client, selected, setSelected, locale);
  const searchBox = useRef<HTMLInputElement>(null);
  const [foundSeq, setFoundSeq] = useState<number | null>(null);
  const search = useCallback((q: string) => api.search(q).then((found) => found.resultados), [api]);
  const [noteMode, setNoteMode] = useState(false);
  const [showHelp, setShowHelp] = useState(false);
  const [dashboard, setDashboard] = useState(false);
  const closeHelp = useCallback(() => setShowHelp(false), []);
  useConsoleShortcuts({
    move: (step) => {
      const shown = inbox.tickets.filter((t) => listed(t) && (supervisor || !t.agente || t.agente.id === user?.id));
      // The inbox's order on screen: mine first, then the queue.
      const ids = [...shown.filter((t) => t.agente), ...shown.filter((t) => !t.agente)].map((t) => t.id);
      if (!ids.length) return;
      const at = selected === null ? -1 : ids.indexOf(selected);
      setSelected(ids[Math.min(Math.max(at + step, 0), ids.length - 1)]);
    },
    compose: () => document.querySelector<HTMLTextAreaElement>('.demo-agent-chat textarea')?.focus(),
    toggleNote: () => setNoteMode((on) => !on),
    help: () => setShowHelp(true),
  });

  // Ctrl+K (Cmd+K) searches, from anywhere in the console.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        searchBox.current?.focus();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  useEffect(() => {
    inbox.setOpenTicket(selected);
    setTicketInLocation(selected);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [selected]);

  // A ticket transferred away (or no longer visible) closes its conversation.
  useEffect(() => {
    if (selected === null || inbox.status !== 'connected') return;
    if (!inbox.tickets.some((t) => t.id === selected)) {
      setNotice(es ? `El ticket #${selected} ya no está en tu bandeja (transferido).` : `Ticket #${selected} left your inbox (transferred).`);
      setSelected(null);
    }
  }, [inbox.tickets, inbox.status, selected, es]);

  if (!token) {
    return (
      <Shell title={es ? 'Consola de agentes' : 'Agent console'} locale={locale} setLocale={setLocale}>
        <NoToken locale={locale} />
      </Shell>
    );
  }

  const visible = inbox.tickets.filter(listed);
  const queue = visible.filter((t) => !t.agente);
  const mine = visible.filter((t) => t.agente && (supervisor || t.agente.id === user?.id));
  const current = inbox.tickets.find((t) => t.id === selected) ?? null;
  // What the lists show, not hidden closed tickets.
  const totalUnread = [...mine, ...queue].reduce((n, t) => n + t.no_leidos, 0);

  const row = (t: TicketView) => {
    const typing = inbox.typing[t.id] ?? [];
    return (
      <li key={t.id}>
        <button
          type="button"
          className="demo-conversation"
          aria-current={t.id === selected ? 'true' : undefined}
          onClick={() => {
            setSelected(t.id);
            setDashboard(false);
          }}
          data-testid={`conversation-${t.id}`}
        >
          <span className="demo-conv-top">
            <span className="demo-ticket-subject">
              #{t.id} {t.asunto}
            </span>
            {t.no_leidos > 0 && (
              <span className="demo-unread" data-testid="unread" aria-label={es ? `${t.no_leidos} sin leer` : `${t.no_leidos} unread`}>
                {t.no_leidos}
              </span>
            )}
          </span>
          <span className="demo-conv-meta">
            {t.cliente.nombre}
            {supervisor && t.agente && ` → ${t.agente.nombre}`} · <span className={`demo-estado demo-estado-${t.estado}`}>{ESTADOS[t.estado][es ? 0 : 1]}</span>
          </span>
          <span className="demo-preview">
            {typing.length > 0 ? (
              <em>{es ? `${typing[0].nombre} está escribiendo...` : `${typing[0].nombre} is typing...`}</em>
            ) : t.ultimo_mensaje ? (
              `${t.ultimo_mensaje.interno ? '🔒 ' : ''}${t.ultimo_mensaje.autor.nombre}: ${t.ultimo_mensaje.contenido}`
            ) : (
              ''
            )}
          </span>
        </button>
      </li>
    );
  };

  return (
    <Shell title={es ? 'Consola de agentes' : 'Agent console'} locale={locale} setLocale={setLocale} who={user ? `${user.nombre} (${user.tipo})` : undefined}>
      <div className="demo-console">
        <aside className="demo-inbox" aria-label={es ? 'Bandeja de entrada' : 'Inbox'}>
          <div className="demo-inbox-head">
            <h2>
              {es ? 'Conversaciones' : 'Conversations'}
              {totalUnread > 0 && (
                <span className="demo-unread" data-testid="total-unread" aria-label={es ? `${totalUnread} sin leer` : `${totalUnread} unread`}>
                  {totalUnread}
                </span>
              )}
            </h2>
            <AttentionControls {...attention} />
            <button type="button" className="sp-icon-button demo-help" aria-label={es ? 'Atajos de teclado' : 'Keyboard shortcuts'} title="?" onClick={() => setShowHelp(true)}>
              ?
            </button>
            <ConnectionStatus status={inbox.status} onReconnect={inbox.reconnect} />
          </div>
          <SearchBox
            ref={searchBox}
            search={search}
            onOpen={(hit) => {
              setSelected(hit.ticket.id);
              setFoundSeq(hit.seq);
            }}
          />
          {!supervisor && <Availability api={api} me={inbox.agentes.find((a) => a.id === user?.id)} es={es} />}
          {supervisor && (
            <button type="button" className="sp-button sp-secondary demo-dashboard-toggle" aria-pressed={dashboard} onClick={() => setDashboard(!dashboard)}>
              {es ? 'Panel de supervisión' : 'Supervisor dashboard'}
            </button>
          )}
          <label className="demo-check">
            <input type="checkbox" checked={showClosed} onChange={(e) => setShowClosed(e.target.checked)} /> {es ? 'Mostrar cerrados' : 'Show closed'}
          </label>
          <div className="demo-filters">
            <label>
              {es ? 'Estado' : 'State'}{' '}
              <select value={stateFilter} onChange={(e) => setStateFilter(e.target.value as TicketState | '')} data-testid="filter-state">
                <option value="">{es ? 'Todos' : 'All'}</option>
                {(Object.keys(ESTADOS) as TicketState[]).map((estado) => (
                  <option key={estado} value={estado}>
                    {ESTADOS[estado][es ? 0 : 1]}
                  </option>
                ))}
              </select>
            </label>
            {supervisor && (
              <label>
                {es ? 'Agente' : 'Agent'}{' '}
                <select value={agentFilter} onChange={(e) => setAgentFilter(e.target.value)} data-testid="filter-agent">
                  <option value="">{es ? 'Todos' : 'All'}</option>
                  {inbox.agentes.map((a) => (
                    <option key={a.id} value={a.id}>
                      {a.nombre}
                    </option>
                  ))}
                </select>
              </label>
            )}
          </div>
          <h3>{supervisor ? (es ? 'Asignadas' : 'Assigned') : es ? 'Mis conversaciones' : 'My conversations'}</h3>
          <ul className="demo-conv-list" data-testid="mine">
            {mine.map(row)}
            {mine.length === 0 && <li className="demo-muted">{es ? 'Nada por aquí.' : 'Nothing here.'}</li>}
          </ul>
          <h3>{es ? 'Cola sin asignar' : 'Unassigned queue'}</h3>
          <ul className="demo-conv-list" data-testid="queue">
            {queue.map(row)}
            {queue.length === 0 && <li className="demo-muted">{es ? 'La cola está vacía.' : 'The queue is empty.'}</li>}
          </ul>
          {inbox.more && (
            <button
              type="button"
              className="demo-load-more"
              data-testid="load-more"
              disabled={inbox.loadingMore}
              onClick={() => inbox.loadMore().catch(() => setNotice(es ? 'No se pudieron cargar más conversaciones.' : 'Could not load more conversations.'))}
            >
              {inbox.loadingMore ? (es ? 'Cargando…' : 'Loading…') : es ? 'Cargar conversaciones anteriores' : 'Load earlier conversations'}
            </button>
          )}
        </aside>
        <section className="demo-conversation-pane">
          {notice && (
            <p role="status" className="demo-notice">
              {notice} <button onClick={() => setNotice(null)}>{es ? 'Cerrar' : 'Dismiss'}</button>
            </p>
          )}
          {dashboard && supervisor ? (
            <Dashboard api={api} tickets={inbox.tickets} agentes={inbox.agentes} es={es} />
          ) : current && !current.agente && current.estado !== 'CERRADO' ? (
            <QueuePeek key={current.id} ticket={current} api={api} agentes={inbox.agentes} es={es} supervisor={supervisor} />
          ) : current ? (
            <Conversation
              key={current.id}
              ticket={current}
              token={token}
              api={api}
              agentes={inbox.agentes}
              es={es}
              supervisor={supervisor}
              myId={user?.id ?? null}
              foundSeq={foundSeq}
              onFound={() => setFoundSeq(null)}
              noteMode={noteMode}
              onNoteModeChange={setNoteMode}
              tickets={inbox.tickets}
              onOpen={setSelected}
            />
          ) : (
            <p className="demo-muted">{es ? 'Elige una conversación de la bandeja. Un ticket de la cola se lee antes de asignártelo.' : 'Pick a conversation. A queued ticket can be read before you take it.'}</p>
          )}
        </section>
      </div>
      {showHelp && <ShortcutsHelp es={es} onClose={closeHelp} />}
    </Shell>
  );
}

function Availability({ api, me, es }: { api: ChatSync; me?: AgentView; es: boolean }) {
  const away = me?.disponibilidad === 'ausente';
  return (
    <label className="demo-check">
      <input type="checkbox" checked={!away} onChange={(e) => void api.setDisponibilidad(e.target.checked ? 'disponible' : 'ausente').catch(() => {})} /> {es ? 'Disponible para nuevos chats' : 'Available for new chats'}
    </label>
  );
}

interface ConversationProps {
  ticket: TicketView;
  token: string;
  api: ChatSync;
  agentes: AgentView[];
  es: boolean;
  supervisor: boolean;
  myId: number | null;
  /** A search hit's message: scrolled to and marked once it is on screen. */
  foundSeq?: number | null;
  onFound?: () => void;
  noteMode: boolean;
  onNoteModeChange: (on: boolean) => void;
  /** The inbox, for the customer's other tickets. */
  tickets: TicketView[];
  onOpen: (ticket: number) => void;
}

function Conversation({ ticket, token, api, agentes, es, foundSeq, onFound, noteMode, onNoteModeChange, tickets, onOpen }: ConversationProps) {
  const chat = useChatSoporte(ticket.id, { token });
  useEffect(() => {
    if (foundSeq == null) return;
    const el = document.querySelector<HTMLElement>(`.demo-agent-chat [data-seq="${foundSeq}"]`);
    if (!el) return;
    el.scrollIntoView({ block: 'center' });
    el.classList.add('sp-found');
    onFound?.();
  }, [foundSeq, chat.messages, onFound]);
  const [target, setTarget] = useState<string>('');
  const [motivo, setMotivo] = useState('');
  const [confirmClose, setConfirmClose] = useState(false);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const [respuestas, setRespuestas] = useState<CannedResponse[]>([]);
  const estado = chat.ticket?.estado ?? ticket.estado;
  const agenteId = chat.ticket?.agente?.id ?? ticket.agente?.id ?? null;
  const candidates = agentes.filter((a) => a.id !== agenteId);

  useEffect(() => {
    api.listRespuestas().then(setRespuestas).catch(() => setRespuestas([]));
  }, [api]);

  const run = async (action: () => Promise<unknown>) => {
    setBusy(true);
    setActionError(null);
    try {
      await action();
    } catch (e) {
      setActionError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  const transfer = (e: FormEvent) => {
    e.preventDefault();
    if (!target) return;
    void run(() => api.transfer(ticket.id, Number(target), motivo.trim()));
  };

  const toolbar = (
    <div className="demo-actions" role="toolbar" aria-label={es ? 'Acciones del ticket' : 'Ticket actions'}>
      {estado !== 'CERRADO' && (
        <>
          {estado !== 'EN_ESPERA' && estado !== 'RESUELTO' && (
            <button type="button" disabled={busy} onClick={() => void run(() => api.setEstado(ticket.id, 'EN_ESPERA'))}>
              {es ? 'Poner en espera' : 'Put on hold'}
            </button>
          )}
          {estado !== 'RESUELTO' && (
            <button type="button" disabled={busy} onClick={() => void run(() => api.setEstado(ticket.id, 'RESUELTO'))}>
              {es ? 'Resolver' : 'Resolve'}
            </button>
          )}
          {estado !== 'ABIERTO' && (
            <button type="button" disabled={busy} onClick={() => void run(() => api.setEstado(ticket.id, 'ABIERTO'))}>
              {es ? 'Reabrir' : 'Reopen'}
            </button>
          )}
          <form className="demo-transfer" onSubmit={transfer}>
            <label htmlFor={`transfer-${ticket.id}`}>{es ? 'Transferir a' : 'Transfer to'}</label>
            <select id={`transfer-${ticket.id}`} value={target} onChange={(e) => setTarget(e.target.value)}>
              <option value="">{es ? '— elige agente —' : '— pick an agent —'}</option>
              {candidates.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.nombre} {a.online ? (es ? '(en línea)' : '(online)') : ''}
                </option>
              ))}
            </select>
            <input aria-label={es ? 'Motivo de la transferencia' : 'Reason for the transfer'} placeholder={es ? 'Motivo (opcional)' : 'Reason (optional)'} value={motivo} onChange={(e) => setMotivo(e.target.value)} maxLength={500} />
            <button type="submit" disabled={busy || !target}>
              {es ? 'Transferir' : 'Transfer'}
            </button>
          </form>
          {/* Apart from "Resolver", and asked twice: a closed ticket never opens again. */}
          {confirmClose ? (
            <span role="group" aria-label={es ? 'Confirmar cierre' : 'Confirm closing'} className="demo-confirm">
              {es ? '¿Cerrar el ticket? No admitirá más mensajes.' : 'Close the ticket? It will take no more messages.'}
              <button type="button" className="demo-danger" disabled={busy} onClick={() => void run(() => api.setEstado(ticket.id, 'CERRADO')).then(() => setConfirmClose(false))}>
                {es ? 'Sí, cerrar' : 'Yes, close'}
              </button>
              <button type="button" disabled={busy} onClick={() => setConfirmClose(false)}>
                {es ? 'Cancelar' : 'Cancel'}
              </button>
            </span>
          ) : (
            <button type="button" className="demo-close-ticket" disabled={busy} onClick={() => setConfirmClose(true)}>
              {es ? 'Cerrar…' : 'Close…'}
            </button>
          )}
        </>
      )}
      {actionError && (
        <span role="alert" className="demo-error">
          {actionError}
        </span>
      )}
    </div>
  );

  const canned = (
    <CannedPicker
      respuestas={respuestas}
      es={es}
      onPick={(texto) => chat.setDraft(chat.draft ? `${chat.draft} ${texto}` : texto)}
      onCreate={async (atajo, texto) => {
        const created = await api.createRespuesta(atajo, texto);
        setRespuestas((prev) => [...prev, created].sort((a, b) => a.atajo.localeCompare(b.atajo)));
      }}
    />
  );

  return (
    <div className="demo-conversation-with-context">
      <ChatView
        chat={chat}
        ticketId={ticket.id}
        title={`${ticket.cliente.nombre}`}
        minimizable={false}
        allowInternalNotes
        toolbar={toolbar}
        composerExtra={canned}
        shortcuts={respuestas}
        className="demo-agent-chat"
        noteMode={noteMode}
        onNoteModeChange={onNoteModeChange}
      />
      <ContextPanel ticket={ticket} chat={chat} tickets={tickets} onOpen={onOpen} es={es} />
    </div>
  );
}

function CannedPicker({ respuestas, es, onPick, onCreate }: { respuestas: CannedResponse[]; es: boolean; onPick: (t: string) => void; onCreate: (a: string, t: string) => Promise<void> }) {
  const [open, setOpen] = useState(false);
  const [atajo, setAtajo] = useState('');
  const [texto, setTexto] = useState('');
  const [error, setError] = useState<string | null>(null);
  const save = async () => {
    try {
      await onCreate(atajo.trim(), texto.trim());
      setAtajo('');
      setTexto('');
      setOpen(false);
      setError(null);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <div className="demo-canned">
      <select
        aria-label={es ? 'Respuestas predefinidas' : 'Canned responses'}
        value=""
        onChange={(e) => {
          const r = respuestas.find((x) => String(x.id) === e.target.value);
          if (r) onPick(r.texto);
        }}
      >
        <option value="">{es ? 'Respuestas…' : 'Responses…'}</option>
        {respuestas.map((r) => (
          <option key={r.id} value={r.id}>
            /{r.atajo}: {r.texto.slice(0, 40)}
          </option>
        ))}
      </select>
      <button type="button" className="sp-icon-button" aria-expanded={open} aria-label={es ? 'Nueva respuesta predefinida' : 'New canned response'} title={es ? 'Nueva respuesta predefinida' : 'New canned response'} onClick={() => setOpen(!open)}>
        <span aria-hidden="true">+</span>
      </button>
      {open && (
        // Not a <form>: this sits inside the composer's form, and forms do not nest.
        <div className="demo-canned-form" role="group" aria-label={es ? 'Nueva respuesta predefinida' : 'New canned response'}>
          <input aria-label={es ? 'Atajo' : 'Shortcut'} placeholder={es ? 'atajo' : 'shortcut'} value={atajo} onChange={(e) => setAtajo(e.target.value)} maxLength={50} />
          <input aria-label={es ? 'Texto' : 'Text'} placeholder={es ? 'Texto de la respuesta' : 'Response text'} value={texto} onChange={(e) => setTexto(e.target.value)} />
          <button type="button" disabled={!atajo.trim() || !texto.trim()} onClick={() => void save()}>
            {es ? 'Guardar' : 'Save'}
          </button>
          {error && (
            <span role="alert" className="demo-error">
              {error}
            </span>
          )}
        </div>
      )}
    </div>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <Console />
  </StrictMode>,
);
