import { useEffect, useRef } from 'react';

/** What the console's keys do (shown behind `?`). */
export const SHORTCUTS: { keys: string; es: string; en: string }[] = [
  { keys: 'Ctrl+K', es: 'Buscar', en: 'Search' },
  { keys: 'Alt+↓ / Alt+↑', es: 'Conversación siguiente / anterior', en: 'Next / previous conversation' },
  { keys: 'Alt+R', es: 'Escribir en la conversación', en: 'Focus the composer' },
  { keys: 'Alt+N', es: 'Alternar nota interna / respuesta', en: 'Toggle internal note / reply' },
  { keys: '?', es: 'Ver estos atajos', en: 'Show these shortcuts' },
];

export interface ShortcutActions {
  move: (step: 1 | -1) => void;
  compose: () => void;
  toggleNote: () => void;
  help: () => void;
}

/** The console's keyboard shortcuts (Alt-chords work while typing; `?` only outside a field). */
export function useConsoleShortcuts(actions: ShortcutActions): void {
  const latest = useRef(actions);
  latest.current = actions;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const a = latest.current;
      const typing = e.target instanceof HTMLElement && (e.target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(e.target.tagName));
      if (e.altKey && !e.ctrlKey && !e.metaKey) {
        const done = { ArrowDown: () => a.move(1), ArrowUp: () => a.move(-1), r: a.compose, n: a.toggleNote }[e.code === 'KeyR' ? 'r' : e.code === 'KeyN' ? 'n' : e.key];
        if (done) {
          e.preventDefault();
          done();
        }
      } else if (e.key === '?' && !typing) {
        e.preventDefault();
        a.help();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
}

/** The list of shortcuts, as a modal dialog (Escape or the button closes it). */
export function ShortcutsHelp({ es, onClose }: { es: boolean; onClose: () => void }) {
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    close.current?.focus();
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [onClose]);
  return (
    <div className="demo-dialog-backdrop">
      <div role="dialog" aria-modal="true" aria-labelledby="shortcuts-title" className="demo-dialog" data-testid="shortcuts">
        <h2 id="shortcuts-title">{es ? 'Atajos de teclado' : 'Keyboard shortcuts'}</h2>
        <dl className="demo-shortcuts">
          {SHORTCUTS.map((s) => (
            <div key={s.keys}>
              <dt>
                <kbd>{s.keys}</kbd>
              </dt>
              <dd>{es ? s.es : s.en}</dd>
            </div>
          ))}
        </dl>
        <button ref={close} type="button" className="sp-button" onClick={onClose}>
          {es ? 'Cerrar' : 'Close'}
        </button>
      </div>
    </div>
  );
}
