import type { Person } from '../../client/types';
import { useI18n } from '../../i18n';

/** "Ana está escribiendo...", in a live region so screen readers hear it. */
export function TypingIndicator({ people }: { people: readonly Person[] }) {
  const { t } = useI18n();
  let text = '';
  if (people.length === 1) text = t('typing.one', { a: people[0].nombre });
  else if (people.length === 2) text = t('typing.two', { a: people[0].nombre, b: people[1].nombre });
  else if (people.length > 2) text = t('typing.many');
  return (
    <div className="sp-typing" aria-live="polite" data-testid="typing">
      {text && (
        <>
          <span className="sp-typing-dots" aria-hidden="true">
            <span />
            <span />
            <span />
          </span>
          {text}
        </>
      )}
    </div>
  );
}

export default TypingIndicator;
