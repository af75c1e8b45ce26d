import { useState } from 'react';
import { ApiError } from '../../client/ChatSync';
import type { Message as ChatMessage } from '../../client/types';
import { dateLocale, useI18n, type Locale, type MessageKey, type Translate } from '../../i18n';
import { FileAttachment } from './FileAttachment';
import { Linkify } from './Linkify';
import { MessageActions, type MessageActionHandlers } from './MessageActions';

const STATE_ICONS: Record<string, string> = { ENVIANDO: '⏳', ENTREGADO: '✓', LEIDO: '✓✓', ERROR: '❌' };

export interface MessageProps {
  message: ChatMessage;
  showAuthor?: boolean;
  showTimestamp?: boolean;
  isOwn?: boolean;
  onRetry?: () => void;
  onDiscard?: () => void;
  fileUrl?: (url: string) => string;
  /** Reply, edit, delete, versions: offered on sent messages that are not the server's. */
  actions?: MessageActionHandlers;
  /** The message this one answers (`null`: one not loaded here). */
  quoted?: ChatMessage | null;
  /** Shows the quoted message (scrolls to it). */
  onShowQuoted?: (id: number) => void;
}

/** The first characters of a text, for quotes. */
export function excerpt(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** One message: author (when it starts a group), text as text, files, time and state. */
export function Message({ message, showAuthor = true, showTimestamp = true, isOwn = false, onRetry, onDiscard, fileUrl, actions, quoted, onShowQuoted }: MessageProps) {
  const { t, locale } = useI18n();
  const [full, setFull] = useState(false);
  const [editing, setEditing] = useState<string | null>(null);
  const [editProblem, setEditProblem] = useState<string | null>(null);
  const deleted = message.eliminado === true;
  const system = message.tipo === 'SISTEMA' || message.tipo === 'TRANSFERENCIA';
  const kind = system
    ? message.tipo === 'TRANSFERENCIA'
      ? 'sp-transfer-message'
      : 'sp-system-message'
    : isOwn
      ? 'sp-own-message'
      : 'sp-other-message';
  const date = new Date(message.timestamp);
  const time = full
    ? date.toLocaleString(dateLocale(locale), { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })
    : date.toLocaleTimeString(dateLocale(locale), { hour: '2-digit', minute: '2-digit' });
  const autor = message.autor;
  return (
    <div
      className={`sp-message ${kind}${message.interno ? ' sp-internal' : ''}${showAuthor ? ' sp-group-start' : ''}`}
      data-testid="message"
      data-estado={message.estado}
      data-seq={message.seq ?? ''}
      data-client-id={message.client_id ?? ''}
    >
      {showAuthor && !system && (
        <div className="sp-message-author">
          <div className="sp-avatar" aria-hidden="true">
            {autor.avatar && /^https?:\/\//.test(autor.avatar) ? <img src={autor.avatar} alt="" /> : (autor.nombre || '?').charAt(0).toUpperCase()}
          </div>
          <span className="sp-author-name">
            {isOwn ? t('message.you') : autor.nombre}
            {autor.tipo === 'AGENTE' && <span className="sp-badge">{t('message.agent')}</span>}
            {autor.tipo === 'SUPERVISOR' && <span className="sp-badge">{t('message.supervisor')}</span>}
          </span>
        </div>
      )}
      <div className="sp-message-content">
        <div className="sp-bubble">
          {message.interno && <div className="sp-note-label">🔒 {t('message.note')}</div>}
          {message.replyTo != null && quoted !== undefined && !deleted && (
            <button type="button" className="sp-quote" disabled={!quoted} onClick={() => quoted?.id !== undefined && onShowQuoted?.(quoted.id)}>
              {quoted ? (
                <>
                  <span className="sp-quote-author">{quoted.autor.nombre}</span>
                  <span className="sp-quote-text">{quoted.eliminado ? t('message.deleted') : excerpt(quoted.contenido)}</span>
                </>
              ) : (
                <span className="sp-quote-text">{t('message.quoteOlder')}</span>
              )}
            </button>
          )}
          {deleted ? (
            <div className="sp-message-text sp-deleted" data-testid="message-deleted">
              {t('message.deleted')}
            </div>
          ) : editing !== null ? (
            <form
              className="sp-edit"
              onSubmit={(event) => {
                event.preventDefault();
                const text = editing.trim();
                if (!text || !actions?.edit) return;
                actions.edit(message, text).then(
                  () => {
                    setEditing(null);
                    setEditProblem(null);
                  },
                  (error: unknown) => setEditProblem(changeRefusal(error, locale, t)),
                );
              }}
            >
              <textarea
                aria-label={t('message.editLabel')}
                value={editing}
                autoFocus
                rows={Math.min(6, editing.split('\n').length + 1)}
                onChange={(event) => setEditing(event.target.value)}
                onKeyDown={(event) => {
                  if (event.key === 'Escape') setEditing(null);
                  if (event.key === 'Enter' && !event.shiftKey) {
                    event.preventDefault();
                    event.currentTarget.form?.requestSubmit();
                  }
                }}
              />
              <div className="sp-edit-buttons">
                <button type="submit">{t('message.save')}</button>
                <button type="button" onClick={() => setEditing(null)}>
                  {t('message.cancel')}
                </button>
              </div>
              {editProblem && (
                <p className="sp-message-error" role="alert">
                  {editProblem}
                </p>
              )}
            </form>
          ) : (
            message.contenido &&
            !(message.tipo === 'ARCHIVO' && message.archivos?.some((f) => f.nombre === message.contenido)) && (
              <div className="sp-message-text">
                <Linkify text={message.contenido} />
              </div>
            )
          )}
          {message.archivos?.length > 0 && (
            <div className="sp-attachments">
              {message.archivos.map((file) => (
                <FileAttachment key={file.id} file={file} fileUrl={fileUrl} />
              ))}
            </div>
          )}
          <div className="sp-message-meta">
            {showTimestamp && (
              <button type="button" className="sp-timestamp" onClick={() => setFull(!full)} title={t('message.fullDate')}>
                <time dateTime={message.timestamp}>{time}</time>
              </button>
            )}
            {isOwn && !system && (
              <span className="sp-message-status" data-testid="message-status" role="img" aria-label={t(`message.state.${message.estado}` as const)} title={t(`message.state.${message.estado}` as const)}>
                {STATE_ICONS[message.estado] ?? ''}
              </span>
            )}
            {message.editado && !deleted && (
              <span className="sp-edited" title={t('message.edited')}>
                {t('message.editedShort')}
              </span>
            )}
          </div>
        </div>
        {actions && !system && message.id !== undefined && editing === null && (
          <MessageActions
            message={message}
            handlers={actions}
            onStartEdit={() => {
              setEditProblem(null);
              setEditing(message.contenido);
            }}
          />
        )}
        {message.estado === 'ERROR' && (
          <div className="sp-message-error" role="alert">
            {message.error && <span>{refusalText(message, locale, t)}</span>}
            {onRetry && (
              <button type="button" className="sp-retry" onClick={onRetry} title={t('message.retryTitle')}>
                🔄 {t('message.retry')}
              </button>
            )}
            {onDiscard && (
              <button type="button" className="sp-discard" onClick={onDiscard}>
                {t('message.discard')}
              </button>
            )}
          </div>
        )}
      </div>
    </div>
  );
}

export default Message;

/** Why an edit or a deletion was refused, in the reader's language (see `refusalText`). */
export function changeRefusal(error: unknown, locale: Locale, t: Translate): string {
  const text = error instanceof Error ? error.message : String(error);
  const code = error instanceof ApiError ? error.codigo : undefined;
  return refusalText({ error: text, errorCode: code }, locale, t);
}

/**
 * Why a message was refused, in the reader's language: the server's own
 * (Spanish, and the most specific) text in Spanish; elsewhere the text for
 * its `codigo` when the language has one, else the server's.
 */
export function refusalText(message: Pick<ChatMessage, 'error' | 'errorCode'>, locale: Locale, t: Translate): string {
  const key = `refusal.${message.errorCode}` as MessageKey;
  if (locale === 'es' || locale.startsWith('es-') || !message.errorCode) return message.error ?? '';
  const text = t(key);
  return text === key ? (message.error ?? '') : text;
}
