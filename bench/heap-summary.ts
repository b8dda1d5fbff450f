// Where a node's heap goes: sums the self size of every object in a V8 .heapsnapshot by type and
// constructor, largest first, and divides by a job count to give bytes per queued job.
//
//   node --heapsnapshot-signal=SIGUSR2 dist/cluster/main.js node ...   (then kill -USR2 <pid>)
//   node dist/bench/heap-summary.js Heap.*.heapsnapshot --jobs 100000

import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: (string[] | string)[] } };
  nodes: number[];
  strings: string[];
}

export interface HeapGroup {
  group: string;
  count: number;
  bytes: number;
}

export function summarizeHeap(file: string): { totalBytes: number; groups: HeapGroup[] } {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as HeapSnapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0] as string[];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, HeapGroup>();
  let totalBytes = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!]!;
    const bytes = snap.nodes[i + sizeAt]!;
    // Objects group by constructor; strings, numbers, code and arrays by their type alone.
    const name = type === 'object' || type === 'native' || type === 'closure' ? snap.strings[snap.nodes[i + nameAt]!]! : '';
    const group = name ? `${type} ${name}` : type;
    let g = groups.get(group);
    if (!g) groups.set(group, (g = { group, count: 0, bytes: 0 }));
    g.count += 1;
    g.bytes += bytes;
    totalBytes += bytes;
  }
  return { totalBytes, groups: [...groups.values()].sort((a, b) => b.bytes - a.bytes) };
}

function main(): void {
  const args = process.argv.slice(2);
  let jobs = 0;
  let top = 25;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--jobs') jobs = Number(args[++i]);
    else if (args[i] === '--top') top = Number(args[++i]);
    else files.push(args[i]!);
  }
  if (files.length === 0) {
    console.error('usage: node dist/bench/heap-summary.js [--jobs N] [--top N] file.heapsnapshot...');
    process.exit(2);
  }
  for (const file of files) {
    const { totalBytes, groups } = summarizeHeap(file);
    const per = (b: number): string => (jobs > 0 ? ` | ${(b / jobs).toFixed(1)}` : '');
    console.log(`### ${file}\n\nlive heap ${(totalBytes / 2 ** 20).toFixed(1)} MB${jobs > 0 ? `, ${(totalBytes / jobs).toFixed(0)} bytes per job (${jobs} jobs)` : ''}\n`);
    console.log(`| type, constructor | objects | MB${jobs > 0 ? ' | bytes/job' : ''} |`);
    console.log(`|---|---:|---:|${jobs > 0 ? '---:|' : ''}`);
    for (const g of groups.slice(0, top)) console.log(`| ${g.group} | ${g.count} | ${(g.bytes / 2 ** 20).toFixed(1)}${per(g.bytes)} |`);
    console.log('');
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
