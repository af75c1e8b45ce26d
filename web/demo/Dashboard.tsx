import { useEffect, useMemo, useState } from 'react';
import type { ChatSync } from '../src/client/ChatSync';
import type { AgentView, DurationStats, TeamStats, TicketView } from '../src/client/types';
import { BarChart } from './BarChart';

const PERIODS = [
  { days: 1, es: 'Últimas 24 h', en: 'Last 24 h' },
  { days: 7, es: 'Últimos 7 días', en: 'Last 7 days' },
  { days: 30, es: 'Últimos 30 días', en: 'Last 30 days' },
];

const minutes = (seconds: number | null | undefined) => (seconds == null ? null : Math.round((seconds / 60) * 10) / 10);
const shown = (value: number | null) => (value == null ? '—' : String(value));

/** How long ago, in minutes or hours (the same words in Spanish and English). */
function ago(iso: string): string {
  const m = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 60000));
  return m < 60 ? `${m} min` : `${Math.round(m / 60)} h`;
}

export interface DashboardProps {
  api: ChatSync;
  /** The inbox as it is now (a supervisor's holds every ticket). */
  tickets: TicketView[];
  agentes: AgentView[];
  es: boolean;
}

/**
 * The supervisor's page: the queue now (length, oldest waiting), waits and
 * times p50/p90 over a chosen period, each agent's load, availability and
 * tickets, and CSAT — as charts, each with its numbers in a table.
 */
export function Dashboard({ api, tickets, agentes, es }: DashboardProps) {
  const [days, setDays] = useState(7);
  const [stats, setStats] = useState<TeamStats | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    const desde = new Date(Date.now() - days * 86_400_000).toISOString();
    api.teamStats({ desde }).then(
      (s) => live && (setStats(s), setProblem(null)),
      (e: unknown) => live && setProblem(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      live = false;
    };
  }, [api, days]);

  const queued = tickets.filter((t) => !t.agente && t.estado === 'ABIERTO');
  const oldest = queued.reduce<string | null>((min, t) => (min === null || t.creado < min ? t.creado : min), null);

  const times = useMemo(() => {
    if (!stats) return null;
    const rows: [string, DurationStats][] = [
      [es ? 'Espera en cola' : 'Queue wait', stats.espera_en_cola],
      [es ? 'Primera respuesta' : 'First response', stats.primera_respuesta],
      [es ? 'Resolución' : 'Resolution', stats.resolucion],
    ];
    return {
      rows,
      labels: rows.map(([name]) => name),
      datasets: [
        { label: 'p50', data: rows.map(([, d]) => minutes(d.mediana_segundos)), color: '#1f6feb' },
        { label: 'p90', data: rows.map(([, d]) => minutes(d.p90_segundos)), color: '#bf8700' },
      ],
    };
  }, [stats, es]);

  const people = useMemo(() => {
    if (!stats) return null;
    const rows = agentes.map((a) => ({ agent: a, period: stats.por_agente.find((p) => p.agente?.id === a.id) ?? null }));
    return {
      rows,
      labels: rows.map((r) => r.agent.nombre),
      datasets: [
        { label: es ? 'Abiertos ahora' : 'Open now', data: rows.map((r) => r.agent.tickets_abiertos), color: '#1f6feb' },
        { label: es ? 'Tickets del periodo' : 'Tickets in period', data: rows.map((r) => r.period?.tickets ?? 0), color: '#2da44e' },
      ],
    };
  }, [stats, agentes, es]);

  const csat = useMemo(
    () => (stats ? { labels: ['1', '2', '3', '4', '5'], datasets: [{ label: es ? 'Valoraciones' : 'Ratings', data: [...stats.csat.por_puntuacion], color: '#8250df' }] } : null),
    [stats, es],
  );

  return (
    <section className="demo-dashboard" aria-labelledby="dashboard-title" data-testid="dashboard">
      <div className="demo-dashboard-head">
        <h2 id="dashboard-title">{es ? 'Panel de supervisión' : 'Supervisor dashboard'}</h2>
        <label>
          {es ? 'Periodo' : 'Period'}{' '}
          <select value={days} onChange={(e) => setDays(Number(e.target.value))}>
            {PERIODS.map((p) => (
              <option key={p.days} value={p.days}>
                {es ? p.es : p.en}
              </option>
            ))}
          </select>
        </label>
      </div>
      {problem && (
        <p role="alert" className="demo-error">
          {problem}
        </p>
      )}
      <ul className="demo-kpis">
        <li>
          <span className="demo-kpi-value" data-testid="kpi-queue">
            {queued.length}
          </span>{' '}
          {es ? 'en cola ahora' : 'queued now'}
        </li>
        <li>
          <span className="demo-kpi-value">{oldest ? ago(oldest) : '—'}</span> {es ? 'la espera más larga' : 'longest wait'}
        </li>
        <li>
          <span className="demo-kpi-value">{stats?.tickets_creados ?? '—'}</span> {es ? 'tickets creados' : 'tickets created'}
        </li>
        <li>
          <span className="demo-kpi-value" data-testid="kpi-csat">
            {stats?.csat.media != null ? stats.csat.media.toFixed(1) : '—'}
          </span>{' '}
          {es ? `CSAT medio (${stats?.csat.n ?? 0})` : `mean CSAT (${stats?.csat.n ?? 0})`}
        </li>
      </ul>
      {times && (
        <figure className="demo-figure">
          <figcaption>{es ? 'Tiempos, en minutos' : 'Times, in minutes'}</figcaption>
          <BarChart label={es ? 'Tiempos p50 y p90 en minutos' : 'Times p50 and p90 in minutes'} labels={times.labels} datasets={times.datasets} unit="min" testId="chart-times" />
          <table className="demo-table">
            <thead>
              <tr>
                <th scope="col">{es ? 'Medida' : 'Measure'}</th>
                <th scope="col">n</th>
                <th scope="col">p50</th>
                <th scope="col">p90</th>
              </tr>
            </thead>
            <tbody>
              {times.rows.map(([name, d]) => (
                <tr key={name}>
                  <th scope="row">{name}</th>
                  <td>{d.n}</td>
                  <td>{shown(minutes(d.mediana_segundos))}</td>
                  <td>{shown(minutes(d.p90_segundos))}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </figure>
      )}
      {people && (
        <figure className="demo-figure">
          <figcaption>{es ? 'Agentes' : 'Agents'}</figcaption>
          <BarChart label={es ? 'Carga de cada agente' : 'Each agent’s load'} labels={people.labels} datasets={people.datasets} testId="chart-agents" />
          <table className="demo-table">
            <thead>
              <tr>
                <th scope="col">{es ? 'Agente' : 'Agent'}</th>
                <th scope="col">{es ? 'Estado' : 'Status'}</th>
                <th scope="col">{es ? 'Abiertos' : 'Open'}</th>
                <th scope="col">{es ? 'Del periodo' : 'In period'}</th>
                <th scope="col">CSAT</th>
              </tr>
            </thead>
            <tbody>
              {people.rows.map(({ agent, period }) => (
                <tr key={agent.id}>
                  <th scope="row">{agent.nombre}</th>
                  <td>
                    {agent.online ? (es ? 'en línea' : 'online') : es ? 'desconectado' : 'offline'}
                    {agent.disponibilidad === 'ausente' ? (es ? ', ausente' : ', away') : ''}
                  </td>
                  <td>{agent.tickets_abiertos}</td>
                  <td>{period?.tickets ?? 0}</td>
                  <td>{period?.csat.media != null ? period.csat.media.toFixed(1) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </figure>
      )}
      {csat && stats && stats.csat.n > 0 && (
        <figure className="demo-figure">
          <figcaption>{es ? 'Valoraciones (CSAT)' : 'Ratings (CSAT)'}</figcaption>
          <BarChart label={es ? 'Valoraciones por puntuación' : 'Ratings by score'} labels={csat.labels} datasets={csat.datasets} testId="chart-csat" />
          <p>
            {es
              ? `${stats.csat.n} valoraciones, media ${stats.csat.media?.toFixed(1)}, ${stats.csat.satisfechos_pct ?? 0} % satisfechos (4–5).`
              : `${stats.csat.n} ratings, mean ${stats.csat.media?.toFixed(1)}, ${stats.csat.satisfechos_pct ?? 0}% satisfied (4–5).`}
          </p>
        </figure>
      )}
    </section>
  );
}
