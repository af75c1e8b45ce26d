import { Paperclip, SendHorizontal, Smile } from 'lucide-react';
import { useCallback, useEffect, useId, useRef, useState, type ChangeEvent, type FormEvent, type KeyboardEvent, type ReactNode } from 'react';
import { useI18n } from '../../i18n';
import { EmojiPicker } from './EmojiPicker';

export interface MessageInputProps {
  onSendMessage: (text: string) => void;
  onStartTyping?: () => void;
  onStopTyping?: () => void;
  /** Files chosen with the attach button. */
  onFilesSelected?: (files: File[]) => void;
  disabled?: boolean;
  placeholder?: string;
  maxLength?: number;
  /** Controlled value (a draft kept per ticket); uncontrolled when absent. */
  value?: string;
  onChange?: (value: string) => void;
  /** `accept` for the file picker, e.g. ".jpg,.png,.pdf". */
  accept?: string;
  /** Extra controls before the send button (e.g. an internal-note switch). */
  extra?: ReactNode;
  /** Canned responses: typing `/` and the start of a shortcut offers them. */
  shortcuts?: readonly Shortcut[];
}

/** A canned response as the composer offers it (`/atajo` → `texto`). */
export interface Shortcut {
  atajo: string;
  texto: string;
}

/**
 * The composer: Enter sends, Shift+Enter adds a line, a character counter near
 * the limit, an emoji picker, and a file button. Typing is reported with a 1 s
 * pause as the end.
 */
export function MessageInput({
  onSendMessage,
  onStartTyping,
  onStopTyping,
  onFilesSelected,
  disabled = false,
  placeholder,
  maxLength = 1000,
  value,
  onChange,
  accept,
  extra,
  shortcuts = [],
}: MessageInputProps) {
  const { t } = useI18n();
  const [local, setLocal] = useState('');
  const message = value ?? local;
  const setMessage = useCallback((v: string) => (onChange ? onChange(v) : setLocal(v)), [onChange]);
  const [showEmoji, setShowEmoji] = useState(false);
  const typing = useRef(false);
  const typingTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const emojiButton = useRef<HTMLButtonElement>(null);
  const hintId = useId();
  const counterId = useId();
  const listId = useId();
  // "/sal": the shortcuts starting with "sal", until Escape or a space.
  const query = /^\/(\S*)$/.exec(message)?.[1];
  const matches = query === undefined ? [] : shortcuts.filter((s) => s.atajo.toLowerCase().startsWith(query.toLowerCase())).slice(0, 8);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState<string | null>(null);
  const suggesting = matches.length > 0 && dismissed !== message;
  useEffect(() => setActive(0), [query]);
  const insert = (shortcut: Shortcut) => {
    setMessage(shortcut.texto.slice(0, maxLength));
    inputRef.current?.focus();
  };

  const endTyping = useCallback(() => {
    if (typingTimer.current) clearTimeout(typingTimer.current);
    typingTimer.current = null;
    if (typing.current) {
      typing.current = false;
      onStopTyping?.();
    }
  }, [onStopTyping]);

  useEffect(() => () => endTyping(), [endTyping]);

  const resize = () => {
    const el = inputRef.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 160)}px`;
  };
  useEffect(resize, [message]);

  const onInput = (e: ChangeEvent<HTMLTextAreaElement>) => {
    const next = e.target.value.slice(0, maxLength);
    setMessage(next);
    if (next.trim()) {
      if (!typing.current) {
        typing.current = true;
        onStartTyping?.();
      }
      if (typingTimer.current) clearTimeout(typingTimer.current);
      typingTimer.current = setTimeout(endTyping, 1000);
    } else {
      endTyping();
    }
  };

  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    const text = message.trim();
    if (!text || disabled) return;
    onSendMessage(text);
    setMessage('');
    endTyping();
    inputRef.current?.focus();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (suggesting) {
      const move = { ArrowDown: 1, ArrowUp: -1 }[e.key as 'ArrowDown' | 'ArrowUp'];
      if (move) {
        e.preventDefault();
        setActive((i) => (i + move + matches.length) % matches.length);
        return;
      }
      if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
        e.preventDefault();
        insert(matches[Math.min(active, matches.length - 1)]);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setDismissed(message);
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      submit();
    }
  };

  const addEmoji = (emoji: string) => {
    const el = inputRef.current;
    const start = el?.selectionStart ?? message.length;
    const end = el?.selectionEnd ?? message.length;
    const next = (message.slice(0, start) + emoji + message.slice(end)).slice(0, maxLength);
    setMessage(next);
    setShowEmoji(false);
    requestAnimationFrame(() => {
      el?.focus();
      const at = start + emoji.length;
      el?.setSelectionRange(at, at);
    });
  };

  const nearLimit = message.length > maxLength * 0.8;

  return (
    <div className="sp-message-input">
      {suggesting && (
        <ul id={listId} role="listbox" aria-label={t('input.shortcuts')} className="sp-shortcuts">
          {matches.map((s, i) => (
            <li
              key={s.atajo}
              id={`${listId}-${i}`}
              role="option"
              aria-selected={i === active}
              className="sp-shortcut"
              onMouseDown={(e) => {
                e.preventDefault();
                insert(s);
              }}
            >
              <strong>/{s.atajo}</strong> <span>{s.texto}</span>
            </li>
          ))}
        </ul>
      )}
      {showEmoji && (
        <div className="sp-emoji-container">
          <EmojiPicker
            onSelect={addEmoji}
            onClose={() => {
              setShowEmoji(false);
              emojiButton.current?.focus();
            }}
          />
        </div>
      )}
      <form className="sp-input-form" onSubmit={submit}>
        {onFilesSelected && (
          <>
            <button type="button" className="sp-icon-button sp-attach" onClick={() => fileRef.current?.click()} disabled={disabled} aria-label={t('input.attach')} title={t('input.attach')}>
              <Paperclip aria-hidden="true" size={18} />
            </button>
            <input
              ref={fileRef}
              type="file"
              multiple
              hidden
              accept={accept}
              data-testid="file-input"
              onChange={(e) => {
                const files = Array.from(e.target.files ?? []);
                e.target.value = '';
                if (files.length) onFilesSelected(files);
              }}
            />
          </>
        )}
        <label className="sp-visually-hidden" htmlFor={`${hintId}-input`}>
          {t('input.label')}
        </label>
        <textarea
          id={`${hintId}-input`}
          ref={inputRef}
          className="sp-textarea"
          value={message}
          onChange={onInput}
          onKeyDown={onKeyDown}
          onBlur={endTyping}
          aria-autocomplete={shortcuts.length ? 'list' : undefined}
          aria-controls={suggesting ? listId : undefined}
          aria-activedescendant={suggesting ? `${listId}-${active}` : undefined}
          placeholder={placeholder ?? t('input.placeholder')}
          rows={1}
          maxLength={maxLength}
          aria-describedby={`${hintId} ${nearLimit ? counterId : ''}`.trim()}
        />
        <span id={hintId} className="sp-visually-hidden">
          {t('input.hint')}
        </span>
        {nearLimit && (
          <div id={counterId} className={`sp-char-count${message.length >= maxLength ? ' sp-limit' : ''}`} aria-live="polite" aria-label={t('input.counter', { n: message.length, max: maxLength })}>
            {message.length}/{maxLength}
          </div>
        )}
        {extra}
        <button
          type="button"
          ref={emojiButton}
          className="sp-icon-button sp-emoji-button"
          onClick={() => setShowEmoji(!showEmoji)}
          aria-label={t('input.emoji')}
          aria-expanded={showEmoji}
          title={t('input.emoji')}
        >
          <Smile aria-hidden="true" size={18} />
        </button>
        <button type="submit" className="sp-icon-button sp-send" disabled={disabled || !message.trim()} aria-label={t('input.send')} title={t('input.send')}>
          <SendHorizontal aria-hidden="true" size={20} />
        </button>
      </form>
    </div>
  );
}

export default MessageInput;
