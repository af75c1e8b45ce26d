import { Search } from 'lucide-react';
import { forwardRef, useEffect, useId, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import type { SearchHit } from '../../client/types';
import { useI18n } from '../../i18n';

export interface SearchBoxProps {
  /** Runs a search; a rejection is shown. */
  search: (q: string) => Promise<SearchHit[]>;
  /** A hit was chosen: open its ticket (at its message). */
  onOpen: (hit: SearchHit) => void;
}

/** `text` with its `[start, end)` matches (UTF-16 indices) marked: React text only, never HTML. */
export function highlight(text: string, matches: readonly (readonly [number, number])[]): ReactNode[] {
  const out: ReactNode[] = [];
  let at = 0;
  for (const [start, end] of matches) {
    if (start < at || end > text.length || start >= end) continue;
    if (start > at) out.push(text.slice(at, start));
    out.push(<mark key={start}>{text.slice(start, end)}</mark>);
    at = end;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

/**
 * The console's search (Ctrl+K focuses it), an ARIA combobox: results as
 * the agent types, each with its ticket and the matching words marked;
 * arrow keys move, Enter opens, Escape clears.
 */
export const SearchBox = forwardRef<HTMLInputElement, SearchBoxProps>(function SearchBox({ search, onOpen }, ref) {
  const { t } = useI18n();
  const [q, setQ] = useState('');
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [active, setActive] = useState(0);
  const [problem, setProblem] = useState<string | null>(null);
  const id = useId();
  const latest = useRef(0);

  useEffect(() => {
    const query = q.trim();
    if (!query) {
      setHits(null);
      setProblem(null);
      return;
    }
    const mine = ++latest.current;
    const timer = setTimeout(() => {
      search(q).then(
        (found) => {
          if (mine !== latest.current) return;
          setHits(found);
          setActive(0);
          setProblem(null);
        },
        (error: unknown) => {
          if (mine === latest.current) setProblem(error instanceof Error ? error.message : String(error));
        },
      );
    }, 250);
    return () => clearTimeout(timer);
  }, [q, search]);

  const open = (hit: SearchHit) => {
    onOpen(hit);
    setQ('');
  };

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Escape') setQ('');
    if (!hits?.length) return;
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      setActive((i) => Math.min(i + 1, hits.length - 1));
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      setActive((i) => Math.max(i - 1, 0));
    } else if (e.key === 'Enter') {
      e.preventDefault();
      open(hits[active]);
    }
  };

  return (
    <div className="sp-search" role="search">
      <label htmlFor={`${id}-q`} className="sp-visually-hidden">
        {t('search.label')}
      </label>
      <Search aria-hidden="true" size={16} className="sp-search-icon" />
      <input
        ref={ref}
        id={`${id}-q`}
        type="search"
        value={q}
        placeholder={t('search.placeholder')}
        onChange={(e) => setQ(e.target.value)}
        onKeyDown={onKeyDown}
        role="combobox"
        aria-autocomplete="list"
        aria-expanded={hits !== null}
        aria-controls={hits !== null ? `${id}-results` : undefined}
        aria-activedescendant={hits?.length ? `${id}-hit-${active}` : undefined}
        autoComplete="off"
      />
      {problem && (
        <p role="alert" className="sp-csat-problem">
          {problem}
        </p>
      )}
      {hits && (
        <ul id={`${id}-results`} role="listbox" className="sp-search-results" aria-label={t('search.results')} data-testid="search-results">
          {hits.length === 0 && (
            <li role="option" aria-selected={false} aria-disabled className="sp-search-empty">
              {t('search.none')}
            </li>
          )}
          {hits.map((hit, i) => (
            // Chosen with the keyboard from the box (aria-activedescendant) or by a click.
            <li
              key={`${hit.ticket.id}-${hit.mensaje_id ?? hit.campo}`}
              id={`${id}-hit-${i}`}
              role="option"
              aria-selected={i === active}
              className={i === active ? 'sp-search-hit sp-active' : 'sp-search-hit'}
              onMouseDown={(e) => e.preventDefault()}
              onClick={() => open(hit)}
            >
              <span className="sp-search-ticket">
                #{hit.ticket.id} {hit.ticket.asunto}
              </span>
              <span className="sp-search-text">{highlight(hit.texto, hit.coincidencias)}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
});
