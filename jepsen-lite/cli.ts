#!/usr/bin/env node
// `npm run jepsen -- …`: a run against real node processes behind Toxiproxy, a replay of a
// recorded history through the checkers, or the table of many runs for the README.
//
//   npm run jepsen -- --nodes 5 --time 120 --nemesis partition,kill,pause --rate 500 --seed 42
//   npm run jepsen -- --replay runs/20250101-120000-42
//   npm run jepsen -- --table runs/

import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { checkAll, type CheckResult } from './checkers.js';
import { readHistory } from './history.js';
import { runsTable, writeReport, type Results, type RunMeta } from './report.js';
import { runJepsen, SNAPSHOT_EVERY_DEFAULT } from './run.js';
import { ALL_NEMESES, FAULTS, GROUPS, parseNemeses } from './schedule.js';

function integer(min: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}

export function printCheckers(checkers: CheckResult[], out: NodeJS.WritableStream = process.stdout): void {
  for (const c of checkers) {
    const counts = Object.entries(c.counts).map(([k, v]) => `${k}=${v}`).join(' ');
    out.write(`  ${c.valid ? 'ok     ' : 'INVALID'} ${c.name.padEnd(24)} ${counts}\n`);
    if (!c.valid) for (const e of c.examples.slice(0, 5)) out.write(`          - ${e}\n`);
  }
}

function replay(folder: string, rewrite: boolean): number {
  const historyFile = path.join(folder, 'history.jsonl');
  const ops = readHistory(historyFile);
  const checkers = checkAll(ops);
  const valid = checkers.every((c) => c.valid);
  process.stdout.write(`${historyFile}: ${ops.length} ops, ${valid ? 'VALID' : 'INVALID'}\n`);
  printCheckers(checkers);
  if (rewrite) {
    const resultsFile = path.join(folder, 'results.json');
    if (!fs.existsSync(resultsFile)) throw new Error(`${resultsFile} is missing: --rewrite needs the run's settings from it`);
    const meta = (JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as Results).meta as RunMeta;
    writeReport(folder, ops, meta);
    process.stdout.write(`rewrote results.json, report.md and timeline.svg in ${folder}\n`);
  }
  return valid ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name('jepsen-lite')
    .description('Fault injection against real raftq node processes behind Toxiproxy, with history checkers.')
    .option('--nodes <n>', 'cluster size (3 or 5)', integer(1), 3)
    .option('--time <s>', 'workload duration in seconds (faults included; healing, drain and checks come after)', integer(1), 60)
    .option('--nemesis <names>', `comma-separated: ${[...Object.keys(GROUPS), ...FAULTS, 'all'].join(', ')}`, 'partition,kill,pause')
    .option('--rate <n>', 'target enqueues per second over all producers', integer(1), 100)
    .option('--seed <n>', 'seed of the whole run (schedule, victims, workload choices); default random', integer(0))
    .option('--runs-dir <dir>', 'where run folders go', 'runs')
    .option('--proxy-clients', 'route client links through proxies as well', false)
    .option('--keep-data', 'keep node data directories under the run folder', false)
    .option('--node-log-level <level>', 'log level of every node (their logs are copied to <run>/logs/)', 'warn')
    .option('--snapshot-every <n>', 'snapshot interval (entries) of every node', integer(100), SNAPSHOT_EVERY_DEFAULT)
    .option('--leader-snapshot-pause-max-ms <ms>', "every node's --leader-snapshot-pause-max-ms (1: a leader hands leadership over before nearly every snapshot)", integer(0))
    .option('--toxiproxy-url <url>', 'a running Toxiproxy to use (default: TOXIPROXY_URL, toxiproxy-server on PATH, else our own)')
    .option('--our-toxiproxy', 'use our Toxiproxy-compatible server even when a real one is available', false)
    .option('--no-progress', 'no live progress line')
    .option('--replay <folder>', 're-check the history recorded in a run folder')
    .option('--rewrite', 'with --replay: also rewrite results.json, report.md and timeline.svg', false)
    .option('--table <dir>', 'print the README table of every run folder under <dir>')
    .option('--min-time <s>', 'with --table: only runs of at least this many seconds', integer(0), 0)
    .showHelpAfterError();
  program.parse(argv);
  const o = program.opts<{
    nodes: number; time: number; nemesis: string; rate: number; seed?: number; runsDir: string; proxyClients: boolean; keepData: boolean;
    snapshotEvery: number; leaderSnapshotPauseMaxMs?: number; toxiproxyUrl?: string; ourToxiproxy: boolean; progress: boolean; replay?: string; rewrite: boolean; table?: string; minTime: number; nodeLogLevel: string;
  }>();
  if (o.table !== undefined) {
    process.stdout.write(`${runsTable(o.table, o.minTime)}\n`);
    return 0;
  }
  if (o.replay !== undefined) return replay(o.replay, o.rewrite);
  const nemeses = parseNemeses(o.nemesis.split(','));
  const seed = o.seed ?? Math.floor(Math.random() * 1_000_000);
  process.stderr.write(`jepsen-lite: ${o.nodes} nodes, ${o.time} s, nemeses ${nemeses.join(',')} (all = ${ALL_NEMESES.join(',')}), rate ${o.rate}/s, seed ${seed}\n`);
  const { folder, results } = await runJepsen({
    nodes: o.nodes,
    timeS: o.time,
    nemeses,
    rate: o.rate,
    seed,
    runsDir: o.runsDir,
    proxyClients: o.proxyClients,
    keepData: o.keepData,
    snapshotEvery: o.snapshotEvery,
    leaderSnapshotPauseMaxMs: o.leaderSnapshotPauseMaxMs,
    toxiproxyUrl: o.toxiproxyUrl,
    forceOurToxiproxy: o.ourToxiproxy,
    progress: o.progress,
    nodeLogLevel: o.nodeLogLevel,
  });
  process.stdout.write(`${results.valid ? 'VALID' : 'INVALID'}: ${folder}\n`);
  printCheckers(results.checkers);
  for (const note of results.meta.notes) process.stdout.write(`  note: ${note}\n`);
  process.stdout.write(`report: ${path.join(folder, 'report.md')}\nreplay: ${results.meta.replay}\n`);
  return results.valid ? 0 : 1;
}

// Ctrl-C or a batch killed by PID: exit through process.exit so processes.ts's exit hook SIGKILLs every node we started.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`jepsen-lite: ${signal}, stopping every node\n`);
    process.exit(130);
  });
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`jepsen-lite: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exitCode = 2;
  },
);
