// The enqueue command: defaults, duplicate detection (client-given id, idempotency key), and
// leader-assigned ids.

import { LEASE_MS_DEFAULT, MAX_ATTEMPTS_DEFAULT, QUEUES_MAX, STATE_BYTES_PER_JOB } from '../limits.js';
import { JOB_NAME_DEFAULT, PRIORITY_DEFAULT } from './defaults.js';
import type { Cmd, EntryContext } from './entry-context.js';
import { ASSIGNED_IDS_PER_ENTRY_MAX, assignedJobId } from './ids.js';
import { BACKOFF_SHARED_DEFAULT, JobRecord } from './job-record.js';
import { badRequestOutcome, failure, ok } from './outcome.js';
import { storeBytes } from './stored-bytes.js';
import type { JobStore } from './store.js';
import type { Backoff, EnqueueSpec, Outcome } from './types.js';

function resolveBackoff(given: Partial<Backoff> | undefined | null): Readonly<Backoff> {
  if (given === undefined || given === null) return BACKOFF_SHARED_DEFAULT;
  const backoff = {
    baseMs: given.baseMs ?? BACKOFF_SHARED_DEFAULT.baseMs,
    capMs: given.capMs ?? BACKOFF_SHARED_DEFAULT.capMs,
    jitter: given.jitter ?? BACKOFF_SHARED_DEFAULT.jitter,
  };
  const isDefault = backoff.baseMs === BACKOFF_SHARED_DEFAULT.baseMs && backoff.capMs === BACKOFF_SHARED_DEFAULT.capMs && backoff.jitter === BACKOFF_SHARED_DEFAULT.jitter;
  return isDefault ? BACKOFF_SHARED_DEFAULT : backoff;
}

/** A job runs at runAtMs, else after delayMs, else now; a time already past means now. */
function resolveRunAtMs(spec: EnqueueSpec, nowMs: number): number {
  const runAtMs = spec.runAtMs ?? nowMs + (spec.delayMs ?? 0);
  return Math.max(runAtMs, nowMs);
}

function enqueueOne(store: JobStore, spec: EnqueueSpec, ctx: EntryContext): { id: string; duplicate: boolean } {
  if (spec.id != null && store.jobs.has(spec.id)) return { id: spec.id, duplicate: true };
  const q = store.queueOrCreate(spec.queue);
  const key = spec.idempotencyKey ?? null;
  if (key !== null) {
    const firstId = store.idempotency.lookup(q.name, key, ctx.nowMs);
    if (firstId !== null) return { id: firstId, duplicate: true };
  }
  // A client's id is kept as given; an assigned one only as its position in this entry (job-index.ts).
  const ident = spec.id ?? ctx.assignedIds++;
  const id = typeof ident === 'string' ? ident : assignedJobId(ctx.index, ident);
  const runAtMs = resolveRunAtMs(spec, ctx.nowMs);
  const settings = q.settingsFor(spec.name ?? JOB_NAME_DEFAULT, spec.priority ?? PRIORITY_DEFAULT, spec.maxAttempts ?? MAX_ATTEMPTS_DEFAULT, resolveBackoff(spec.backoff), spec.leaseMs ?? LEASE_MS_DEFAULT);
  const payload = spec.payload === undefined || spec.payload === null ? null : storeBytes(spec.payload);
  const rec = new JobRecord(ident, settings, payload, ctx.stamp(), runAtMs > ctx.nowMs ? 'delayed' : 'waiting', runAtMs, key);
  store.admit(rec, q);
  if (key !== null) store.idempotency.record(q.name, key, id, ctx.nowMs);
  return { id, duplicate: false };
}

export function applyEnqueue(store: JobStore, cmd: Cmd<'enqueue'>, ctx: EntryContext): Outcome {
  // Capacity checks first, so that a command either applies whole or not at all.
  const newQueues = new Set<string>();
  for (const spec of cmd.jobs) if (!store.queues.has(spec.queue)) newQueues.add(spec.queue);
  if (store.queues.size + newQueues.size > QUEUES_MAX) return badRequestOutcome('jobs', `the cluster holds at most ${QUEUES_MAX} queues`);
  if (ctx.assignedIds + cmd.jobs.length > ASSIGNED_IDS_PER_ENTRY_MAX) return failure('OVERLOADED', 'too many jobs in one log entry; retry');
  const stateBytes = store.stateBytes;
  if (stateBytes + enqueueStateBytes(cmd.jobs) > store.stateBytesMax) {
    return failure('OVERLOADED', `the cluster holds ${formatBytes(stateBytes)} of jobs and holds at most ${formatBytes(store.stateBytesMax)}; submit again once workers drain queues`);
  }
  const ids: string[] = [];
  const duplicate: boolean[] = [];
  for (const spec of cmd.jobs) {
    const result = enqueueOne(store, spec, ctx);
    ids.push(result.id);
    duplicate.push(result.duplicate);
  }
  return ok({ ids, duplicate });
}

/** What the jobs would add to the state (JobStore.stateBytes). */
function enqueueStateBytes(specs: readonly EnqueueSpec[]): number {
  let bytes = 0;
  for (const spec of specs) bytes += STATE_BYTES_PER_JOB + (spec.payload?.byteLength ?? 0);
  return bytes;
}

/** Locale-free: the text is part of an outcome every replica computes alike. */
function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Math.round(bytes / (1024 * 1024))} MiB` : `${Math.round(bytes / 1024)} KiB`;
}
