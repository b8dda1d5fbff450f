// `raftq schedule`: repeatable jobs (set, ls, rm). A schedule enqueues its job every interval or at
// the minutes of a cron expression (UTC); the cluster fires it, so no process of ours need run.

import type { Command } from 'commander';
import type { ScheduleOptions, ScheduleSummary } from '../client/client.js';
import { RaftqError } from '../errors.js';
import { print, withClient } from './commands.js';
import { formatTime, parseDurationMs, parseJsonArg, table } from './format.js';

/** "every 5m", "cron 0 3 * * *": how a schedule fires, for the listing. */
function timing(s: Pick<ScheduleSummary, 'cron' | 'everyMs'>): string {
  return s.cron !== null ? `cron ${s.cron}` : `every ${formatEvery(s.everyMs ?? 0)}`;
}

function formatEvery(ms: number): string {
  for (const [unitMs, unit] of [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'm'], [1000, 's']] as const) {
    if (ms % unitMs === 0) return `${ms / unitMs}${unit}`;
  }
  return `${ms}ms`;
}

/** An ISO time, a duration from now with its unit ("10m"), or epoch milliseconds. */
function parseStart(text: string): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  if (/^\d+(?:\.\d+)?(ms|s|m|h|d)$/.test(trimmed)) return Date.now() + parseDurationMs(trimmed);
  const ms = Date.parse(trimmed);
  if (Number.isNaN(ms)) throw new Error(`--start: not a time or a duration: "${text}" (use e.g. 2026-12-08T03:00:00Z, 10m, or epoch ms)`);
  return ms;
}

export function registerScheduleCommands(program: Command): void {
  const schedule = program.command('schedule').description('repeatable jobs: enqueue a job every interval, or at the times of a cron expression (UTC)');

  schedule
    .command('set <queue> <scheduleId> [payload]')
    .description('create or replace a schedule; [payload] is JSON')
    .option('--every <duration>', 'fire every this long (at least 1s; e.g. 30s, 5m, 1h, 1d)')
    .option('--cron <expression>', "fire at the minutes of a 5-field cron expression, in UTC (e.g. '0 3 * * *', '*/15 * * * *', @daily)")
    .option('--start <time>', 'not before this time: ISO 8601, epoch ms, or a duration from now (e.g. 10m)')
    .option('--priority <p>', '0..9 (9 highest) or low|normal|high')
    .option('--max-attempts <n>', 'attempts of each job before it goes to the dead-letter queue')
    .option('--name <name>', 'job name')
    .option('--lease <duration>', 'visibility timeout of each attempt')
    .action(async (queue: string, scheduleId: string, payloadText: string | undefined, o: Record<string, string | undefined>, cmd: Command) => {
      if ((o.every === undefined) === (o.cron === undefined)) throw new Error('give exactly one of --every and --cron');
      const job: NonNullable<ScheduleOptions['job']> = {};
      if (payloadText !== undefined) job.payload = parseJsonArg(payloadText, 'payload');
      if (o.priority !== undefined) job.priority = /^\d+$/.test(o.priority) ? Number(o.priority) : (o.priority as 'low' | 'normal' | 'high');
      if (o.maxAttempts !== undefined) job.maxAttempts = Number(o.maxAttempts);
      if (o.name !== undefined) job.name = o.name;
      if (o.lease !== undefined) job.leaseMs = parseDurationMs(o.lease);
      const options: ScheduleOptions = o.every !== undefined ? { everyMs: parseDurationMs(o.every), job } : { cron: o.cron as string, job };
      if (o.start !== undefined) options.startAt = parseStart(o.start);
      await withClient(cmd, async (client, opts) => {
        const r = await client.schedules.set(queue, scheduleId, options);
        print(opts, r, () => `${r.created ? 'created' : 'replaced'} ${queue}/${scheduleId}; next run ${formatTime(r.nextRunAtMs)}`);
      });
    });

  schedule
    .command('ls [queue]')
    .description('list schedules (of one queue), with their next and last runs')
    .action(async (queue: string | undefined, _o: unknown, cmd: Command) => {
      await withClient(cmd, async (client, opts) => {
        const schedules = await client.schedules.list(queue);
        print(opts, schedules, () =>
          schedules.length === 0
            ? 'no schedules'
            : table(
                ['queue', 'schedule', 'timing', 'next run', 'last run', 'runs', 'refused', 'last job'],
                schedules.map((s) => [s.queue, s.scheduleId, timing(s), formatTime(s.nextRunAtMs), formatTime(s.lastRunAtMs), s.runs, s.refused, s.lastJobId]),
              ),
        );
      });
    });

  schedule
    .command('show <queue> <scheduleId>')
    .description('one schedule, with its job and payload')
    .action(async (queue: string, scheduleId: string, _o: unknown, cmd: Command) => {
      await withClient(cmd, async (client, opts) => {
        const s = await client.schedules.get(queue, scheduleId);
        if (s === null) throw new RaftqError('NOT_FOUND', `no schedule ${queue}/${scheduleId}`);
        print(opts, s, () =>
          table(
            ['field', 'value'],
            [
              ['schedule', `${s.queue}/${s.scheduleId}`], ['timing', timing(s)], ['next run', formatTime(s.nextRunAtMs)],
              ['last run', formatTime(s.lastRunAtMs)], ['runs', s.runs], ['refused', s.refused], ['last job', s.lastJobId],
              ['created', formatTime(s.createdAtMs)], ['updated', formatTime(s.updatedAtMs)], ['job', JSON.stringify(s.job)],
            ],
          ),
        );
      });
    });

  schedule
    .command('rm <queue> <scheduleId>')
    .description('remove a schedule (jobs it already enqueued stay)')
    .action(async (queue: string, scheduleId: string, _o: unknown, cmd: Command) => {
      await withClient(cmd, async (client, opts) => {
        const removed = await client.schedules.remove(queue, scheduleId);
        print(opts, { removed }, () => (removed ? `removed ${queue}/${scheduleId}` : `no schedule ${queue}/${scheduleId}`));
      });
    });
}
