// A repeatable job under faults: before the workload a schedule is set to fire every second into
// a queue no worker takes; after healing its firings are read back and it is removed. Each firing
// must have enqueued exactly one job, and no more firings may have happened than the time allows
// (a firing is part of the log: a failover must neither repeat nor invent one).
// checkScheduleFirings judges.

import { RaftqError } from '../src/errors.js';
import { Transport } from '../src/client/transport.js';
import type { ClusterUnderTest } from './cluster-under-test.js';
import type { HistoryWriter, ScheduleProbe } from './history.js';

export const SCHEDULE_PROBE: ScheduleProbe = { queue: 'jl-schedule', scheduleId: 'every-second', everyMs: 1000 };

function transport(cluster: ClusterUnderTest): Transport {
  return new Transport({ nodes: cluster.clientAddresses(), requestTimeoutMs: 5_000, retry: { attempts: 20, baseMs: 50, capMs: 1_000 } });
}

function message(error: unknown): string {
  return error instanceof RaftqError ? `${error.code}: ${error.message}` : String(error);
}

/** Sets the probe's schedule; records `schedule-set`. */
export async function setScheduleProbe(cluster: ClusterUnderTest, history: HistoryWriter): Promise<void> {
  const t = transport(cluster);
  const probe = SCHEDULE_PROBE;
  try {
    await t.call('scheduleSet', { queue: probe.queue, scheduleId: probe.scheduleId, everyMs: probe.everyMs, job: {} });
    history.record({ type: 'ok', f: 'schedule-set', process: -1, timeMs: history.now(), value: probe });
  } catch (error) {
    history.record({ type: 'fail', f: 'schedule-set', process: -1, timeMs: history.now(), value: probe, error: message(error) });
  } finally {
    await t.close();
  }
}

/** Tries to read a schedule and its queue's total with no firing between them. */
const BRACKETED_READ_TRIES_MAX = 10;

/** Reads the schedule and its queue's total back (linearizably); records `schedule-final`. */
export async function recordScheduleProbe(cluster: ClusterUnderTest, history: HistoryWriter): Promise<void> {
  const t = transport(cluster);
  const probe = SCHEDULE_PROBE;
  const runsNow = async (): Promise<{ runs: number; refused: number }> => {
    const { schedule } = await t.call('schedule', { queue: probe.queue, scheduleId: probe.scheduleId });
    if (schedule === null) throw new Error('the schedule is gone');
    return schedule;
  };
  try {
    for (let attempt = 1; ; attempt++) {
      // Two reads of the schedule around the queue's: equal, no firing came between.
      const before = await runsNow();
      const stats = await t.call('stats', { queue: probe.queue }).catch((error: unknown) => {
        if (error instanceof RaftqError && error.code === 'NOT_FOUND') return null;
        throw error;
      });
      const after = await runsNow();
      if (after.runs === before.runs) {
        history.record({ type: 'ok', f: 'schedule-final', process: -1, timeMs: history.now(), value: { ...probe, runs: after.runs, refused: after.refused, enqueued: stats?.totals.enqueued ?? 0 } });
        // Removed once read, so the state holds still while the nodes' hashes are compared (if the
        // removal fails, convergence only takes longer to observe).
        await t.call('scheduleRemove', { queue: probe.queue, scheduleId: probe.scheduleId }).catch(() => undefined);
        return;
      }
      if (attempt >= BRACKETED_READ_TRIES_MAX) throw new Error(`the schedule fired during each of ${attempt} reads`);
    }
  } catch (error) {
    history.record({ type: 'fail', f: 'schedule-final', process: -1, timeMs: history.now(), value: { ...probe, runs: 0, refused: 0, enqueued: 0 }, error: message(error) });
  } finally {
    await t.close();
  }
}
