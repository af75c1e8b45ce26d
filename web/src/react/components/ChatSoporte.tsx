import { ChevronDown, ChevronUp, X } from 'lucide-react';
import { useCallback, useEffect, useMemo, useState, type DragEvent, type ReactNode } from 'react';
import { isFinalError, ratingRequested, type ChatError } from '../../client/chatState';
import type { QueueStatus, Ticket } from '../../client/types';
import { checkFile, DEFAULT_ALLOWED_TYPES, DEFAULT_MAX_FILE_SIZE, OfflineError } from '../../client/uploadChecks';
import { I18nProvider, useI18n, type Locale, type MessageOverrides, type Translate } from '../../i18n';
import { useChatSoporte, type ChatSoporteState, type UseChatConfig } from '../useChatSoporte';
import { useTitleCount } from '../useTitleCount';
import { unseenCount } from '../../client/messages';
import { ConnectionStatus } from './ConnectionStatus';
import { CsatPrompt } from './CsatPrompt';
import { CustomerTicketActions } from './CustomerTicketActions';
import { EmailRequest } from './EmailRequest';
import { TeamAvailability, waitText } from './TeamAvailability';
import { formatSize } from './FileAttachment';
import { MessageInput, type Shortcut } from './MessageInput';
import { MessageList } from './MessageList';
import { excerpt } from './Message';
import type { MessageActionHandlers } from './MessageActions';
import { TypingIndicator } from './TypingIndicator';

export interface ChatViewProps {
  chat: ChatSoporteState;
  ticketId: number;
  title?: string;
  minimizable?: boolean;
  initialMinimized?: boolean;
  onClose?: () => void;
  className?: string;
  maxFileSize?: number;
  allowedFileTypes?: string[];
  /** Staff only: show the "internal note" switch. */
  allowInternalNotes?: boolean;
  /** Extra content under the header (e.g. agent actions). */
  toolbar?: ReactNode;
  /** Extra controls in the composer (e.g. canned responses). */
  composerExtra?: ReactNode;
  /** Told whenever the ticket changes (state, agent), e.g. to refresh a list. */
  onTicketChange?: (ticket: Ticket) => void;
  /** Put the count of unseen messages in the page's title ("(2) …"). */
  titleCount?: boolean;
  /** Colours: the system's preference (default), or always light or dark. */
  theme?: 'auto' | 'light' | 'dark';
  /** Canned responses the composer offers after `/` (staff). */
  shortcuts?: readonly Shortcut[];
  /** Extra controls in the header (e.g. the sound switch). */
  headerExtra?: ReactNode;
  /** Staff: whether the composer writes internal notes, when the host controls it (a shortcut). */
  noteMode?: boolean;
  onNoteModeChange?: (on: boolean) => void;
}

/** The sentence shown for each kind of error. */
export function describeError(error: ChatError, t: Translate): string {
  switch (error.kind) {
    case 'transferred':
      return t('error.transferred');
    case 'ticketGone':
      return t('error.ticketGone');
    case 'closed':
      return t('error.closed', { code: error.code, detalle: error.reason });
    case 'refused':
      return t('error.refused', { detalle: error.detalle });
    case 'reconnectFailed':
      return t('error.reconnectFailed');
    case 'history':
      return t('error.history', { detalle: error.detalle });
  }
}

/** What a waiting customer reads: their place and the typical wait, when known. */
export function queueText(queue: QueueStatus | null, t: Translate): string {
  const parts = [t('queue.waiting')];
  const place = queue?.posicion;
  if (place === 1) parts.push(t('queue.next'));
  else if (place === 2) parts.push(t('queue.oneAhead'));
  else if (place) parts.push(t('queue.ahead', { n: place - 1 }));
  if (queue?.espera_tipica_segundos != null) parts.push(t('queue.typical', { tiempo: waitText(queue.espera_tipica_segundos, t) }));
  return parts.join(' ');
}

/** The chat window for a hook state you hold (see `ChatSoporte` for the all-in-one). */
export function ChatView({
  chat,
  ticketId,
  title,
  minimizable = true,
  initialMinimized = false,
  onClose,
  className = '',
  maxFileSize = DEFAULT_MAX_FILE_SIZE,
  allowedFileTypes = DEFAULT_ALLOWED_TYPES,
  allowInternalNotes = false,
  toolbar,
  composerExtra,
  onTicketChange,
  titleCount = false,
  theme = 'auto',
  shortcuts,
  headerExtra,
  noteMode,
  onNoteModeChange,
}: ChatViewProps) {
  const { t } = useI18n();
  const [minimized, setMinimized] = useState(initialMinimized);
  const [notice, setNotice] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const [ownNoteMode, setOwnNoteMode] = useState(false);
  const internal = noteMode ?? ownNoteMode;
  const setInternal = (on: boolean) => (onNoteModeChange ? onNoteModeChange(on) : setOwnNoteMode(on));
  const [savedAway, setSavedAway] = useState(false);
  const closed = chat.ticket?.estado === 'CERRADO';
  const customer = chat.currentUser?.tipo === 'CLIENTE';
  const rating = ratingRequested(chat);
  // Seen needs the list on screen: minimized, others' messages add up here.
  const unseen = unseenCount(chat.messages, chat.currentUser?.id);
  useTitleCount(unseen, titleCount);
  useEffect(() => {
    if (chat.ticket) onTicketChange?.(chat.ticket);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [chat.ticket]);

  const uploadFiles = useCallback(
    async (files: File[]) => {
      const problems: string[] = [];
      const good: File[] = [];
      for (const file of files) {
        const problem = checkFile(file, maxFileSize, allowedFileTypes);
        if (!problem) good.push(file);
        else if (problem.reason === 'tooBig') problems.push(t('upload.tooBig', { nombre: file.name, max: formatSize(maxFileSize) }));
        else if (problem.reason === 'empty') problems.push(t('upload.empty', { nombre: file.name }));
        else problems.push(t('upload.badType', { nombre: file.name, tipos: allowedFileTypes.join(', ') }));
      }
      setNotice(problems.length ? problems.join(' ') : null);
      for (const file of good) {
        try {
          await chat.uploadFile(file);
        } catch (error) {
          if (error instanceof OfflineError) setNotice(t('upload.offline'));
          else setNotice(t('upload.failed', { nombre: file.name, error: error instanceof Error ? error.message : String(error) }));
        }
      }
    },
    [chat, maxFileSize, allowedFileTypes, t],
  );

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const files = Array.from(e.dataTransfer?.files ?? []);
    if (files.length) void uploadFiles(files);
  };

  const errorText = chat.error ? describeError(chat.error, t) : null;

  const send = (text: string) => {
    chat.sendMessage(text, internal ? { interno: true } : {});
    chat.setDraft('');
  };

  const me = chat.currentUser;
  const editWindow = chat.limits?.edicion_ms;
  const actions = useMemo<MessageActionHandlers>(() => {
    const staff = me?.tipo === 'AGENTE' || me?.tipo === 'SUPERVISOR';
    const own = (m: { autor: { id: number | null } }) => me?.id != null && m.autor.id === me.id;
    return {
      reply: closed ? undefined : (m) => m.id !== undefined && chat.setReplyTo(m.id),
      edit: (m, text) => chat.editMessage(m.id!, text),
      remove: (m) => chat.deleteMessage(m.id!),
      versions: me?.tipo === 'SUPERVISOR' ? (m) => chat.messageVersions(m.id!).then((h) => h.versiones) : undefined,
      // The server judges in the end; this only hides what it would refuse.
      canEdit: (m) => own(m) && !closed && editWindow !== 0 && (editWindow === undefined || Date.now() - new Date(m.timestamp).getTime() < editWindow),
      canDelete: (m) => (own(m) || staff) && !(closed && !staff),
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [me?.id, me?.tipo, closed, editWindow, chat.setReplyTo, chat.editMessage, chat.deleteMessage, chat.messageVersions]);
  const replyingTo = chat.replyTo != null ? chat.messages.find((m) => m.id === chat.replyTo) : undefined;

  return (
    <section
      className={`sp-chat sp-theme-${theme} ${minimized ? 'sp-minimized' : ''} ${dragging ? 'sp-dragging' : ''} ${className}`}
      aria-label={title ?? t('chat.title')}
      data-testid="chat"
      onDragOver={(e) => {
        if (closed || minimized) return;
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={(e) => {
        if (e.currentTarget === e.target) setDragging(false);
      }}
      onDrop={onDrop}
    >
      <header className="sp-chat-header">
        <div className="sp-chat-title">
          <h2>{title ?? t('chat.title')}</h2>
          <span className="sp-ticket-id">
            {t('chat.ticket', { id: ticketId })}
            {chat.ticket && ` · ${chat.ticket.asunto}`}
          </span>
        </div>
        <div className="sp-chat-controls">
          <ConnectionStatus status={chat.connectionStatus} onReconnect={chat.reconnect} pending={chat.pendingCount} />
          {headerExtra}
          {minimized && unseen > 0 && (
            <span className="sp-unseen-badge" data-testid="unseen" aria-hidden="true">
              {unseen}
            </span>
          )}
          {minimizable && (
            <button
              type="button"
              className="sp-icon-button"
              onClick={() => setMinimized(!minimized)}
              aria-label={minimized ? (unseen > 0 ? t('chat.expandUnseen', { n: unseen }) : t('chat.expand')) : t('chat.minimize')}
              aria-expanded={!minimized}
              title={minimized ? t('chat.expand') : t('chat.minimize')}
            >
              {minimized ? <ChevronUp aria-hidden="true" size={18} /> : <ChevronDown aria-hidden="true" size={18} />}
            </button>
          )}
          <span className="sp-visually-hidden" aria-live="polite">
            {minimized && unseen > 0 ? t('chat.unseen', { n: unseen }) : ''}
          </span>
          {onClose && (
            <button type="button" className="sp-icon-button" onClick={onClose} aria-label={t('chat.close')} title={t('chat.close')}>
              <X aria-hidden="true" size={18} />
            </button>
          )}
        </div>
      </header>
      {!minimized && (
        <div className="sp-chat-body">
          {toolbar}
          {customer && <TeamAvailability hours={chat.hours} />}
          {customer && chat.ticket?.estado === 'ABIERTO' && !chat.ticket.agente && chat.hours?.abierto !== false && (
            <p className="sp-availability" data-testid="queue" aria-live="polite">
              {queueText(chat.queue, t)}
            </p>
          )}
          {customer && chat.ticket && <CustomerTicketActions estado={chat.ticket.estado} onChange={chat.setTicketState} />}
          {customer && chat.hours?.abierto === false && chat.profile?.avisos_por_correo && (!chat.profile.email || savedAway) && !closed && (
            <EmailRequest
              purpose="away"
              known={null}
              onSubmit={async (email) => {
                // Kept on screen once the address is saved, to say where the answer will go.
                setSavedAway(true);
                await chat.saveEmail(email);
                return email;
              }}
            />
          )}
          {(errorText || notice) && (
            <div className="sp-error-banner" role="alert">
              <span>{notice ?? errorText}</span>
              <button
                type="button"
                className="sp-icon-button"
                aria-label={t('chat.dismissError')}
                onClick={() => {
                  setNotice(null);
                  chat.clearError();
                }}
              >
                <X aria-hidden="true" size={16} />
              </button>
            </div>
          )}
          {chat.participants.length > 0 && (
            <ul className="sp-participants" aria-label={t('chat.participants')}>
              {chat.participants.map((p) => (
                <li key={`${p.tipo}-${p.id}`} className="sp-participant">
                  <span className={`sp-presence ${p.online ? 'sp-on' : 'sp-off'}`} aria-hidden="true" />
                  <span>{p.nombre}</span>
                  <span className="sp-visually-hidden">{p.online ? t('chat.online') : t('chat.offline')}</span>
                </li>
              ))}
            </ul>
          )}
          <MessageList
            messages={chat.messages}
            currentUserId={chat.currentUser?.id}
            onRetryMessage={chat.retryMessage}
            onDiscardMessage={chat.discardMessage}
            onSeen={chat.markRead}
            onLoadOlder={chat.loadOlder}
            hasMore={chat.hasMore}
            loadingOlder={chat.loadingOlder}
            fileUrl={chat.fileUrl}
            footer={<TypingIndicator people={chat.typingPeople} />}
            actions={actions}
          />
          {chat.uploads.map((u) => (
            <div key={u.id} className="sp-upload-progress" data-testid="upload-progress">
              <label>
                {t('upload.progress', { nombre: u.fileName, n: u.progress })}
                <progress max={100} value={u.progress} />
              </label>
            </div>
          ))}
          {dragging && (
            <div className="sp-drop-overlay" aria-hidden="true">
              {t('chat.dropHere')}
            </div>
          )}
          {rating && <CsatPrompt onRate={chat.rate} />}
          {customer && chat.ticket?.csat && <p className="sp-csat-thanks">{t('csat.thanks', { n: chat.ticket.csat.puntuacion })}</p>}
          {customer && chat.profile?.avisos_por_correo && (chat.ticket?.estado === 'RESUELTO' || closed) && (
            <EmailRequest purpose="transcript" known={chat.profile.email} onSubmit={chat.requestTranscript} />
          )}
          {closed ? (
            <p className="sp-closed">{t('chat.closedTicket')}</p>
          ) : isFinalError(chat.error) && errorText ? (
            // Nothing typed here could be sent: say why instead of queueing it.
            <p className="sp-closed" data-testid="composer-stopped">
              {errorText}
            </p>
          ) : (
            <div className={internal ? 'sp-composer sp-composer-note' : 'sp-composer'}>
              {allowInternalNotes && (
                <div className="sp-composer-modes" role="group" aria-label={t('input.mode')}>
                  <button type="button" className="sp-mode" aria-pressed={!internal} onClick={() => setInternal(false)}>
                    {t('input.reply')}
                  </button>
                  <button type="button" className="sp-mode sp-mode-note" aria-pressed={internal} onClick={() => setInternal(true)}>
                    {t('input.note')}
                  </button>
                </div>
              )}
              {replyingTo && (
                <div className="sp-replying" data-testid="replying">
                  <span>
                    {t('message.replyingTo', { autor: replyingTo.autor.nombre })} <q>{excerpt(replyingTo.contenido)}</q>
                  </span>
                  <button type="button" className="sp-icon-button" aria-label={t('message.cancelReply')} title={t('message.cancelReply')} onClick={() => chat.setReplyTo(null)}>
                    <X aria-hidden="true" size={16} />
                  </button>
                </div>
              )}
              <MessageInput
                onSendMessage={send}
                onStartTyping={chat.startTyping}
                onStopTyping={chat.stopTyping}
                onFilesSelected={(files) => void uploadFiles(files)}
                value={chat.draft}
                onChange={chat.setDraft}
                maxLength={chat.limits?.max_mensaje ?? 5000}
                accept={allowedFileTypes.map((e) => `.${e}`).join(',')}
                placeholder={!chat.isConnected ? t('input.placeholderOffline') : internal ? t('input.placeholderNote') : undefined}
                extra={composerExtra}
                shortcuts={shortcuts}
              />
            </div>
          )}
        </div>
      )}
    </section>
  );
}

export interface ChatSoporteProps extends Omit<ChatViewProps, 'chat'>, UseChatConfig {
  /** Language of the texts: Spanish (default), English, or any with `messages`. */
  locale?: Locale;
  /** The host's own texts, replacing or adding to the built-in ones. */
  messages?: MessageOverrides;
}

/** The seed's `ChatSoporte`: the hook and the window in one component. */
export function ChatSoporte({ locale = 'es', messages, ticketId, ...props }: ChatSoporteProps) {
  const inner = <ChatSoporteInner ticketId={ticketId} {...props} />;
  return (
    <I18nProvider locale={locale} messages={messages}>
      {inner}
    </I18nProvider>
  );
}

function ChatSoporteInner(props: Omit<ChatSoporteProps, 'locale' | 'messages'>) {
  const { t } = useI18n();
  const { ticketId, token, getToken, baseUrl, cache, storage, maxFileSize, allowedFileTypes, pageSize, client, fetchImpl, ...view } = props;
  const chat = useChatSoporte(ticketId || null, { token, getToken, baseUrl, cache, storage, maxFileSize, allowedFileTypes, pageSize, client, fetchImpl });
  if (!ticketId) {
    return (
      <div className="sp-chat-error">
        <p>{t('chat.noTicket')}</p>
      </div>
    );
  }
  return <ChatView chat={chat} ticketId={ticketId} maxFileSize={maxFileSize} allowedFileTypes={allowedFileTypes} {...view} />;
}

export default ChatSoporte;
