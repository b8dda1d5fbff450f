import { describe, expect, it } from 'vitest';
import { JobStateMachine } from '../../src/jobs/state-machine.js';
import type { Command, EntryBatch, EnqueueSpec, Envelope, Outcome, WireLeasedJob as LeasedJob } from '../../src/jobs/types.js';
import { bytes, prng, T0 } from './harness.js';

const QUEUES = ['emails', 'images', 'reports', 'webhooks'];
const DAY_MS = 24 * 60 * 60 * 1000;

interface LogEntry {
  index: number;
  batch: EntryBatch;
}

/**
 * Generates a random-ish but seeded log by driving a state machine: commands depend on earlier
 * outcomes (tokens of leases, ids of jobs), as a real workload's would. Stale tokens, retried
 * (clientId, seq) pairs, malformed commands and long pauses are all part of the mix.
 */
function generateLog(seed: number, entries: number): LogEntry[] {
  const rand = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
  const machine = new JobStateMachine();
  const log: LogEntry[] = [];
  const held: LeasedJob[] = [];
  const oldTokens: LeasedJob[] = [];
  const ids: string[] = [];
  const seqs = new Map<string, number>();
  let nowMs = T0;
  let index = 0;

  const spec = (): EnqueueSpec => {
    const s: EnqueueSpec = { queue: pick(QUEUES), priority: Math.floor(rand() * 10), payload: bytes({ n: Math.floor(rand() * 1e6), tag: pick(['a', 'b']) }) };
    if (rand() < 0.2) s.delayMs = Math.floor(rand() * 20_000);
    if (rand() < 0.1) s.idempotencyKey = `key-${Math.floor(rand() * 20)}`;
    if (rand() < 0.1) s.id = `client-${Math.floor(rand() * 200)}`;
    if (rand() < 0.3) s.maxAttempts = 1 + Math.floor(rand() * 4);
    if (rand() < 0.2) s.backoff = { baseMs: 100 + Math.floor(rand() * 1000), jitter: rand() };
    if (rand() < 0.3) s.leaseMs = 1000 + Math.floor(rand() * 10_000);
    return s;
  };

  const command = (): Command => {
    const r = rand();
    if (r < 0.22) return { op: 'enqueue', jobs: Array.from({ length: 1 + Math.floor(rand() * 3) }, spec) };
    if (r < 0.4) {
      const queues = QUEUES.filter(() => rand() < 0.6);
      return { op: 'lease', workerId: `w${Math.floor(rand() * 5)}`, queues: queues.length > 0 ? queues : ['emails'], max: 1 + Math.floor(rand() * 2), ...(rand() < 0.3 ? { leaseMs: 500 + Math.floor(rand() * 5000) } : {}) };
    }
    const job = rand() < 0.85 ? held[Math.floor(rand() * held.length)] : oldTokens[Math.floor(rand() * oldTokens.length)];
    if (r < 0.62 && job !== undefined) return { op: 'ack', jobId: job.id, token: job.token, result: bytes({ ok: rand() }) };
    if (r < 0.72 && job !== undefined) return { op: 'fail', jobId: job.id, token: job.token, error: `e${Math.floor(rand() * 9)}`, retryable: rand() < 0.7 };
    if (r < 0.77 && job !== undefined) return { op: 'heartbeat', jobId: job.id, token: job.token };
    if (r < 0.8 && ids.length > 0) return { op: 'cancel', jobId: pick(ids) };
    if (r < 0.82) return { op: rand() < 0.3 ? 'pause' : 'resume', queue: pick(QUEUES) };
    if (r < 0.84) return { op: 'dlqRetry', queue: pick(QUEUES), ...(rand() < 0.5 ? { max: 1 + Math.floor(rand() * 3) } : {}) };
    if (r < 0.85) return { op: 'dlqPurge', queue: pick(QUEUES), max: 1 };
    if (r < 0.86) return { op: 'enqueue', jobs: [{ queue: 'bad queue name' }] };
    if (r < 0.87) {
      // Schedules fire inside ticks: by interval, or by cron (some every minute, one never).
      const timing = rand() < 0.5 ? { everyMs: 1000 + Math.floor(rand() * 20_000) } : { cron: pick(['* * * * *', '*/2 * * * *', '0 0 30 2 *', '@hourly']) };
      return { op: 'scheduleSet', queue: pick(QUEUES), scheduleId: `s${Math.floor(rand() * 4)}`, job: { payload: bytes({ s: Math.floor(rand() * 9) }), priority: Math.floor(rand() * 10) }, ...timing };
    }
    if (r < 0.872) return { op: 'scheduleRemove', queue: pick(QUEUES), scheduleId: `s${Math.floor(rand() * 4)}` };
    return { op: 'tick' };
  };

  const lastSent = new Map<string, Envelope>();
  const envelope = (): Envelope => {
    const clientId = `client-${Math.floor(rand() * 6)}`;
    // Now and then a client resends its last request (a failover), which must apply once.
    const previous = lastSent.get(clientId);
    if (previous !== undefined && rand() < 0.05) return { ...previous, retry: true } as Envelope;
    const cmd = command();
    if (cmd.op === 'tick' || rand() < 0.1) return { clientId: '', seq: 0, cmd };
    const seq = (seqs.get(clientId) ?? 0) + 1;
    seqs.set(clientId, seq);
    const env: Envelope = { clientId, seq, cmd };
    lastSent.set(clientId, env);
    return env;
  };

  const learn = (outcome: Outcome, env: Envelope): void => {
    if (!outcome.ok || 'retry' in env) return;
    const cmd = env.cmd;
    if (cmd.op === 'enqueue') ids.push(...(outcome.value as { ids: string[] }).ids);
    if (cmd.op === 'lease') held.push(...(outcome.value as { jobs: LeasedJob[] }).jobs);
    if (cmd.op === 'ack' || cmd.op === 'fail') {
      const at = held.findIndex((j) => j.token === cmd.token);
      if (at >= 0) oldTokens.push(...held.splice(at, 1));
    }
  };

  for (let e = 0; e < entries; e++) {
    const r = rand();
    nowMs += r < 0.01 ? Math.floor(rand() * 3 * DAY_MS) : Math.floor(rand() * 3000);
    const envelopes = Array.from({ length: 1 + Math.floor(rand() * 4) }, envelope);
    index += 1 + (rand() < 0.05 ? 1 : 0); // entries the state machine never sees (no-ops) leave gaps
    const batch: EntryBatch = { nowMs, envelopes };
    log.push({ index, batch });
    machine.applyBatch(index, batch).forEach((o, i) => learn(o, envelopes[i] as Envelope));
    if (held.length > 50) oldTokens.push(...held.splice(0, 10));
  }
  return log;
}

function replay(machine: JobStateMachine, log: LogEntry[]): Outcome[][] {
  // A deep copy per apply: replicas never share objects, they each decode their own entry.
  return log.map(({ index, batch }) => machine.applyBatch(index, structuredClone(batch)));
}

describe('determinism', () => {
  for (const seed of [1, 2, 3, 42, 2024]) {
    it(`two replicas applying the same generated log (seed ${seed}) hold byte-identical snapshots`, () => {
      const log = generateLog(seed, 3000);
      const a = new JobStateMachine();
      const b = new JobStateMachine();
      const checkpoints = [500, 1500, 3000];
      let from = 0;
      for (const to of checkpoints) {
        const outA = replay(a, log.slice(from, to));
        const outB = replay(b, log.slice(from, to));
        expect(outB, `seed ${seed}: outcomes of entries ${from}..${to}`).toEqual(outA);
        expect(Buffer.from(b.snapshot()).equals(Buffer.from(a.snapshot())), `seed ${seed}: snapshots at entry ${to}`).toBe(true);
        expect(b.stateHash()).toBe(a.stateHash());
        from = to;
      }
      expect(a.lastAppliedIndex).toBe(log[log.length - 1]?.index);
      expect(a.jobCount).toBeGreaterThan(0);
    });

    it(`snapshot -> restore -> continue gives the same state as never snapshotting (seed ${seed})`, () => {
      const log = generateLog(seed, 3000);
      const straight = new JobStateMachine();
      replay(straight, log);

      const first = new JobStateMachine();
      replay(first, log.slice(0, 1234));
      const bytes = first.snapshot();
      const restored = JobStateMachine.restore(bytes);
      expect(Buffer.from(restored.snapshot()).equals(Buffer.from(bytes)), 'restore then snapshot gives identical bytes').toBe(true);
      expect(restored.lastAppliedIndex).toBe(first.lastAppliedIndex);

      const outFirst = replay(first, log.slice(1234));
      const outRestored = replay(restored, log.slice(1234));
      expect(outRestored).toEqual(outFirst);
      expect(restored.stateHash()).toBe(straight.stateHash());
      expect(first.stateHash()).toBe(straight.stateHash());
      expect(restored.nextDueMs()).toBe(straight.nextDueMs());
      expect(restored.listQueues()).toEqual(straight.listQueues());
      expect(restored.listSchedules()).toEqual(straight.listSchedules());
      // The count the enqueue limit is decided on is replicated state too: kept as it goes, or rebuilt by a restore.
      expect(restored.stateBytes).toEqual(straight.stateBytes);
      expect(first.stateBytes).toEqual(straight.stateBytes);
      expect(JobStateMachine.restore(straight.snapshot()).stateBytes).toEqual(straight.stateBytes);
      expect(restored.sessionResultBytes).toBe(straight.sessionResultBytes);
      expect(JobStateMachine.restore(straight.snapshot()).sessionResultBytes).toBe(straight.sessionResultBytes);
    });
  }

  it('the generated workload exercises every transition', () => {
    const machine = new JobStateMachine();
    replay(machine, generateLog(7, 3000));
    const sum: Record<string, number> = {};
    for (const q of machine.listQueues()) {
      for (const [key, n] of [...Object.entries(q.counts), ...Object.entries(q.totals).map(([k, v]) => [`total.${k}`, v] as const)]) sum[key] = (sum[key] ?? 0) + n;
    }
    console.log('seed 7: counts and totals over all queues', sum);
    for (const key of ['waiting', 'cancelled', 'total.enqueued', 'total.completed', 'total.failed', 'total.retried', 'total.dead', 'total.expired']) {
      expect(sum[key], key).toBeGreaterThan(0);
    }
    const schedules = machine.listSchedules();
    console.log(`seed 7: ${schedules.length} schedules, ${schedules.reduce((n, s) => n + s.runs, 0)} firings`);
    expect(schedules.some((s) => s.runs > 0 && s.lastJobId !== null)).toBe(true);
  });
});
