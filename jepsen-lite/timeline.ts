// timeline.svg: throughput (ok/s) and enqueue latency (ms, log scale) per second of the run, with
// each fault window shaded and labelled. Plain SVG written by hand, no dependencies.

import type { Window } from './checkers.js';
import type { SecondBucket } from './metrics.js';
import { FAULT_CLASS, type Fault, type FaultClass } from './schedule.js';

const WIDTH = 1100;
const MARGIN = { left: 70, right: 150, top: 30, bottom: 40 };
const PANEL_HEIGHT = 170;
const PANEL_GAP = 60;
const HEIGHT = MARGIN.top + PANEL_HEIGHT * 2 + PANEL_GAP + MARGIN.bottom;
const PLOT_WIDTH = WIDTH - MARGIN.left - MARGIN.right;
const CLASS_COLOUR: Record<FaultClass | 'other', string> = {
  network: '#f4a261',
  process: '#e76f51',
  admin: '#8ab17d',
  storage: '#9d4edd',
  other: '#adb5bd',
};
const SERIES = {
  enqueueOk: '#1d4ed8',
  ackOk: '#15803d',
  notOk: '#dc2626',
  p50: '#1d4ed8',
  p99: '#ea580c',
} as const;

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

function polyline(points: [number, number][], colour: string, width = 1.5): string {
  if (points.length === 0) return '';
  const d = points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
  return `<polyline fill="none" stroke="${colour}" stroke-width="${width}" points="${d}"/>`;
}

function classOf(fault: string): FaultClass | 'other' {
  return (FAULT_CLASS as Record<string, FaultClass>)[fault as Fault] ?? 'other';
}

export interface TimelineInput {
  title: string;
  seconds: readonly SecondBucket[];
  windows: readonly Window[];
  /** When producers stopped (ms): the drain follows. */
  workloadEndMs?: number;
}

export function timelineSvg(input: TimelineInput): string {
  const totalS = Math.max(1, input.seconds.length);
  const x = (s: number): number => MARGIN.left + (s / totalS) * PLOT_WIDTH;
  const top1 = MARGIN.top;
  const top2 = MARGIN.top + PANEL_HEIGHT + PANEL_GAP;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  out.push(`<text x="${MARGIN.left}" y="18" font-size="13" font-weight="bold">${esc(input.title)}</text>`);

  // Fault windows, across both panels, labelled at the top (staggered so neighbours stay legible).
  input.windows.forEach((w, i) => {
    const x0 = x(w.startMs / 1000);
    const x1 = Math.max(x0 + 1, x(w.stopMs / 1000));
    const colour = CLASS_COLOUR[classOf(w.fault)];
    for (const top of [top1, top2]) out.push(`<rect x="${x0.toFixed(1)}" y="${top}" width="${(x1 - x0).toFixed(1)}" height="${PANEL_HEIGHT}" fill="${colour}" fill-opacity="0.25"><title>${esc(`${w.fault}: ${(w.startMs / 1000).toFixed(1)}–${(w.stopMs / 1000).toFixed(1)} s`)}</title></rect>`);
    out.push(`<text x="${(x0 + 2).toFixed(1)}" y="${top1 + PANEL_HEIGHT + 14 + (i % 3) * 11}" fill="${colour}" font-size="9">${esc(w.fault)}</text>`);
  });
  if (input.workloadEndMs !== undefined) {
    const xe = x(input.workloadEndMs / 1000);
    for (const top of [top1, top2]) out.push(`<line x1="${xe.toFixed(1)}" x2="${xe.toFixed(1)}" y1="${top}" y2="${top + PANEL_HEIGHT}" stroke="#555" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${(xe + 3).toFixed(1)}" y="${top1 + 10}" fill="#555" font-size="9">drain</text>`);
  }

  // Panel 1: throughput.
  const tpMax = niceMax(Math.max(1, ...input.seconds.map((s) => Math.max(s.enqueueOk, s.ackOk, s.notOk))));
  const y1 = (v: number): number => top1 + PANEL_HEIGHT - (v / tpMax) * PANEL_HEIGHT;
  out.push(axes(top1, [0, tpMax / 2, tpMax].map((v) => [y1(v), String(v)]), 'ops/s'));
  out.push(polyline(input.seconds.map((s) => [x(s.t + 0.5), y1(s.enqueueOk)]), SERIES.enqueueOk));
  out.push(polyline(input.seconds.map((s) => [x(s.t + 0.5), y1(s.ackOk)]), SERIES.ackOk));
  out.push(polyline(input.seconds.map((s) => [x(s.t + 0.5), y1(s.notOk)]), SERIES.notOk, 1));

  // Panel 2: enqueue latency, log scale from 1 ms.
  const latMax = Math.max(10, ...input.seconds.map((s) => s.enqueueP99Ms ?? 0));
  const decades = Math.max(1, Math.ceil(Math.log10(latMax)));
  const y2 = (ms: number): number => top2 + PANEL_HEIGHT - (Math.log10(Math.max(1, ms)) / decades) * PANEL_HEIGHT;
  out.push(axes(top2, Array.from({ length: decades + 1 }, (_, d) => [y2(10 ** d), `${10 ** d}`] as [number, string]), 'enqueue latency (ms, log)'));
  const lat = (pick: (s: SecondBucket) => number | null): [number, number][] => input.seconds.filter((s) => pick(s) !== null).map((s) => [x(s.t + 0.5), y2(pick(s)!)]);
  out.push(polyline(lat((s) => s.enqueueP50Ms), SERIES.p50));
  out.push(polyline(lat((s) => s.enqueueP99Ms), SERIES.p99));

  // x axis (seconds) under panel 2.
  const stepS = niceMax(totalS / 10);
  for (let s = 0; s <= totalS; s += stepS) {
    out.push(`<line x1="${x(s).toFixed(1)}" x2="${x(s).toFixed(1)}" y1="${top2 + PANEL_HEIGHT}" y2="${top2 + PANEL_HEIGHT + 4}" stroke="#333"/>`);
    out.push(`<text x="${x(s).toFixed(1)}" y="${top2 + PANEL_HEIGHT + 16}" text-anchor="middle">${s}</text>`);
  }
  out.push(`<text x="${MARGIN.left + PLOT_WIDTH / 2}" y="${HEIGHT - 6}" text-anchor="middle">time since start (s)</text>`);

  // Legend.
  const legend: [string, string][] = [
    ['enqueue ok/s', SERIES.enqueueOk],
    ['ack ok/s', SERIES.ackOk],
    ['fail+info/s', SERIES.notOk],
    ['enqueue p50 (ms)', SERIES.p50],
    ['enqueue p99 (ms)', SERIES.p99],
    ['network fault', CLASS_COLOUR.network],
    ['process fault', CLASS_COLOUR.process],
    ['admin fault', CLASS_COLOUR.admin],
    ['disk fault', CLASS_COLOUR.storage],
  ];
  legend.forEach(([label, colour], i) => {
    const ly = MARGIN.top + 10 + i * 16;
    const lx = WIDTH - MARGIN.right + 12;
    out.push(i < 5 ? `<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${colour}" stroke-width="2"/>` : `<rect x="${lx}" y="${ly - 9}" width="18" height="10" fill="${colour}" fill-opacity="0.4"/>`);
    out.push(`<text x="${lx + 24}" y="${ly}">${esc(label)}</text>`);
  });
  out.push('</svg>');
  return `${out.filter(Boolean).join('\n')}\n`;
}

function axes(top: number, ticks: [number, string][], label: string): string {
  const parts = [
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${top}" y2="${top + PANEL_HEIGHT}" stroke="#333"/>`,
    `<line x1="${MARGIN.left}" x2="${MARGIN.left + PLOT_WIDTH}" y1="${top + PANEL_HEIGHT}" y2="${top + PANEL_HEIGHT}" stroke="#333"/>`,
    `<text transform="translate(14 ${top + PANEL_HEIGHT / 2}) rotate(-90)" text-anchor="middle">${esc(label)}</text>`,
  ];
  for (const [y, text] of ticks) {
    parts.push(`<line x1="${MARGIN.left - 4}" x2="${MARGIN.left + PLOT_WIDTH}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${esc(text)}</text>`);
  }
  return parts.join('\n');
}
