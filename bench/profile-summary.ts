// Summarizes V8 .cpuprofile files (node --cpu-prof): the functions with the most self time, the
// same functions' inclusive time, and where the time went by area (our raft/, cluster/, src/,
// each package, Node internals, GC, idle).
//
//   node dist/bench/profile-summary.js [--top 25] [--skip-ms 3000] [--callers writeBuffer] docs/perf/profiles/*.cpuprofile

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionCost {
  key: string;
  area: string;
  selfMs: number;
  totalMs: number;
}

export interface ProfileSummary {
  file: string;
  wallMs: number;
  busyMs: number;
  functions: FunctionCost[];
  areas: { area: string; selfMs: number }[];
  /** For each function asked about: which callers its self time came through (ms). */
  callers: Map<string, { caller: string; selfMs: number }[]>;
}

/** Shortens a script URL to something a reader recognizes: dist/raft/raft.js, msgpackr, node:net. */
function shortUrl(url: string): string {
  if (url === '') return '';
  if (url.startsWith('node:')) return url;
  const file = url.replace(/^file:\/\//, '');
  const nm = file.lastIndexOf('node_modules/');
  if (nm >= 0) return file.slice(nm + 'node_modules/'.length);
  const dist = file.lastIndexOf('/dist/');
  if (dist >= 0) return file.slice(dist + 1);
  return path.basename(file);
}

function areaOf(frame: CallFrame): string {
  const name = frame.functionName;
  if (name === '(idle)' || name === '(program)' || name === '(garbage collector)' || name === '(root)') return name;
  const url = shortUrl(frame.url);
  if (url === '') return '(native / V8 builtins)';
  if (url.startsWith('node:')) return 'node internals';
  const dist = /^dist\/([^/]+)\//.exec(url);
  if (dist) return `raftq ${dist[1]}/`;
  const pkg = /^(@[^/]+\/[^/]+|[^/]+)\//.exec(url);
  return pkg ? `package ${pkg[1]}` : url;
}

function keyOf(frame: CallFrame): string {
  const url = shortUrl(frame.url);
  return `${frame.functionName || '(anonymous)'} ${url ? `${url}:${frame.lineNumber + 1}` : ''}`.trim();
}

/**
 * `skipMs` drops the first milliseconds of the profile (process start: module loading, commander)
 * so the figures describe the steady state. `callersOf` lists functions (by name prefix) whose
 * self time is broken down by the nearest caller outside Node internals and native code.
 */
export function summarize(file: string, skipMs = 0, callersOf: string[] = []): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  let skippedUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t - profile.startTime < skipMs * 1000) {
      skippedUs += delta;
      continue;
    }
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const callers = new Map<string, Map<string, number>>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const key = keyOf(node.callFrame);
    const asked = callersOf.find((prefix) => key.startsWith(prefix));
    if (!asked) continue;
    let p = parentOf.get(id);
    while (p !== undefined) {
      const frame = byId.get(p)!.callFrame;
      const area = areaOf(frame);
      if (area !== 'node internals' && area !== '(native / V8 builtins)' && !area.startsWith('package')) break;
      p = parentOf.get(p);
    }
    const caller = p !== undefined ? keyOf(byId.get(p)!.callFrame) : '(root)';
    const m = callers.get(key) ?? new Map<string, number>();
    m.set(caller, (m.get(caller) ?? 0) + us / 1000);
    callers.set(key, m);
  }
  const self = new Map<string, FunctionCost>();
  const cost = (frame: CallFrame): FunctionCost => {
    const key = keyOf(frame);
    let c = self.get(key);
    if (!c) self.set(key, (c = { key, area: areaOf(frame), selfMs: 0, totalMs: 0 }));
    return c;
  };
  // Inclusive time: a node's self time counts once for every distinct function on its stack.
  const root = profile.nodes[0]!;
  const walk = (node: ProfileNode, stack: Set<string>): number => {
    let total = selfUs.get(node.id) ?? 0;
    const c = cost(node.callFrame);
    c.selfMs += (selfUs.get(node.id) ?? 0) / 1000;
    const fresh = !stack.has(c.key);
    if (fresh) stack.add(c.key);
    for (const child of node.children ?? []) total += walk(byId.get(child)!, stack);
    if (fresh) {
      stack.delete(c.key);
      c.totalMs += total / 1000;
    }
    return total;
  };
  walk(root, new Set());
  const functions = [...self.values()];
  const areas = new Map<string, number>();
  for (const f of functions) areas.set(f.area, (areas.get(f.area) ?? 0) + f.selfMs);
  const idleMs = functions.filter((f) => f.area === '(idle)').reduce((a, f) => a + f.selfMs, 0);
  const wallMs = (profile.endTime - profile.startTime - skippedUs) / 1000;
  return {
    file,
    wallMs,
    busyMs: wallMs - idleMs,
    callers: new Map([...callers].map(([k, m]) => [k, [...m].map(([caller, selfMs]) => ({ caller, selfMs })).sort((a, b) => b.selfMs - a.selfMs)])),
    functions: functions.filter((f) => !f.area.startsWith('(idle)') && !f.area.startsWith('(root)')).sort((a, b) => b.selfMs - a.selfMs),
    areas: [...areas.entries()].map(([area, selfMs]) => ({ area, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}

export function renderSummary(s: ProfileSummary, top: number): string {
  const pct = (ms: number): string => `${((100 * ms) / Math.max(1, s.busyMs)).toFixed(1)}%`;
  const lines = [
    `### ${path.basename(s.file)}`,
    '',
    `wall ${(s.wallMs / 1000).toFixed(1)} s, on CPU ${(s.busyMs / 1000).toFixed(1)} s (${((100 * s.busyMs) / Math.max(1, s.wallMs)).toFixed(0)}%); percentages are of on-CPU time.`,
    '',
    '| area | self ms | self % |',
    '|---|---:|---:|',
    ...s.areas.filter((a) => a.area !== '(idle)').slice(0, 12).map((a) => `| ${a.area} | ${a.selfMs.toFixed(0)} | ${pct(a.selfMs)} |`),
    '',
    '| function (file:line) | self ms | self % | total ms | total % |',
    '|---|---:|---:|---:|---:|',
    ...s.functions.slice(0, top).map((f) => `| \`${f.key}\` | ${f.selfMs.toFixed(0)} | ${pct(f.selfMs)} | ${f.totalMs.toFixed(0)} | ${pct(f.totalMs)} |`),
    '',
  ];
  for (const [key, list] of s.callers) {
    lines.push(`Self time of \`${key}\` by nearest raftq caller:`, '');
    for (const c of list.slice(0, 8)) lines.push(`- \`${c.caller}\`: ${c.selfMs.toFixed(0)} ms (${pct(c.selfMs)})`);
    lines.push('');
  }
  return lines.join('\n');
}

function main(): void {
  const args = process.argv.slice(2);
  let top = 25;
  let skipMs = 0;
  const callersOf: string[] = [];
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') top = Number(args[++i]);
    else if (args[i] === '--skip-ms') skipMs = Number(args[++i]);
    else if (args[i] === '--callers') callersOf.push(args[++i]!);
    else files.push(args[i]!);
  }
  if (files.length === 0) {
    console.error('usage: node dist/bench/profile-summary.js [--top N] [--skip-ms MS] [--callers FUNCTION]... file.cpuprofile...');
    process.exit(2);
  }
  for (const file of files) process.stdout.write(`${renderSummary(summarize(file, skipMs, callersOf), top)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
