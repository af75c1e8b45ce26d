// The chat panel inside the `widget.js` iframe. It talks to the host page
// only through postMessage: the loader sends the token and options
// (`soporte:init`), whether the panel shows (`soporte:visibility`) and fresh
// tokens (`soporte:token`); the panel tells the unread count
// (`soporte:unread`) and a close (`soporte:close`). There is no subject
// form: a customer's first message opens the ticket, and one who comes back
// finds their open ticket.
import { StrictMode, useEffect, useMemo, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { X } from 'lucide-react';
import { ChatSync } from '../src/client/ChatSync';
import { unseenCount } from '../src/client/messages';
import { I18nProvider, useI18n, type MessageOverrides } from '../src/i18n';
import { AttentionControls } from '../src/react/components/AttentionControls';
import { ChatView } from '../src/react/components/ChatSoporte';
import { useChatSoporte } from '../src/react/useChatSoporte';
import '../src/react/styles.css';
import './widget.css';

interface Init {
  token: string;
  ticketId?: number;
  locale?: string;
  theme?: 'light' | 'dark' | 'auto';
  messages?: MessageOverrides;
  open?: boolean;
  /** The host has a `getToken`: fresh tokens are asked for. */
  refresh?: boolean;
  /** Whether the chime plays (the loader remembers it on the host's site). */
  sound?: boolean;
}

/** The host, once it spoke: where our messages go (never `*`). */
let hostOrigin: string | null = null;
const toHost = (message: object) => {
  if (hostOrigin) window.parent.postMessage(message, hostOrigin);
};

/** Fresh tokens come from the host's `getToken`, asked through the loader. */
let tokenWaiters: ((token: string) => void)[] = [];
function askToken(): Promise<string> {
  return new Promise((resolve) => {
    tokenWaiters.push(resolve);
    toHost({ type: 'soporte:token' });
  });
}

/** The subject of a ticket opened by its first message: its first line, shortened. */
function subjectOf(text: string): string {
  const line = text.trim().split('\n')[0].trim();
  return line.length > 120 ? `${line.slice(0, 117)}…` : line;
}

function Panel({ init, visible }: { init: Init; visible: boolean }) {
  const { t } = useI18n();
  const api = useMemo(() => new ChatSync({ token: init.token, getToken: init.refresh ? askToken : undefined }), [init]);
  const [ticketId, setTicketId] = useState<number | null>(init.ticketId ?? null);
  const [looking, setLooking] = useState(!init.ticketId);
  const [first, setFirst] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    if (init.ticketId) return;
    // Coming back: the newest ticket that is not closed.
    api.listTickets().then(
      (list) => {
        const open = list.results.find((ticket) => ticket.estado !== 'CERRADO');
        if (open) setTicketId(open.id);
        setLooking(false);
      },
      (error: unknown) => {
        setProblem(error instanceof Error ? error.message : String(error));
        setLooking(false);
      },
    );
  }, [api, init.ticketId]);

  const start = async (text: string) => {
    setProblem(null);
    try {
      const ticket = await api.createTicket(subjectOf(text));
      setFirst(text);
      setTicketId(ticket.id);
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
      throw error;
    }
  };

  if (looking) return <p className="sp-widget-wait">{t('widget.loading')}</p>;
  if (!ticketId) return <FirstMessage onSend={start} problem={problem} theme={init.theme ?? 'auto'} />;
  return <Conversation ticketId={ticketId} init={init} first={first} visible={visible} />;
}

function FirstMessage({ onSend, problem, theme }: { onSend: (text: string) => Promise<void>; problem: string | null; theme: string }) {
  const { t } = useI18n();
  const [text, setText] = useState('');
  const [sending, setSending] = useState(false);
  const submit = async (e: { preventDefault(): void }) => {
    e.preventDefault();
    if (!text.trim() || sending) return;
    setSending(true);
    try {
      await onSend(text);
    } catch {
      setSending(false);
    }
  };
  return (
    <section className={`sp-chat sp-theme-${theme} sp-widget-first`} aria-labelledby="sp-first-title">
      <header className="sp-chat-header">
        <h1 id="sp-first-title" className="sp-chat-title">
          {t('widget.title')}
        </h1>
        <button type="button" className="sp-icon-button" aria-label={t('chat.close')} onClick={() => toHost({ type: 'soporte:close' })}>
          <X aria-hidden="true" size={18} />
        </button>
      </header>
      <p className="sp-widget-greeting">{t('widget.greeting')}</p>
      {problem && (
        <p role="alert" className="sp-csat-problem sp-widget-problem">
          {problem}
        </p>
      )}
      <form className="sp-composer sp-widget-first-form" onSubmit={submit}>
        <label htmlFor="sp-first" className="sp-visually-hidden">
          {t('input.label')}
        </label>
        <textarea
          id="sp-first"
          value={text}
          rows={3}
          placeholder={t('widget.placeholder')}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) void submit(e);
          }}
        />
        <button type="submit" className="sp-button" disabled={!text.trim() || sending}>
          {t('input.send')}
        </button>
      </form>
    </section>
  );
}

function Conversation({ ticketId, init, first, visible }: { ticketId: number; init: Init; first: string | null; visible: boolean }) {
  const chat = useChatSoporte(ticketId, { token: init.token, getToken: init.refresh ? askToken : undefined });
  const [sound, setSound] = useState(Boolean(init.sound));
  // A reply while the panel is closed or the page hidden: the loader chimes and notifies on the host page.
  const { count, last } = chat.arrivals;
  useEffect(() => {
    if (count === 0 || !last || (visible && document.visibilityState !== 'hidden')) return;
    const body = last.contenido || last.archivos.map((a) => a.nombre).join(', ');
    toHost({ type: 'soporte:attention', title: last.autor.nombre, body });
  }, [count, last, visible]);
  // Writing is the gesture after which the host page may ask for notifications.
  // (Counted by messages still being sent: history loading is no gesture.)
  const own = chat.messages.filter((m) => m.id === undefined).length;
  const engaged = useRef<number | null>(null);
  useEffect(() => {
    if (engaged.current !== null && own > engaged.current) toHost({ type: 'soporte:engaged' });
    engaged.current = own;
  }, [own]);
  const sent = useRef(false);
  useEffect(() => {
    // The message that opened the ticket goes out through the outbox (kept across reloads).
    if (first && !sent.current) {
      sent.current = true;
      chat.sendMessage(first);
    }
  }, [first, chat]);
  const unseen = unseenCount(chat.messages, chat.currentUser?.id);
  useEffect(() => toHost({ type: 'soporte:unread', unread: visible ? 0 : unseen }), [unseen, visible]);
  return (
    <ChatView
      chat={chat}
      ticketId={ticketId}
      minimizable={false}
      theme={init.theme ?? 'auto'}
      onClose={() => toHost({ type: 'soporte:close' })}
      className="sp-widget-chat"
      headerExtra={
        <AttentionControls
          sound={sound}
          onSound={(on) => {
            setSound(on);
            toHost({ type: 'soporte:sound', on });
          }}
        />
      }
    />
  );
}

function Widget() {
  const [init, setInit] = useState<Init | null>(null);
  const [visible, setVisible] = useState(false);
  useEffect(() => {
    const onMessage = (event: MessageEvent) => {
      if (event.source !== window.parent) return;
      const data = event.data as { type?: string } & Partial<Init> & { open?: boolean };
      if (data?.type === 'soporte:init' && typeof data.token === 'string') {
        hostOrigin = event.origin;
        document.documentElement.lang = data.locale ?? 'es';
        setVisible(Boolean(data.open));
        setInit({ token: data.token, ticketId: data.ticketId, locale: data.locale, theme: data.theme, messages: data.messages, refresh: data.refresh, sound: data.sound });
      } else if (event.origin === hostOrigin && data?.type === 'soporte:visibility') {
        setVisible(Boolean(data.open));
      } else if (event.origin === hostOrigin && data?.type === 'soporte:token' && typeof data.token === 'string') {
        const waiting = tokenWaiters;
        tokenWaiters = [];
        waiting.forEach((resolve) => resolve(data.token as string));
      }
    };
    window.addEventListener('message', onMessage);
    // Told to whoever framed us: only the host page answers with a token.
    window.parent.postMessage({ type: 'soporte:ready' }, '*');
    return () => window.removeEventListener('message', onMessage);
  }, []);
  if (!init) return null;
  return (
    <I18nProvider locale={init.locale ?? 'es'} messages={init.messages}>
      <Panel init={init} visible={visible} />
    </I18nProvider>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <Widget />
  </StrictMode>,
);
