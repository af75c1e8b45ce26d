import { useState } from 'react';
import type { TicketState } from '../../client/types';
import { useI18n } from '../../i18n';

export interface CustomerTicketActionsProps {
  estado: TicketState;
  onChange: (estado: TicketState) => Promise<void>;
}

/**
 * What a customer may do to their own ticket: say it is solved, or end the
 * conversation (asked to confirm: a closed ticket takes no more messages).
 */
export function CustomerTicketActions({ estado, onChange }: CustomerTicketActionsProps) {
  const { t } = useI18n();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  if (estado === 'CERRADO') return null;

  const move = async (to: TicketState) => {
    setBusy(true);
    setProblem(null);
    try {
      await onChange(to);
      setConfirming(false);
    } catch (error) {
      setProblem(t('ticket.actionFailed', { detalle: error instanceof Error ? error.message : String(error) }));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="sp-ticket-actions" data-testid="customer-actions">
      {confirming ? (
        <div role="group" aria-label={t('ticket.close')} className="sp-confirm">
          <span>{t('ticket.closeConfirm')}</span>
          <button type="button" className="sp-button sp-danger" disabled={busy} onClick={() => void move('CERRADO')}>
            {t('ticket.closeYes')}
          </button>
          <button type="button" className="sp-button sp-secondary" disabled={busy} onClick={() => setConfirming(false)}>
            {t('ticket.cancel')}
          </button>
        </div>
      ) : (
        <>
          {estado !== 'RESUELTO' && (
            <button type="button" className="sp-button sp-secondary" disabled={busy} onClick={() => void move('RESUELTO')}>
              {t('ticket.resolve')}
            </button>
          )}
          <button type="button" className="sp-button sp-secondary" disabled={busy} onClick={() => setConfirming(true)}>
            {t('ticket.close')}
          </button>
        </>
      )}
      {problem && (
        <p role="alert" className="sp-csat-problem">
          {problem}
        </p>
      )}
    </div>
  );
}
