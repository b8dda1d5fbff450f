// A line chart as plain SVG: throughput (y, linear) against concurrency (x, logarithmic), one line
// per system. No chart library: a few scales, a path per series, a legend.
// CLI: node dist/bench/chart.js bench/results/<date>.json docs/perf/throughput.svg

import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

export interface Series {
  label: string;
  /** [concurrency, jobs per second] */
  points: [number, number][];
}

const WIDTH = 760;
const HEIGHT = 440;
const MARGIN = { left: 78, right: 190, top: 48, bottom: 58 };
const COLORS = ['#1f77b4', '#2ca02c', '#9467bd', '#d62728', '#ff7f0e', '#8c564b'];
const DASHES = ['', '', '', '6 4', '2 3', '8 3 2 3'];

/** 1, 2, 5 × 10^k steps so that about `count` ticks cover 0..max. */
function niceTicks(max: number, count: number): number[] {
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step / 2; v += step) ticks.push(v);
  return ticks;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function throughputSvg(series: Series[], title: string, subtitle: string): string {
  const xs = [...new Set(series.flatMap((s) => s.points.map(([c]) => c)))].sort((a, b) => a - b);
  const yMax = Math.max(1, ...series.flatMap((s) => s.points.map(([, y]) => y)));
  const yTicks = niceTicks(yMax * 1.05, 6);
  const yTop = yTicks[yTicks.length - 1]!;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const logMin = Math.log(xs[0] ?? 1);
  const logSpan = Math.max(1e-9, Math.log(xs[xs.length - 1] ?? 10) - logMin);
  const x = (c: number): number => MARGIN.left + ((Math.log(c) - logMin) / logSpan) * plotW;
  const y = (v: number): number => MARGIN.top + plotH - (v / yTop) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`);
  out.push(`<text x="${MARGIN.left}" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>`);
  out.push(`<text x="${MARGIN.left}" y="38" fill="#555">${escapeXml(subtitle)}</text>`);
  for (const v of yTicks) {
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${MARGIN.left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#333">${Math.round(v).toLocaleString('en-US')}</text>`);
  }
  for (const c of xs) {
    out.push(`<line x1="${x(c).toFixed(1)}" x2="${x(c).toFixed(1)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${x(c).toFixed(1)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle" fill="#333">${c}</text>`);
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 14}" text-anchor="middle">worker concurrency (handlers in flight, log scale)</text>`);
  out.push(`<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">jobs processed per second</text>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const dash = DASHES[i % DASHES.length]!;
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    const d = pts.map(([c, v], k) => `${k === 0 ? 'M' : 'L'}${x(c).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2.2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    for (const [c, v] of pts) out.push(`<circle cx="${x(c).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3.2" fill="${color}"><title>${escapeXml(s.label)}: concurrency ${c}, ${Math.round(v).toLocaleString('en-US')} jobs/s</title></circle>`);
    const ly = MARGIN.top + 14 + i * 22;
    const lx = MARGIN.left + plotW + 16;
    out.push(`<line x1="${lx}" x2="${lx + 26}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2.2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    out.push(`<text x="${lx + 32}" y="${ly}">${escapeXml(s.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** The sweep section of a comparison result file, as chart series. */
export function seriesFromResults(results: { sweep?: { label: string; points: { concurrency: number; jobsPerSec: number }[] }[] }): Series[] {
  return (results.sweep ?? []).map((s) => ({ label: s.label, points: s.points.map((p) => [p.concurrency, p.jobsPerSec] as [number, number]) }));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error('usage: node dist/bench/chart.js bench/results/<date>.json docs/perf/throughput.svg');
    process.exit(2);
  }
  const results = JSON.parse(fs.readFileSync(input, 'utf8')) as {
    date?: string;
    settings?: { payloadBytes?: number };
    host?: { cpus?: number; foreignCpuShareDuringRun?: number | null };
    sweep?: { label: string; points: { concurrency: number; jobsPerSec: number }[] }[];
  };
  const foreign = results.host?.foreignCpuShareDuringRun;
  const shared = foreign === undefined || foreign === null ? '' : ` (${Math.round(foreign * 100)}% used by other processes)`;
  const subtitle = `one worker, ${results.settings?.payloadBytes ?? 100}-byte jobs, ${results.host?.cpus ?? '?'} vCPU${shared}, loopback, ${(results.date ?? '').slice(0, 10)}`;
  fs.writeFileSync(output, throughputSvg(seriesFromResults(results), 'Drain throughput vs worker concurrency', subtitle));
  console.log(`wrote ${output}`);
}
