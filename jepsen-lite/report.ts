// What a run leaves behind besides its history: results.json (every checker's counts and
// `valid`, the run's settings and figures), report.md (for people) and timeline.svg. All of it is
// recomputed from history.jsonl plus the run's settings, so `--replay` rebuilds the same files.

import fs from 'node:fs';
import path from 'node:path';
import { checkAll, faultWindows, type CheckResult } from './checkers.js';
import type { Op } from './history.js';
import { runFigures, type RunFigures } from './metrics.js';
import { ALL_NEMESES } from './schedule.js';
import { timelineSvg } from './timeline.js';

/** The settings and story of a run that the history does not hold. */
export interface RunMeta {
  seed: number;
  nodes: number;
  nemeses: string[];
  timeS: number;
  rate: number;
  producers: number;
  workers: number;
  queues: string[];
  toxiproxy: string;
  startedAt: string;
  /** The fault schedule as planned (one line per step). */
  schedule: string[];
  /** When producers stopped, since the start (ms). */
  workloadEndMs: number;
  drain: { drained: boolean; elapsedMs: number; left: Record<string, number> } | null;
  /** Anything the harness had to do or noticed at the end (healing, unreadable jobs). */
  notes: string[];
  /** The command that reproduces the run, and the one that re-checks it. */
  command: string;
  replay: string;
  wallMs: number;
}

export interface Results {
  meta: RunMeta;
  valid: boolean;
  checkers: CheckResult[];
  figures: Omit<RunFigures, 'seconds'>;
  faults: { fault: string; startMs: number; stopMs: number; detail: string }[];
  events: { timeMs: number; fault: string; detail: string }[];
}

type NemesisOp = Extract<Op, { f: 'nemesis' }>;

export function buildResults(ops: Op[], meta: RunMeta): { results: Results; figures: RunFigures } {
  const checkers = checkAll(ops);
  const figures = runFigures(ops);
  const nemesis = ops.filter((o): o is NemesisOp => o.f === 'nemesis');
  const details = new Map<string, string>();
  for (const o of nemesis) if (o.value.phase === 'start') details.set(`${o.value.fault}|${o.timeMs}`, o.value.detail ?? '');
  const faults = faultWindows(ops).map((w) => ({ ...w, detail: details.get(`${w.fault}|${w.startMs}`) ?? '' }));
  const events = nemesis.filter((o) => o.value.phase === 'event').map((o) => ({ timeMs: o.timeMs, fault: o.value.fault, detail: o.value.detail ?? '' }));
  const { seconds: _seconds, ...summary } = figures;
  // A run the harness could not finish proves nothing: invalid, whatever the checkers say of the part it recorded.
  const aborted = meta.notes.some((n) => n.startsWith('run aborted'));
  return { results: { meta, valid: !aborted && checkers.every((c) => c.valid), checkers, figures: summary, faults, events }, figures };
}

const s = (ms: number): string => (ms / 1000).toFixed(1);

function count(results: Results, checker: string, name: string): number {
  return results.checkers.find((c) => c.name === checker)?.counts[name] ?? 0;
}

/** The row of the README table for one run. */
export interface TableRow {
  folder: string;
  nodes: number;
  nemeses: string;
  seed: number;
  timeS: number;
  ops: number;
  faults: number;
  lost: number;
  redelivered: string;
  doubleCompletions: number;
  staleAcksAccepted: string;
  longestUnavailableMs: number;
  valid: boolean;
}

export function tableRow(folder: string, r: Results): TableRow {
  return {
    folder,
    nodes: r.meta.nodes,
    nemeses: ALL_NEMESES.every((n) => r.meta.nemeses.includes(n)) ? 'all' : r.meta.nemeses.join(','),
    seed: r.meta.seed,
    timeS: r.meta.timeS,
    ops: r.figures.completedOps,
    faults: r.faults.length,
    lost: count(r, 'total-queue', 'lost') + count(r, 'final-state', 'lostEnqueues') + count(r, 'final-state', 'lostCompletions'),
    redelivered: `${count(r, 'total-queue', 'duplicated')} / ${count(r, 'total-queue', 'redeliveries')}`,
    doubleCompletions: count(r, 'exactly-once-completion', 'completedTwice'),
    staleAcksAccepted: `${count(r, 'stale-lease-acks', 'staleAcksAccepted')} of ${count(r, 'stale-lease-acks', 'staleAcksAccepted') + count(r, 'stale-lease-acks', 'staleAcksRejected')}`,
    longestUnavailableMs: count(r, 'availability', 'longestGapMs'),
    valid: r.valid,
  };
}

export const TABLE_HEADER =
  '| nodes | nemeses | seed | time (s) | ops | faults injected | lost | duplicates: jobs / redeliveries | double completions | stale acks accepted (of stale acks) | longest unavailability (ms) | valid |\n' +
  '|---|---|---|---|---|---|---|---|---|---|---|---|';

export function tableLine(row: TableRow): string {
  return `| ${row.nodes} | ${row.nemeses} | ${row.seed} | ${row.timeS} | ${row.ops} | ${row.faults} | ${row.lost} | ${row.redelivered} | ${row.doubleCompletions} | ${row.staleAcksAccepted} | ${row.longestUnavailableMs} | ${row.valid ? 'yes' : '**NO**'} |`;
}

export function reportMarkdown(r: Results): string {
  const m = r.meta;
  const f = r.figures;
  const row = tableRow('', r);
  const lines: string[] = [];
  lines.push(`# jepsen-lite run: seed ${m.seed}, ${m.nodes} nodes, ${m.nemeses.join(',')}`);
  lines.push('');
  lines.push(`**${r.valid ? 'VALID' : 'INVALID'}** — every checker ${r.valid ? 'passed' : 'did not pass; see below'}.`);
  lines.push('');
  lines.push(`Reproduce: \`${m.command}\`  `);
  lines.push(`Re-check this history: \`${m.replay}\``);
  lines.push('');
  lines.push('## Summary');
  lines.push('');
  lines.push('| | |');
  lines.push('|---|---|');
  lines.push(`| started | ${m.startedAt} |`);
  lines.push(`| nodes | ${m.nodes} |`);
  lines.push(`| nemeses | ${m.nemeses.join(', ')} |`);
  lines.push(`| workload | ${m.timeS} s at ${m.rate} enqueues/s target; ${m.producers} producers, ${m.workers} workers, ${m.queues.length} queues |`);
  lines.push(`| Toxiproxy | ${m.toxiproxy} |`);
  lines.push(`| client operations completed | ${f.completedOps} |`);
  lines.push(`| faults injected | ${r.faults.length} |`);
  lines.push(`| lost jobs | ${row.lost} |`);
  lines.push(`| jobs delivered more than once / extra deliveries | ${row.redelivered} |`);
  lines.push(`| double completions | ${row.doubleCompletions} |`);
  lines.push(`| stale acks accepted (of stale acks sent) | ${row.staleAcksAccepted} |`);
  lines.push(`| longest unavailability (no enqueue ok) | ${row.longestUnavailableMs} ms |`);
  lines.push(`| drain after healing | ${m.drain ? `${m.drain.drained ? 'drained' : 'NOT drained'} in ${s(m.drain.elapsedMs)} s` : 'not reached'} |`);
  lines.push(`| wall time | ${s(m.wallMs)} s |`);
  lines.push('');
  lines.push('## Operations');
  lines.push('');
  lines.push('| op | invoke | ok | fail | info |');
  lines.push('|---|---|---|---|---|');
  for (const [op, c] of Object.entries(f.ops)) lines.push(`| ${op} | ${c.invoke} | ${c.ok} | ${c.fail} | ${c.info} |`);
  lines.push('');
  lines.push('## Figures');
  lines.push('');
  lines.push('| figure | value |');
  lines.push('|---|---|');
  lines.push(`| enqueue ok per second, mean while producing | ${f.enqueueOkPerSecMean.toFixed(1)} /s |`);
  lines.push(`| enqueue ok per second, best second | ${f.enqueueOkPerSecPeak} /s |`);
  for (const [name, l] of [['enqueue', f.enqueueLatency], ['lease (500 ms long poll)', f.leaseLatency], ['ack', f.ackLatency]] as const) {
    lines.push(`| ${name} latency p50 / p95 / p99 / max (ok ops) | ${l.p50Ms} / ${l.p95Ms} / ${l.p99Ms} / ${l.maxMs} ms (n=${l.count}) |`);
  }
  lines.push('');
  lines.push('![timeline](timeline.svg)');
  lines.push('');
  lines.push('## Checkers');
  lines.push('');
  lines.push('| checker | valid | counts | examples |');
  lines.push('|---|---|---|---|');
  for (const c of r.checkers) {
    const counts = Object.entries(c.counts).map(([k, v]) => `${k} ${v}`).join(', ');
    lines.push(`| ${c.name} | ${c.valid ? 'yes' : '**NO**'} | ${counts} | ${c.examples.slice(0, 5).map(cell).join('<br>')} |`);
  }
  lines.push('');
  lines.push('## Faults');
  lines.push('');
  lines.push('| start (s) | end (s) | fault | what |');
  lines.push('|---|---|---|---|');
  for (const w of r.faults) lines.push(`| ${s(w.startMs)} | ${s(w.stopMs)} | ${w.fault} | ${cell(w.detail)} |`);
  if (r.events.length > 0) {
    lines.push('');
    lines.push('Events seen by the nemesis:');
    lines.push('');
    for (const e of r.events) lines.push(`- ${s(e.timeMs)} s, ${e.fault}: ${e.detail}`);
  }
  lines.push('');
  lines.push('Planned schedule:');
  lines.push('');
  for (const line of m.schedule) lines.push(`- ${line}`);
  if (m.notes.length > 0) {
    lines.push('');
    lines.push('## Notes');
    lines.push('');
    for (const n of m.notes) lines.push(`- ${n}`);
  }
  lines.push('');
  return lines.join('\n');
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Writes results.json, report.md and timeline.svg into the run folder. */
export function writeReport(folder: string, ops: Op[], meta: RunMeta): Results {
  const { results, figures } = buildResults(ops, meta);
  fs.writeFileSync(path.join(folder, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(path.join(folder, 'report.md'), reportMarkdown(results));
  const title = `seed ${meta.seed} · ${meta.nodes} nodes · ${meta.nemeses.join(',')} · ${results.valid ? 'valid' : 'INVALID'}`;
  fs.writeFileSync(path.join(folder, 'timeline.svg'), timelineSvg({ title, seconds: figures.seconds, windows: faultWindows(ops), workloadEndMs: meta.workloadEndMs }));
  return results;
}

/** The README table from every run folder under `dir` that has a results.json, oldest first; runs shorter than minTimeS left out. */
export function runsTable(dir: string, minTimeS = 0): string {
  const folders = fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
  const rows: string[] = [TABLE_HEADER];
  for (const name of folders) {
    const file = path.join(dir, name, 'results.json');
    if (!fs.existsSync(file)) continue;
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as Results;
    if (r.meta.timeS < minTimeS) continue;
    rows.push(tableLine(tableRow(name, r)));
  }
  return rows.join('\n');
}
