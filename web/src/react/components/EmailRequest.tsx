import { useId, useState, type FormEvent } from 'react';
import { useI18n } from '../../i18n';

export interface EmailRequestProps {
  /** What the form is for: `transcript` (after the chat) or `away` (team out, no address yet). */
  purpose: 'transcript' | 'away';
  /** The address known, if any (offered pre-filled). */
  known: string | null;
  /** Sends it; resolves to the address used. A rejection is shown and the form stays. */
  onSubmit: (email: string) => Promise<string>;
}

/**
 * Asks for an email address: to send the conversation's transcript (behind
 * a button, as it is optional), or, when the team is away, where to tell
 * the customer about the answer. Says where it went once done.
 */
export function EmailRequest({ purpose, known, onSubmit }: EmailRequestProps) {
  const { t } = useI18n();
  const [open, setOpen] = useState(purpose === 'away');
  const [email, setEmail] = useState(known ?? '');
  const [sending, setSending] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const id = useId();

  if (done) {
    return (
      <p className="sp-email-done" role="status" data-testid={`email-${purpose}-done`}>
        {t(purpose === 'transcript' ? 'email.transcriptSent' : 'email.awaySaved', { email: done })}
      </p>
    );
  }
  if (!open) {
    return (
      <button type="button" className="sp-button sp-secondary sp-email-open" onClick={() => setOpen(true)}>
        {t('email.transcriptAsk')}
      </button>
    );
  }

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (sending || !email.trim()) return;
    setSending(true);
    setProblem(null);
    try {
      setDone(await onSubmit(email.trim()));
    } catch (error) {
      setProblem(t('email.failed', { detalle: error instanceof Error ? error.message : String(error) }));
    } finally {
      setSending(false);
    }
  };

  return (
    <form className="sp-email-form" onSubmit={submit} data-testid={`email-${purpose}`}>
      <label htmlFor={`${id}-email`}>{t(purpose === 'transcript' ? 'email.transcriptLabel' : 'email.awayLabel')}</label>
      <div className="sp-email-row">
        <input
          id={`${id}-email`}
          type="email"
          autoComplete="email"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          aria-describedby={problem ? `${id}-problem` : undefined}
        />
        <button type="submit" className="sp-button" disabled={sending || !email.trim()}>
          {sending ? t('email.sending') : t(purpose === 'transcript' ? 'email.transcriptSend' : 'email.awaySend')}
        </button>
      </div>
      {problem && (
        <p id={`${id}-problem`} role="alert" className="sp-csat-problem">
          {problem}
        </p>
      )}
    </form>
  );
}
