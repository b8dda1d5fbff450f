// The human-readable end of `raftq bench`: one block per result, figures aligned.

import type { Percentiles } from './histogram.js';
import type { BenchResult } from './scenarios.js';

const n0 = (x: number): string => Math.round(x).toLocaleString('en-US');
const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

function pct(p: Percentiles): string {
  return `p50 ${ms(p.p50)}  p95 ${ms(p.p95)}  p99 ${ms(p.p99)}  max ${ms(p.max)}`;
}

function rss(r: Record<string, number | null>): string {
  const parts = Object.entries(r).map(([id, mb]) => `${id} ${mb === null ? 'n/a' : mb.toFixed(1)}`);
  return parts.length > 0 ? parts.join('  ') : 'n/a';
}

export function formatResult(r: BenchResult): string {
  const rows: [string, string][] = [
    ['scenario', `${r.scenario}, ${r.nodes} node${r.nodes === 1 ? '' : 's'}, ${n0(r.jobs)} jobs, concurrency ${r.concurrency}, payload ${r.payloadBytes} B`],
    ['throughput', `${n0(r.jobsPerSec)} jobs/s  (${r.seconds.toFixed(2)} s)`],
  ];
  if (r.scenario !== 'memory' && r.scenario !== 'catchup') rows.push(['latency ms', `${pct(r.latencyMs)}  (${r.latencyOf})`]);
  if (r['ackLatencyMs']) rows.push(['latency ms', `${pct(r['ackLatencyMs'] as Percentiles)}  (submit call → ack committed)`]);
  if (r['submitLatencyMs']) rows.push(['latency ms', `${pct(r['submitLatencyMs'] as Percentiles)}  (submit call → enqueue committed)`]);
  if (r['prefillJobsPerSec'] !== undefined) rows.push(['prefill', `${n0(r['prefillJobsPerSec'] as number)} jobs/s (submitMany)`]);
  for (const level of (r['backlog'] as { queued: number; jobsPerSec: number; latencyMs: Percentiles; settleSeconds?: number | null }[] | undefined) ?? []) {
    const settled = typeof level.settleSeconds === 'number' ? `  (after ${level.settleSeconds.toFixed(1)} s for the prefill to settle)` : '';
    rows.push([`${n0(level.queued)} queued`, `${n0(level.jobsPerSec)} jobs/s  ${pct(level.latencyMs)}${settled}`]);
  }
  if (r['largestVsSmallest'] !== undefined) rows.push(['largest/smallest', `${((r['largestVsSmallest'] as number) * 100).toFixed(1)}% of the throughput`]);
  const failover = r['failover'] as { recoveryMs: { p50: number; max: number; each: number[] }; longestStallMs: number; submitLatencyMaxMs: number; failedSubmits: number; killed: string[] } | undefined;
  if (failover) {
    rows.push(['kill → submit', `p50 ${ms(failover.recoveryMs.p50)} ms  max ${ms(failover.recoveryMs.max)} ms  (each: ${failover.recoveryMs.each.map(ms).join(', ')}; killed ${failover.killed.join(', ')})`]);
    const elected = (r['failover'] as { newLeaderKnownMs?: { p50: number; max: number } }).newLeaderKnownMs;
    if (elected) rows.push(['kill → new leader', `p50 ${ms(elected.p50)} ms  max ${ms(elected.max)} ms  (a surviving node's /ready names the new leader)`]);
    rows.push(['longest stall', `${ms(failover.longestStallMs)} ms with no submit completing; slowest submit ${ms(failover.submitLatencyMaxMs)} ms; ${failover.failedSubmits} failed`]);
  }
  for (const level of (r['memory'] as { jobs: number; bytesPerJob: Record<string, number | null>; bytesPerJobBeyondPayload: Record<string, number | null> }[] | undefined) ?? []) {
    const per = Object.entries(level.bytesPerJob).map(([id, b]) => `${id} ${b ?? 'n/a'}`).join('  ');
    const beyond = Object.entries(level.bytesPerJobBeyondPayload).map(([id, b]) => `${id} ${b ?? 'n/a'}`).join('  ');
    rows.push([`${n0(level.jobs)} queued`, `bytes/job ${per}  | beyond payload ${beyond}`]);
  }
  const cost = r['costPerJob'] as Record<string, { cpuUs: number; readCalls: number | null; writeCalls: number | null }> | undefined;
  if (cost) {
    rows.push(['cpu µs/job', Object.entries(cost).map(([id, c]) => `${id} ${c.cpuUs.toFixed(0)}`).join('  ')]);
    const calls = Object.entries(cost).filter(([, c]) => c.writeCalls !== null);
    if (calls.length > 0) rows.push(['syscalls/job', calls.map(([id, c]) => `${id} ${c.writeCalls!.toFixed(2)} w ${c.readCalls!.toFixed(2)} r`).join('  ')]);
  }
  const snap = r['snapshot'] as { queuedJobs: number; index: number; askedToTakenMs: number; leaderBefore: string; leaderAfter: string | null; termBefore: number | null; termAfter: number; leadership: string; handoffs: number; probeFailed: number } | undefined;
  if (snap) {
    rows.push(['snapshot', `of the leader with ${n0(snap.queuedJobs)} jobs queued: asked → taken ${ms(snap.askedToTakenMs)} ms (index ${snap.index})`]);
    rows.push(['leadership', `${snap.leadership} (${snap.handoffs} handoffs): ${snap.leaderBefore} term ${snap.termBefore ?? '?'} → ${snap.leaderAfter ?? 'none'} term ${snap.termAfter}; ${snap.probeFailed} probe submits failed`]);
  }
  const catchup = r['catchup'] as { follower: string; commitIndex: number; snapshotIndex: number; snapshotBytes: number | null; snapshotsInstalled: number | null; catchUpSeconds: number; rssBeforeMb: Record<string, number | null>; peakRssMb: Record<string, number | null> } | undefined;
  if (catchup) {
    const image = catchup.snapshotBytes === null ? 'size n/a' : `${(catchup.snapshotBytes / (1024 * 1024)).toFixed(1)} MiB`;
    const installs = catchup.snapshotsInstalled === null ? 'installs n/a' : `${catchup.snapshotsInstalled} snapshot install${catchup.snapshotsInstalled === 1 ? '' : 's'}`;
    rows.push(['catch-up', `${catchup.follower} applied index ${catchup.commitIndex} ${catchup.catchUpSeconds.toFixed(2)} s after it started (${installs}; image at index ${catchup.snapshotIndex}, ${image})`]);
    rows.push(['rss MB before', rss(catchup.rssBeforeMb)]);
    rows.push(['rss MB peak', rss(catchup.peakRssMb)]);
  }
  const warmup = r['warmup'] as { jobs: number; seconds: number; settleSeconds: number | null } | null | undefined;
  if (warmup !== undefined) {
    const settled = warmup === null || warmup.settleSeconds === null ? '' : `, then ${warmup.settleSeconds.toFixed(1)} s until the nodes were idle`;
    rows.push(['warm-up', warmup === null ? 'none: cold processes (--warmup-jobs 0)' : `${n0(warmup.jobs)} jobs before measuring (${warmup.seconds.toFixed(1)} s, not counted${settled})`]);
  }
  rows.push(['rss MB', rss(r.rssMb)]);
  if (r['runs'] !== undefined) rows.push(['runs', `${r['runs']} (median by ${r['runsOf']}: ${(r['runsValues'] as number[]).map((v) => (v >= 100 ? n0(v) : ms(v))).join(', ')})`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return `${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}\n`;
}
