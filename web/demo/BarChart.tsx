import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from 'chart.js';
import { useEffect, useRef } from 'react';

// Only the pieces bar charts use (Chart.js is tree-shaken to them).
Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

export interface BarChartProps {
  /** What the chart says, for people who cannot see it (the table below says it in full). */
  label: string;
  labels: string[];
  datasets: { label: string; data: (number | null)[]; color: string }[];
  /** Unit of the values, shown on the axis. */
  unit?: string;
  testId?: string;
}

/** A bar chart (Chart.js on a canvas, drawn through the CSSOM: no inline style for the CSP). */
export function BarChart({ label, labels, datasets, unit, testId }: BarChartProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, {
      type: 'bar',
      data: {
        labels,
        datasets: datasets.map((d) => ({ label: d.label, data: d.data, backgroundColor: d.color })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { y: { beginAtZero: true, title: { display: Boolean(unit), text: unit ?? '' } } },
        plugins: { legend: { display: datasets.length > 1 } },
      },
    });
    return () => chart.destroy();
  }, [labels, datasets, unit]);
  return (
    <div className="demo-chart">
      <canvas ref={canvas} role="img" aria-label={label} data-testid={testId} />
    </div>
  );
}
