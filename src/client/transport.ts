// The cluster as one endpoint: a list of node addresses, one pipelined connection to the node in
// use, retries with exponential backoff and jitter, failover, and the client session that makes
// a retried mutating request apply once. Client and Worker each own one.

import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { RaftqError } from '../errors.js';
import { ID_PATTERN, SESSION_RESULTS_MAX } from '../limits.js';
import { parseHostPort } from '../protocol/address.js';
import type { MutatingOp, Op, OpResults, RequestFields } from '../protocol/messages.js';
import { MUTATING_OPS } from '../protocol/messages.js';
import { Connection } from './connection.js';
import { SessionWindow } from './session.js';

export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts: number;
  /** Backoff before the second try; doubles each time. */
  baseMs: number;
  /** No backoff is longer than this. */
  capMs: number;
}

export const RETRY_DEFAULT: Readonly<RetryOptions> = { attempts: 10, baseMs: 50, capMs: 2_000 };
/** A leader hint naming a node that failed a request this recently is not followed. */
const HINT_IGNORED_AFTER_FAILURE_MS = 5_000;
/** Long enough to ride out a leader election, short enough to fail over from a dead node. */
export const REQUEST_TIMEOUT_MS_DEFAULT = 10_000;

export interface TransportOptions {
  /** "host:port" of the nodes' client listeners; any node will do, followers forward. */
  nodes: string[];
  /**
   * Identifies this client's session. Default: a random UUID. If you set it, no two live clients
   * may share it, and a restarted process must not reuse it (its seqs start again at 1).
   */
  clientId?: string;
  requestTimeoutMs?: number;
  retry?: Partial<RetryOptions>;
}

/** Fields a caller gives for an op: the session fields are the transport's business. */
export type CallFields<O extends Op> = Omit<RequestFields[O], 'clientId' | 'seq'>;

export interface CallOptions {
  /** Added to the request timeout: the server may legitimately hold a long poll this long. */
  longPollMs?: number;
}

export function closedError(): RaftqError {
  return new RaftqError('INTERNAL', 'the client is closed', { retryable: false });
}

export class Transport {
  readonly clientId: string;
  readonly nodes: readonly string[];
  readonly requestTimeoutMs: number;
  readonly retry: Readonly<RetryOptions>;
  private current: number;
  private readonly connections = new Map<number, Promise<Connection>>();
  /** Node id -> client address, learned from hello, to follow leader hints given as ids. */
  private readonly addressById = new Map<string, string>();
  /** When a request last failed at each node (by index into nodes), for followLeaderHint. */
  private readonly failedAtMs = new Map<number, number>();
  private readonly window = new SessionWindow(SESSION_RESULTS_MAX);
  private readonly closing = newUnboundedAbortController();

  constructor(options: TransportOptions) {
    this.nodes = checkNodes(options.nodes);
    this.clientId = options.clientId ?? randomUUID();
    if (!ID_PATTERN.test(this.clientId)) throw new RaftqError('BAD_REQUEST', 'clientId must be 1..128 characters of [A-Za-z0-9._:-]', { field: 'clientId' });
    this.requestTimeoutMs = positive(options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT, 'requestTimeoutMs');
    const retry = { ...RETRY_DEFAULT, ...options.retry };
    this.retry = { attempts: positive(retry.attempts, 'retry.attempts'), baseMs: positive(retry.baseMs, 'retry.baseMs'), capMs: positive(retry.capMs, 'retry.capMs') };
    // The first listed node first: predictable, and hello moves us on to the leader when it is listed.
    this.current = 0;
  }

  get closed(): boolean {
    return this.closing.signal.aborted;
  }

  /** One request, retried (same seq) on retryable errors, failing over between nodes. */
  async call<O extends Op>(op: O, fields: CallFields<O>, options: CallOptions = {}): Promise<OpResults[O]> {
    const timeoutMs = this.requestTimeoutMs + (options.longPollMs ?? 0);
    const body: Record<string, unknown> = { op, ...withoutUndefined(fields as Record<string, unknown>) };
    if (!(MUTATING_OPS as readonly string[]).includes(op)) {
      return (await this.withRetries((conn) => conn.request(body, timeoutMs))) as OpResults[O];
    }
    const seq = await this.window.acquire();
    try {
      const sessionBody = { ...body, clientId: this.clientId, seq, seqFloor: this.window.floor };
      return (await this.withRetries((conn) => conn.request(sessionBody, timeoutMs))) as OpResults[O & MutatingOp];
    } finally {
      this.window.release(seq);
    }
  }

  /** Ends every connection; calls in progress reject, later calls reject at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing.abort();
    this.window.close(closedError());
    const opening = [...this.connections.values()];
    this.connections.clear();
    await Promise.allSettled(opening.map(async (connection) => (await connection).close()));
  }

  private async withRetries(send: (conn: Connection) => Promise<unknown>): Promise<unknown> {
    const startedAtMs = Date.now();
    /** The last failure at each node tried, for the error of a call that gives up. */
    const lastFailure = new Map<number, RaftqError>();
    let unansweredBefore = false;
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw closedError();
      const index = this.current;
      try {
        const conn = await this.connectionTo(index);
        try {
          return await send(conn);
        } finally {
          this.retireIfIdle(conn, index);
        }
      } catch (error) {
        if (this.closed) throw closedError();
        const failure = error instanceof RaftqError ? error : new RaftqError('INTERNAL', error instanceof Error ? error.message : String(error));
        // After an unanswered try, a refusal does not say the request was not applied: a node
        // configured differently (its payload limit) or with another clock may refuse what the
        // unanswered try's node took.
        if (!failure.retryable) throw unansweredBefore ? failure.with({ outcomeUnknown: true }) : failure;
        // TIMEOUT: no answer, or the connection was lost: that try may have applied.
        if (failure.code === 'TIMEOUT') unansweredBefore = true;
        lastFailure.delete(index); // re-inserted: the map lists nodes in the order they last failed
        lastFailure.set(index, failure);
        if (attempt >= this.retry.attempts) throw this.gaveUp(failure, lastFailure, attempt, Date.now() - startedAtMs);
        this.failedAtMs.set(index, Date.now());
        this.steer(failure, index);
        await this.backoff(attempt);
      }
    }
  }

  /**
   * The error of a call whose tries all failed: the last failure's code, and what each node tried
   * last answered, since the last failure alone may name a node that is merely down while the
   * cause is elsewhere (no quorum among the others).
   */
  private gaveUp(last: RaftqError, lastFailure: ReadonlyMap<number, RaftqError>, tries: number, elapsedMs: number): RaftqError {
    if (tries === 1) return last;
    const perNode = [...lastFailure].map(([index, failure]) => describeFailure(this.nodes[index]!, failure));
    const message = `gave up after ${tries} tries over ${(elapsedMs / 1000).toFixed(1)} s; last failure at each node: ${perNode.join('; ')}`;
    return last.with({ message });
  }

  /** Chooses the node for the next try after `failure` on node `failedIndex`. */
  private steer(failure: RaftqError, failedIndex: number): void {
    const hinted = this.indexOfHint(failure.leader);
    if (hinted >= 0) {
      this.current = hinted;
      return;
    }
    // Overload is about our own load: moving it to another node only spreads the problem.
    if (failure.code === 'OVERLOADED' || failure.code === 'RATE_LIMITED') return;
    // Many pipelined requests fail together; only the first may move us on, or we would skip nodes.
    if (this.current === failedIndex) this.current = (failedIndex + 1) % this.nodes.length;
  }

  private indexOfHint(leader: string | null | undefined): number {
    if (leader === null || leader === undefined) return -1;
    const direct = this.nodes.indexOf(leader);
    if (direct >= 0) return direct;
    const address = this.addressById.get(leader);
    return address === undefined ? -1 : this.nodes.indexOf(address);
  }

  private async backoff(attempt: number): Promise<void> {
    const ceilingMs = Math.min(this.retry.capMs, this.retry.baseMs * 2 ** (attempt - 1));
    // "Equal jitter": at least half the ceiling, so retries back off, and spread over the rest.
    const delayMs = ceilingMs / 2 + Math.random() * (ceilingMs / 2);
    try {
      await sleep(delayMs, undefined, { signal: this.closing.signal });
    } catch {
      throw closedError();
    }
  }

  private connectionTo(index: number): Promise<Connection> {
    const existing = this.connections.get(index);
    if (existing !== undefined) return existing;
    const opening = this.open(index);
    this.connections.set(index, opening);
    const forget = (): void => {
      if (this.connections.get(index) === opening) this.connections.delete(index);
    };
    opening.then((conn) => {
      conn.onClose = forget;
      conn.onLeaderHint = (leader) => this.followLeaderHint(leader, index);
      if (conn.closed) forget();
    }, forget);
    return opening;
  }

  private async open(index: number): Promise<Connection> {
    const conn = await Connection.connect(this.nodes[index]!, this.requestTimeoutMs);
    if (this.closed) {
      conn.close();
      throw closedError();
    }
    try {
      await this.hello(conn, index);
    } catch (error) {
      conn.close();
      throw error;
    }
    return conn;
  }

  /** Learns the cluster from the node; moves to the leader when the caller listed its address. */
  private async hello(conn: Connection, index: number): Promise<void> {
    let answer: unknown;
    try {
      answer = await conn.request({ op: 'hello', clientId: this.clientId }, this.requestTimeoutMs);
    } catch (error) {
      if (error instanceof RaftqError && !error.retryable) return; // a node without hello still serves
      throw error;
    }
    const hello = answer as Partial<OpResults['hello']> | null;
    for (const node of Array.isArray(hello?.nodes) ? hello.nodes : []) {
      if (typeof node?.id === 'string' && typeof node.clientAddr === 'string') this.addressById.set(node.id, node.clientAddr);
    }
    const leaderIndex = typeof hello?.leader === 'string' ? this.indexOfHint(hello.leader) : -1;
    // Talking to the leader saves a forwarding hop; addresses not listed may be unreachable from here.
    if (leaderIndex >= 0 && this.current === index) this.current = leaderIndex;
  }

  /**
   * A follower answered and named its leader: send later requests there (one hop less), when the
   * caller listed it and it has not just failed us (a leader the follower reaches may be cut off
   * from here; without the pause we would bounce between the two).
   */
  private followLeaderHint(leader: string, fromIndex: number): void {
    if (this.current !== fromIndex) return;
    const hinted = this.indexOfHint(leader);
    if (hinted < 0 || hinted === fromIndex) return;
    const failedAtMs = this.failedAtMs.get(hinted);
    if (failedAtMs !== undefined && Date.now() - failedAtMs < HINT_IGNORED_AFTER_FAILURE_MS) return;
    this.current = hinted;
  }

  /** A connection to a node we moved away from is closed once its last answer is in. */
  private retireIfIdle(conn: Connection, index: number): void {
    if (index === this.current || conn.pendingCount > 0 || conn.closed) return;
    conn.close(); // its onClose drops it from `connections`
  }
}

/** "address: CODE what", without the address twice (connection errors already start with it). */
function describeFailure(address: string, failure: RaftqError): string {
  const what = failure.message.startsWith(`${address}: `) ? failure.message.slice(address.length + 2) : failure.message;
  return `${address}: ${failure.code} ${what}`;
}

function checkNodes(nodes: string[]): readonly string[] {
  if (!Array.isArray(nodes) || nodes.length === 0) throw new RaftqError('BAD_REQUEST', 'nodes must list at least one host:port', { field: 'nodes' });
  for (const node of nodes) {
    if (parseHostPort(node) === null) throw new RaftqError('BAD_REQUEST', `node address "${node}" is not host:port`, { field: 'nodes' });
  }
  return [...nodes];
}

function positive(value: number, field: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new RaftqError('BAD_REQUEST', `${field} must be a positive number`, { field });
  return value;
}

function withoutUndefined(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value;
  return out;
}

/**
 * Every request backing off waits on the transport's close signal, so it may hold as many
 * listeners as requests in flight (bounded by the session window): lift Node's default warning
 * threshold of 10 for this one signal.
 */
function newUnboundedAbortController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
