import { RefreshCw } from 'lucide-react';
import type { ConnectionStatus as Status } from '../../client/types';
import { useI18n } from '../../i18n';


export interface ConnectionStatusProps {
  status: Status;
  onReconnect?: () => void;
  /** Messages waiting to be sent (shown while offline). */
  pending?: number;
}

/** Connection state, announced politely to screen readers, with a reconnect button. */
export function ConnectionStatus({ status, onReconnect, pending = 0 }: ConnectionStatusProps) {
  const { t } = useI18n();
  return (
    <div className={`sp-connection-status sp-${status}`} role="status" aria-live="polite" data-status={status}>
      {/* A dot coloured by state (styles.css): no emoji font needed. */}
      <span className="sp-status-icon" aria-hidden="true" />
      <span className="sp-status-text">{t(`status.${status}` as const)}</span>
      {pending > 0 && status !== 'connected' && <span className="sp-status-pending">{t('status.pending', { n: pending })}</span>}
      {(status === 'disconnected' || status === 'error' || status === 'reconnecting') && onReconnect && (
        <button type="button" className="sp-icon-button sp-reconnect" onClick={onReconnect} aria-label={t('status.reconnect')} title={t('status.reconnect')}>
          <RefreshCw aria-hidden="true" size={16} />
        </button>
      )}
    </div>
  );
}

export default ConnectionStatus;
