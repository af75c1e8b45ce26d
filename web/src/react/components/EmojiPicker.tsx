import { useEffect, useRef, type KeyboardEvent } from 'react';
import { useI18n } from '../../i18n';

export const EMOJIS = ['😀', '😂', '😊', '😉', '😍', '🤔', '😅', '😢', '😡', '👍', '👎', '👏', '🙏', '🙌', '💪', '🎉', '❤️', '✅', '❌', '⚠️', '📎', '📄', '💡', '⏳'];

export interface EmojiPickerProps {
  onSelect: (emoji: string) => void;
  onClose: () => void;
}

/** A small emoji grid: arrow keys move, Enter picks, Escape closes. */
export function EmojiPicker({ onSelect, onClose }: EmojiPickerProps) {
  const { t } = useI18n();
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.querySelector<HTMLButtonElement>('button')?.focus();
  }, []);
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const buttons = Array.from(ref.current?.querySelectorAll<HTMLButtonElement>('button') ?? []);
    const index = buttons.indexOf(document.activeElement as HTMLButtonElement);
    const cols = 6;
    const move = (to: number) => {
      e.preventDefault();
      buttons[(to + buttons.length) % buttons.length]?.focus();
    };
    if (e.key === 'Escape') {
      e.preventDefault();
      onClose();
    } else if (e.key === 'ArrowRight') move(index + 1);
    else if (e.key === 'ArrowLeft') move(index - 1);
    else if (e.key === 'ArrowDown') move(index + cols);
    else if (e.key === 'ArrowUp') move(index - cols);
  };
  return (
    <div className="sp-emoji-picker" role="dialog" aria-label={t('input.emojiPicker')} ref={ref} onKeyDown={onKeyDown}>
      <div className="sp-emoji-grid" role="group">
        {EMOJIS.map((emoji) => (
          <button type="button" key={emoji} className="sp-emoji" onClick={() => onSelect(emoji)} aria-label={emoji}>
            {emoji}
          </button>
        ))}
      </div>
    </div>
  );
}

export default EmojiPicker;
