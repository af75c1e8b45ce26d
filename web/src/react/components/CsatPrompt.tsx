import { useId, useState, type FormEvent } from 'react';
import { useI18n, type MessageKey } from '../../i18n';

export interface CsatPromptProps {
  /** Sends the rating; a rejection is shown and the form stays. */
  onRate: (puntuacion: number, comentario?: string) => Promise<void>;
}

const SCORES = [1, 2, 3, 4, 5] as const;

/**
 * Asks the customer to rate the conversation, 1 to 5, with an optional
 * comment. Radio buttons in a fieldset: each score is named in words for
 * screen readers, and arrow keys move between them.
 */
export function CsatPrompt({ onRate }: CsatPromptProps) {
  const { t } = useI18n();
  const [score, setScore] = useState<number | null>(null);
  const [comment, setComment] = useState('');
  const [sending, setSending] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const id = useId();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (score === null || sending) return;
    setSending(true);
    setProblem(null);
    try {
      await onRate(score, comment);
    } catch (error) {
      setProblem(t('csat.failed', { detalle: error instanceof Error ? error.message : String(error) }));
    } finally {
      setSending(false);
    }
  };

  return (
    <form className="sp-csat" onSubmit={submit} data-testid="csat">
      <fieldset>
        <legend>{t('csat.question')}</legend>
        <div className="sp-csat-scores">
          {SCORES.map((n) => (
            <label key={n} className="sp-csat-score">
              <input type="radio" name={`${id}-score`} value={n} checked={score === n} onChange={() => setScore(n)} />
              <span aria-hidden="true">{n}</span>
              <span className="sp-visually-hidden">{`${n}: ${t(`csat.score.${n}` as MessageKey)}`}</span>
            </label>
          ))}
        </div>
        <div className="sp-csat-ends" aria-hidden="true">
          <span>{t('csat.score.1')}</span>
          <span>{t('csat.score.5')}</span>
        </div>
      </fieldset>
      <label htmlFor={`${id}-comment`} className="sp-csat-comment-label">
        {t('csat.comment')}
      </label>
      <textarea id={`${id}-comment`} className="sp-textarea" value={comment} maxLength={2000} rows={2} onChange={(e) => setComment(e.target.value)} />
      {problem && (
        <p role="alert" className="sp-csat-problem">
          {problem}
        </p>
      )}
      <button type="submit" className="sp-button" disabled={score === null || sending}>
        {sending ? t('csat.sending') : t('csat.send')}
      </button>
    </form>
  );
}
