import { useState, type ReactNode } from 'react';
import { I18nProvider, type Locale } from '../src/i18n';
import { personFromToken } from '../src/client/token';
import type { TicketState } from '../src/client/types';

/** A ticket's state as the demo pages name it, in Spanish and English. */
export const ESTADOS: Record<TicketState, [string, string]> = {
  ABIERTO: ['Abierto', 'Open'],
  EN_ESPERA: ['En espera', 'Waiting'],
  RESUELTO: ['Resuelto', 'Resolved'],
  CERRADO: ['Cerrado', 'Closed'],
};

/** The token from the link: `#token=…` (kept out of server logs) or `?token=…`. */
export function tokenFromLocation(): string | null {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ''));
  const query = new URLSearchParams(location.search);
  const token = hash.get('token') ?? query.get('token');
  if (token) sessionStorage.setItem('soporte_demo_token', token);
  return token ?? sessionStorage.getItem('soporte_demo_token');
}

export function ticketFromLocation(): number | null {
  const value = Number(new URLSearchParams(location.search).get('ticket'));
  return Number.isInteger(value) && value > 0 ? value : null;
}

/** Puts the selected ticket in the address bar, keeping the token fragment. */
export function setTicketInLocation(id: number | null): void {
  const url = new URL(location.href);
  if (id) url.searchParams.set('ticket', String(id));
  else url.searchParams.delete('ticket');
  history.replaceState(null, '', url);
}

export const me = () => personFromToken(tokenFromLocation());

export function useLocale(): [Locale, (l: Locale) => void] {
  const [locale, setLocale] = useState<Locale>(() => (localStorage.getItem('soporte_demo_locale') as Locale) || 'es');
  return [
    locale,
    (l) => {
      localStorage.setItem('soporte_demo_locale', l);
      document.documentElement.lang = l;
      setLocale(l);
    },
  ];
}

export function Shell({ title, locale, setLocale, children, who }: { title: string; locale: Locale; setLocale: (l: Locale) => void; children: ReactNode; who?: string }) {
  return (
    <I18nProvider locale={locale}>
      <div className="demo-shell">
        <header className="demo-header">
          <h1>{title}</h1>
          <div className="demo-header-right">
            {who && <span className="demo-who">{who}</span>}
            <div role="group" aria-label={locale === 'es' ? 'Idioma' : 'Language'} className="demo-lang">
              <button type="button" aria-pressed={locale === 'es'} onClick={() => setLocale('es')}>
                ES
              </button>
              <button type="button" aria-pressed={locale === 'en'} onClick={() => setLocale('en')}>
                EN
              </button>
            </div>
          </div>
        </header>
        <main className="demo-main">{children}</main>
      </div>
    </I18nProvider>
  );
}

export function NoToken({ locale }: { locale: Locale }) {
  return (
    <div className="demo-empty">
      {locale === 'es' ? (
        <p>
          Falta el token. Abre uno de los enlaces que imprime <code>soporte serve --demo</code> (o <code>./scripts/serve</code>).
        </p>
      ) : (
        <p>
          No token. Open one of the links printed by <code>soporte serve --demo</code> (or <code>./scripts/serve</code>).
        </p>
      )}
    </div>
  );
}
