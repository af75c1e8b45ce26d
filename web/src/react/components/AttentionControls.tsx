import { Bell, Volume2, VolumeX } from 'lucide-react';
import { useI18n } from '../../i18n';

export interface AttentionControlsProps {
  /** Whether the chime plays. */
  sound: boolean;
  onSound: (on: boolean) => void;
  /** Desktop notifications may still be asked for (nobody answered the browser's question yet). */
  canAsk?: boolean;
  /** Asks, from this click (browsers ask only from a gesture). */
  onAsk?: () => void;
}

/** The sound switch (remembered) and, until answered, the offer of desktop notifications. */
export function AttentionControls({ sound, onSound, canAsk = false, onAsk }: AttentionControlsProps) {
  const { t } = useI18n();
  return (
    <span className="sp-attention">
      <button type="button" className="sp-icon-button" aria-pressed={sound} aria-label={t('attention.sound')} title={t('attention.sound')} onClick={() => onSound(!sound)}>
        {sound ? <Volume2 aria-hidden="true" size={18} /> : <VolumeX aria-hidden="true" size={18} />}
      </button>
      {canAsk && onAsk && (
        <button type="button" className="sp-icon-button" aria-label={t('attention.notify')} title={t('attention.notify')} onClick={onAsk}>
          <Bell aria-hidden="true" size={18} />
        </button>
      )}
    </span>
  );
}
