import type { HoursStatus } from '../../client/types';
import { dateLocale, useI18n, type Locale, type Translate } from '../../i18n';

export interface TeamAvailabilityProps {
  hours: HoursStatus | null;
  /** Now, for "today" and "tomorrow" (tests pass a fixed one). */
  now?: Date;
}

/**
 * Whether the team is in: outside its hours, when it is back (in the
 * reader's own time zone) and that messages are still welcome; inside, the
 * typical reply time when the server knows one.
 */
export function TeamAvailability({ hours, now = new Date() }: TeamAvailabilityProps) {
  const { t, locale } = useI18n();
  if (!hours) return null;
  let text: string | null;
  if (!hours.abierto) {
    text = hours.abre ? t('hours.closedUntil', { cuando: returnTime(new Date(hours.abre), now, locale, t) }) : t('hours.closed');
  } else if (hours.respuesta_tipica_segundos !== null) {
    text = t(hours.horario ? 'hours.openTypical' : 'hours.typical', { tiempo: waitText(hours.respuesta_tipica_segundos, t) });
  } else {
    text = hours.horario ? t('hours.open') : null;
  }
  if (!text) return null;
  return (
    <p className={`sp-availability ${hours.abierto ? 'sp-team-in' : 'sp-team-out'}`} data-testid="availability">
      {text}
    </p>
  );
}

/** "hoy a las 9:00", "mañana a las 9:00", "el lunes a las 9:00", "el 2 de enero a las 9:00". */
export function returnTime(at: Date, now: Date, locale: Locale, t: Translate): string {
  const tag = dateLocale(locale);
  const hora = new Intl.DateTimeFormat(tag, { hour: 'numeric', minute: '2-digit' }).format(at);
  const day = (d: Date) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(at) - day(now)) / 86_400_000);
  if (days <= 0) return t('hours.today', { hora });
  if (days === 1) return t('hours.tomorrow', { hora });
  if (days < 7) return t('hours.weekday', { dia: new Intl.DateTimeFormat(tag, { weekday: 'long' }).format(at), hora });
  return t('hours.date', { fecha: new Intl.DateTimeFormat(tag, { day: 'numeric', month: 'long' }).format(at), hora });
}

/** A wait as people say it: "menos de un minuto", "5 minutos", "2 horas". */
export function waitText(seconds: number, t: Translate): string {
  if (seconds < 60) return t('hours.underMinute');
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return t(minutes === 1 ? 'hours.minute' : 'hours.minutes', { n: minutes });
  const hoursCount = Math.round(minutes / 60);
  return t(hoursCount === 1 ? 'hours.hour' : 'hours.hours', { n: hoursCount });
}
