import { useEffect } from 'react';

/**
 * Puts `count` in front of the page's title while it is above zero
 * ("(2) Centro de ayuda"), as mail and chat tabs do, and restores the
 * title when it drops to zero or the component goes.
 */
export function useTitleCount(count: number, enabled = true): void {
  useEffect(() => {
    if (!enabled || typeof document === 'undefined' || count <= 0) return;
    const base = document.title.replace(/^\(\d+\) /, '');
    document.title = `(${count}) ${base}`;
    return () => {
      document.title = base;
    };
  }, [count, enabled]);
}
