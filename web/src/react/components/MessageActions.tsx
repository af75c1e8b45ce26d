import { useState } from 'react';
import type { Message as ChatMessage, MessageVersion } from '../../client/types';
import { dateLocale, useI18n } from '../../i18n';
import { changeRefusal } from './Message';

/**
 * What can be done to a message after it was sent, as the chat offers it.
 * Each is optional: without it, its button is not shown.
 */
export interface MessageActionHandlers {
  /** Answer it: the next message quotes it. */
  reply?: (message: ChatMessage) => void;
  /** A new text; rejects with the server's reason. */
  edit?: (message: ChatMessage, text: string) => Promise<void>;
  /** Delete it (after a confirmation); rejects with the server's reason. */
  remove?: (message: ChatMessage) => Promise<void>;
  /** Its earlier texts (supervisors). */
  versions?: (message: ChatMessage) => Promise<readonly MessageVersion[]>;
  /** Whether this user may edit / delete this message now (the server decides in the end). */
  canEdit?: (message: ChatMessage) => boolean;
  canDelete?: (message: ChatMessage) => boolean;
}

interface Props {
  message: ChatMessage;
  handlers: MessageActionHandlers;
  onStartEdit: () => void;
}

/**
 * The small toolbar of a sent message: reply, edit, delete (asks first) and,
 * for supervisors, the earlier texts of a changed message. Buttons with
 * visible text, reachable by keyboard; shown on hover and on focus.
 */
export function MessageActions({ message, handlers, onStartEdit }: Props) {
  const { t, locale } = useI18n();
  const [confirming, setConfirming] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [versions, setVersions] = useState<readonly MessageVersion[] | null>(null);
  const deleted = message.eliminado === true;
  const changed = deleted || message.editado === true;
  const mayEdit = !deleted && message.tipo === 'TEXTO' && handlers.edit && (handlers.canEdit?.(message) ?? false);
  const mayDelete = !deleted && handlers.remove && (handlers.canDelete?.(message) ?? false);
  const mayReply = !deleted && handlers.reply;
  const mayAudit = changed && handlers.versions;
  if (!mayEdit && !mayDelete && !mayReply && !mayAudit) return null;

  const remove = async () => {
    setConfirming(false);
    try {
      await handlers.remove!(message);
    } catch (error) {
      setProblem(changeRefusal(error, locale, t));
    }
  };
  const showVersions = async () => {
    try {
      setVersions(versions ? null : await handlers.versions!(message));
    } catch (error) {
      setProblem(changeRefusal(error, locale, t));
    }
  };

  return (
    <div className="sp-message-actions-wrap">
      {confirming ? (
        <div className="sp-confirm" role="group" aria-label={t('message.deleteConfirm')}>
          <span>{t('message.deleteConfirm')}</span>
          <button type="button" className="sp-danger" onClick={() => void remove()}>
            {t('message.deleteYes')}
          </button>
          <button type="button" onClick={() => setConfirming(false)} autoFocus>
            {t('message.cancel')}
          </button>
        </div>
      ) : (
        <div className="sp-message-actions" role="group" aria-label={t('message.actions')}>
          {mayReply && (
            <button type="button" onClick={() => handlers.reply!(message)}>
              {t('message.reply')}
            </button>
          )}
          {mayEdit && (
            <button type="button" onClick={onStartEdit}>
              {t('message.edit')}
            </button>
          )}
          {mayDelete && (
            <button type="button" onClick={() => setConfirming(true)}>
              {t('message.delete')}
            </button>
          )}
          {mayAudit && (
            <button type="button" aria-expanded={versions !== null} onClick={() => void showVersions()}>
              {t('message.versions')}
            </button>
          )}
        </div>
      )}
      {problem && (
        <p className="sp-message-error" role="alert">
          {problem}
        </p>
      )}
      {versions && (
        <ol className="sp-versions" aria-label={t('message.versions')}>
          {versions.map((v) => (
            <li key={v.rev}>
              <span className="sp-version-meta">
                {t(v.cambio === 'eliminado' ? 'message.versionDeleted' : 'message.versionEdited', {
                  autor: v.por.nombre,
                  fecha: new Date(v.en).toLocaleString(dateLocale(locale), { dateStyle: 'short', timeStyle: 'short' }),
                })}
              </span>
              <q>{v.contenido}</q>
            </li>
          ))}
          {versions.length === 0 && <li>{t('message.noVersions')}</li>}
        </ol>
      )}
    </div>
  );
}
