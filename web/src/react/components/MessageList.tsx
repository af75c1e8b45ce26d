import { useEffect, useLayoutEffect, useMemo, useRef, type ReactNode } from 'react';
import type { Message as ChatMessage } from '../../client/types';
import { dateLocale, useI18n, type Locale, type Translate } from '../../i18n';
import { Message } from './Message';
import type { MessageActionHandlers } from './MessageActions';

const GROUP_WINDOW_MS = 5 * 60 * 1000;

export interface MessageListProps {
  messages: readonly ChatMessage[];
  currentUserId?: number | null;
  onRetryMessage?: (clientId: string) => void;
  onDiscardMessage?: (clientId: string) => void;
  /** Called with ids of others' unread messages once they are on screen. */
  onSeen?: (ids: number[]) => void;
  onLoadOlder?: () => void;
  hasMore?: boolean;
  loadingOlder?: boolean;
  showTimestamps?: boolean;
  fileUrl?: (url: string) => string;
  /** Rendered after the last message (typing indicator). */
  footer?: ReactNode;
  /** Reply, edit, delete, versions of sent messages. */
  actions?: MessageActionHandlers;
}

function dayKey(date: Date): string {
  return `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}`;
}

/** Hoy, Ayer, or the full date. */
export function formatDay(date: Date, t: Translate, locale: Locale, now = new Date()): string {
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (dayKey(date) === dayKey(now)) return t('list.today');
  if (dayKey(date) === dayKey(yesterday)) return t('list.yesterday');
  return date.toLocaleDateString(dateLocale(locale), { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
}

/** Whether `message` starts a new author group (other author, other day, or >5 min later). */
export function startsGroup(message: ChatMessage, previous: ChatMessage | undefined): boolean {
  if (!previous) return true;
  if (previous.tipo === 'SISTEMA' || previous.tipo === 'TRANSFERENCIA') return true;
  if (previous.autor.id !== message.autor.id || previous.autor.tipo !== message.autor.tipo) return true;
  if (!!previous.interno !== !!message.interno) return true;
  return new Date(message.timestamp).getTime() - new Date(previous.timestamp).getTime() > GROUP_WINDOW_MS;
}

/**
 * The conversation: date separators, author grouping, scroll to the newest,
 * older pages when scrolled to the top, and an `aria-live` region that
 * announces new messages from others.
 */
export function MessageList({
  messages,
  currentUserId,
  onRetryMessage,
  onDiscardMessage,
  onSeen,
  onLoadOlder,
  hasMore = false,
  loadingOlder = false,
  showTimestamps = true,
  fileUrl,
  footer,
  actions,
}: MessageListProps) {
  const { t, locale } = useI18n();
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const prevHeight = useRef(0);
  const prevFirst = useRef<string | undefined>(undefined);
  const lastAnnounced = useRef<string | undefined>(undefined);

  const isOwn = (m: ChatMessage) => m.autor.id !== null && m.autor.id === currentUserId;

  // Keep the view pinned: at the bottom for new messages, in place when older ones are prepended.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const first = messages[0] ? String(messages[0].id ?? messages[0].client_id) : undefined;
    if (prevFirst.current !== undefined && first !== prevFirst.current && prevHeight.current) {
      el.scrollTop += el.scrollHeight - prevHeight.current;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
    prevFirst.current = first;
    prevHeight.current = el.scrollHeight;
  }, [messages]);

  // Own new message: always scroll to it.
  const last = messages[messages.length - 1];
  useEffect(() => {
    if (last && isOwn(last) && last.estado === 'ENVIANDO' && scroller.current) {
      scroller.current.scrollTop = scroller.current.scrollHeight;
      atBottom.current = true;
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [last?.client_id]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (el.scrollTop < 40 && hasMore && !loadingOlder) onLoadOlder?.();
  };

  // Seen: others' unread messages that are on screen while the page is visible.
  useEffect(() => {
    if (!onSeen) return;
    const unread = messages.filter((m) => m.id !== undefined && !isOwn(m) && m.estado === 'ENTREGADO' && m.autor.tipo !== 'SISTEMA' && !m.interno);
    if (unread.length === 0) return;
    const visible = () => typeof document === 'undefined' || document.visibilityState !== 'hidden';
    if (typeof IntersectionObserver === 'undefined' || !scroller.current) {
      if (visible()) onSeen(unread.map((m) => m.id!));
      return;
    }
    const root = scroller.current;
    const seen = new Set<number>();
    const observer = new IntersectionObserver(
      (entries) => {
        const ids: number[] = [];
        for (const entry of entries) {
          const id = Number((entry.target as HTMLElement).dataset.id);
          if (entry.isIntersecting && !seen.has(id)) {
            seen.add(id);
            ids.push(id);
          }
        }
        if (ids.length && visible()) onSeen(ids);
        else ids.forEach((id) => seen.delete(id));
      },
      { root, threshold: 0.5 },
    );
    for (const m of unread) {
      const el = root.querySelector(`[data-id="${m.id}"]`);
      if (el) observer.observe(el);
    }
    const onVisibility = () => {
      if (!visible()) return;
      observer.takeRecords();
      // Re-check: messages that arrived while the tab was hidden.
      for (const m of unread) {
        const el = root.querySelector(`[data-id="${m.id}"]`);
        if (el) {
          observer.unobserve(el);
          observer.observe(el);
        }
      }
    };
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      observer.disconnect();
      document.removeEventListener('visibilitychange', onVisibility);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [messages, onSeen, currentUserId]);

  // The newest message from someone else, for the live region.
  const announcement = useMemo(() => {
    for (let i = messages.length - 1; i >= 0; i--) {
      const m = messages[i];
      if (!isOwn(m) && m.id !== undefined) return m;
    }
    return undefined;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [messages, currentUserId]);
  const announceKey = announcement ? String(announcement.id) : undefined;
  const announceText =
    announcement && lastAnnounced.current !== undefined && lastAnnounced.current !== announceKey
      ? t('list.newMessage', { autor: announcement.autor.nombre, texto: announcement.contenido || announcement.archivos?.[0]?.nombre || '' })
      : '';
  useEffect(() => {
    lastAnnounced.current = announceKey ?? '';
  }, [announceKey]);

  const byId = useMemo(() => new Map(messages.flatMap((m) => (m.id === undefined ? [] : [[m.id, m] as const]))), [messages]);
  const showQuoted = (id: number) => {
    const row = scroller.current?.querySelector<HTMLElement>(`[data-id="${id}"]`);
    if (!row) return;
    row.scrollIntoView?.({ block: 'center' });
    row.focus();
  };

  const rows: ReactNode[] = [];
  let previous: ChatMessage | undefined;
  let lastDay = '';
  for (const message of messages) {
    const date = new Date(message.timestamp);
    const day = dayKey(date);
    if (day !== lastDay) {
      rows.push(
        <div key={`day-${day}`} className="sp-date-separator" role="separator">
          <span>{formatDay(date, t, locale)}</span>
        </div>,
      );
      lastDay = day;
      previous = undefined;
    }
    const key = message.id !== undefined ? `m${message.id}` : `c${message.client_id}`;
    const clientId = message.client_id;
    rows.push(
      <div key={key} data-id={message.id ?? ''} className="sp-message-row" tabIndex={-1}>
        <Message
          message={message}
          showAuthor={startsGroup(message, previous)}
          showTimestamp={showTimestamps}
          isOwn={isOwn(message)}
          onRetry={onRetryMessage && clientId ? () => onRetryMessage(clientId) : undefined}
          onDiscard={onDiscardMessage && clientId ? () => onDiscardMessage(clientId) : undefined}
          fileUrl={fileUrl}
          actions={actions}
          quoted={message.replyTo != null ? (byId.get(message.replyTo) ?? null) : undefined}
          onShowQuoted={showQuoted}
        />
      </div>,
    );
    previous = message;
  }

  return (
    <div className="sp-message-list" ref={scroller} onScroll={onScroll} role="region" aria-label={t('list.label')} tabIndex={0}>
      {hasMore && onLoadOlder && (
        <button type="button" className="sp-load-older" onClick={onLoadOlder} disabled={loadingOlder}>
          {loadingOlder ? t('list.loadingOlder') : t('list.loadOlder')}
        </button>
      )}
      {!hasMore && messages.length > 0 && <div className="sp-conversation-start">{t('list.start')}</div>}
      {rows}
      {messages.length === 0 && (
        <div className="sp-no-messages">
          <p>{t('list.empty')}</p>
        </div>
      )}
      {footer}
      <div className="sp-visually-hidden" aria-live="polite" aria-atomic="true" data-testid="live-region">
        {announceText}
      </div>
    </div>
  );
}

export default MessageList;
