import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { Client } from '../../src/client/client.js';
import { SessionWindow } from '../../src/client/session.js';
import { mayHaveApplied, SubmitManyError } from '../../src/client/submit-outcome.js';
import { RaftqError } from '../../src/errors.js';
import type { ValidCommandRequest } from '../../src/protocol/messages.js';
import { encodeValue } from '../../src/protocol/values.js';
import { FakeBroker, useFakeBrokers } from './fake-broker.js';
import { CuttableProxy } from './proxy.js';

const fast = { attempts: 5, baseMs: 1, capMs: 5 };
const { cleanups, broker } = useFakeBrokers();

function client(nodes: string[], options: Partial<ConstructorParameters<typeof Client>[0]> = {}): Client {
  const c = new Client({ nodes, retry: fast, ...options });
  cleanups.push(() => c.close());
  return c;
}

/** An address nothing listens on: bind a port, then free it. */
async function deadAddress(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

function enqueues(b: FakeBroker): ValidCommandRequest[] {
  return b.requests.filter((r): r is ValidCommandRequest => r.kind === 'command' && r.op === 'enqueue');
}

describe('Client', () => {
  it('submits jobs with options mapped onto the wire, and reads them back', async () => {
    const { broker: b, address } = await broker();
    const c = client([address], { clientId: 'producer-1' });
    const runAt = new Date(Date.now() + 60_000);
    const id = await c.submit('emails', { to: 'a@b.c' }, { name: 'welcome', priority: 'high', runAt, maxAttempts: 5, idempotencyKey: 'k1' });
    expect(await c.get(id)).toMatchObject({ id, queue: 'emails', payload: { to: 'a@b.c' } });
    expect(await c.get('nope')).toBeNull();
    const [request] = enqueues(b);
    expect(request!.envelope).toEqual({
      clientId: 'producer-1',
      seq: 1,
      seqFloor: 1,
      cmd: { op: 'enqueue', jobs: [{ queue: 'emails', payload: encodeValue({ to: 'a@b.c' }), name: 'welcome', priority: 8, runAtMs: runAt.getTime(), maxAttempts: 5, idempotencyKey: 'k1' }] },
    });
  });

  it('numbers mutating requests with consecutive seqs and leaves reads without one', async () => {
    const { broker: b, address } = await broker();
    const c = client([address]);
    await c.submit('q', 1);
    await c.stats('q');
    await c.pause('q');
    await c.cancel('job-1');
    const seqs = b.requests.filter((r): r is ValidCommandRequest => r.kind === 'command').map((r) => [r.op, r.envelope.seq, r.envelope.clientId]);
    expect(seqs).toEqual([['enqueue', 1, c.clientId], ['pause', 2, c.clientId], ['cancel', 3, c.clientId]]);
  });

  it('splits submitMany into batches of at most 1000 jobs, ids in order', async () => {
    const { broker: b, address } = await broker();
    const c = client([address]);
    const ids = await c.submitMany('bulk', Array.from({ length: 2500 }, (_, i) => ({ payload: i })));
    expect(ids).toHaveLength(2500);
    expect(enqueues(b).map((r) => (r.envelope.cmd.op === 'enqueue' ? r.envelope.cmd.jobs.length : 0))).toEqual([1000, 1000, 500]);
    expect(b.decoded(ids[2499]!)!.payload).toBe(2499);
    expect(await c.submitMany('bulk', [])).toEqual([]);
  });

  it('says, when one request of a submitMany fails, which jobs were taken, refused, or of unknown outcome', async () => {
    const { broker: b, address } = await broker();
    let requests = 0;
    b.intercept = (request) => {
      if (request.op !== 'enqueue') return;
      requests++;
      if (requests === 2) throw new RaftqError('PAYLOAD_TOO_LARGE', 'jobs[3].payload: payload of 2000000 bytes exceeds 1048576', { field: 'jobs[3].payload' });
      if (requests === 3) throw new RaftqError('INTERNAL', 'a bug (ref 42)');
    };
    const c = client([address]);
    const failure = await c.submitMany('bulk', Array.from({ length: 2500 }, (_, i) => ({ payload: i }))).then(() => null, (error: unknown) => error);
    expect(failure).toBeInstanceOf(SubmitManyError);
    const error = failure as SubmitManyError;
    expect(error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'jobs[1003].payload', retryable: false });
    expect(error.message).toBe('jobs[1003].payload: payload of 2000000 bytes exceeds 1048576 (of 2500 jobs in 3 requests: 1000 taken, 1000 refused, 500 of unknown outcome)');
    expect(error.counts).toEqual({ taken: 1000, refused: 1000, unknown: 500 });
    expect(error.outcomes).toHaveLength(2500);
    const first = error.outcomes[0]!;
    expect('id' in first && b.decoded(first.id)!.payload).toBe(0);
    expect(error.outcomes[1000]).toMatchObject({ mayHaveBeenTaken: false, error: { code: 'PAYLOAD_TOO_LARGE' } });
    expect(error.outcomes[2499]).toMatchObject({ mayHaveBeenTaken: true, error: { code: 'INTERNAL' } });
    expect(b.jobs.size).toBe(1000);
  });

  it('counts a refusal that follows an unanswered try as of unknown outcome (the first try may have applied)', async () => {
    const { broker: b, address } = await broker();
    const proxy = new CuttableProxy(Number(address.split(':')[1]));
    const proxied = await proxy.listen();
    cleanups.push(() => proxy.close());
    let tries = 0;
    b.intercept = (request) => {
      if (request.op !== 'enqueue') return;
      tries++;
      // The first try's answer is lost with the connection; the retry meets a node that refuses it.
      if (tries === 1) proxy.cutAll();
      else throw new RaftqError('PAYLOAD_TOO_LARGE', 'jobs[0].payload: payload of 2000000 bytes exceeds 1048576', { field: 'jobs[0].payload' });
    };
    const c = client([proxied]);
    const failure = await c.submitMany('q', [{ payload: 1 }]).then(() => null, (error: SubmitManyError) => error);
    expect(failure).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', outcomeUnknown: true });
    expect(failure!.counts).toEqual({ taken: 0, refused: 0, unknown: 1 });
  });

  it('counts a request whose retries ran out, or whose result the node no longer keeps, as of unknown outcome', () => {
    expect(mayHaveApplied(new RaftqError('NO_LEADER', 'gave up after 10 tries'))).toBe(true);
    expect(mayHaveApplied(new RaftqError('TIMEOUT', 'no answer'))).toBe(true);
    expect(mayHaveApplied(new RaftqError('BAD_REQUEST', 'the result of seq 7 is no longer kept', { field: 'seq' }))).toBe(true);
    expect(mayHaveApplied(new RaftqError('INTERNAL', 'the client is closed', { retryable: false }))).toBe(true);
    expect(mayHaveApplied(new RaftqError('PAYLOAD_TOO_LARGE', 'too big', { outcomeUnknown: true }))).toBe(true);
    expect(mayHaveApplied(new Error('not ours'))).toBe(true);
    expect(mayHaveApplied(new RaftqError('BAD_REQUEST', 'jobs[0].priority: 0..9', { field: 'jobs[0].priority' }))).toBe(false);
    expect(mayHaveApplied(new RaftqError('PAYLOAD_TOO_LARGE', 'too big'))).toBe(false);
  });

  it('sends the single submits of one event-loop turn as one request; each resolves with its own id', async () => {
    const { broker: b, address } = await broker();
    const c = client([address]);
    const ids = await Promise.all([c.submit('a', 1), c.submit('b', 2, { priority: 'high' }), c.submit('a', 3)]);
    const requests = enqueues(b);
    expect(requests).toHaveLength(1);
    const cmd = requests[0]!.envelope.cmd;
    expect(cmd.op === 'enqueue' ? cmd.jobs.map((j) => [j.queue, j.priority ?? null]) : []).toEqual([['a', null], ['b', 8], ['a', null]]);
    expect(new Set(ids).size).toBe(3);
    for (const [i, id] of ids.entries()) expect(b.decoded(id)!.payload).toBe(i + 1);
    // A later turn is a later request.
    await c.submit('a', 4);
    expect(enqueues(b)).toHaveLength(2);
  });

  it('fails only the submit at fault when a shared request is refused for what one job holds', async () => {
    const { broker: b, address } = await broker();
    b.intercept = (request) => {
      const cmd = request.kind === 'command' ? request.envelope.cmd : null;
      if (cmd?.op === 'enqueue' && cmd.jobs.some((j) => j.queue === 'refused')) throw new RaftqError('BAD_REQUEST', 'queue refused', { field: 'jobs' });
    };
    const c = client([address]);
    const outcomes = await Promise.allSettled([c.submit('ok', 1), c.submit('refused', 2), c.submit('ok', 3)]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'BAD_REQUEST' });
    // The shared request, then each job on its own.
    expect(enqueues(b).map((r) => (r.envelope.cmd.op === 'enqueue' ? r.envelope.cmd.jobs.length : 0))).toEqual([3, 1, 1, 1]);
    expect(b.jobs.size).toBe(2);
  });

  it('fails the whole shared request, without sending its jobs again, when it is refused for something no job holds', async () => {
    const { broker: b, address } = await broker();
    b.intercept = (request) => {
      if (request.op === 'enqueue') throw new RaftqError('FORBIDDEN', 'this client may not enqueue');
    };
    const c = client([address]);
    const outcomes = await Promise.allSettled([c.submit('q', 1), c.submit('q', 2), c.submit('q', 3)]);
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as RaftqError).code : o.status))).toEqual(['FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN']);
    expect(enqueues(b)).toHaveLength(1);
  });

  it('fails the whole shared request, without sending its jobs again, when the node no longer keeps its result', async () => {
    // A retry whose first try applied unanswered, after the node evicted the result: sent again job
    // by job, its jobs would be taken twice.
    const { broker: b, address } = await broker();
    b.intercept = (request) => {
      if (request.op === 'enqueue') throw new RaftqError('BAD_REQUEST', 'the result of seq 1 is no longer kept, and it may have been applied', { field: 'seq' });
    };
    const c = client([address]);
    const outcomes = await Promise.allSettled([c.submit('q', 1), c.submit('q', 2)]);
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as RaftqError).field : o.status))).toEqual(['seq', 'seq']);
    expect(enqueues(b)).toHaveLength(1);
  });

  it('fails the whole shared request, without sending its jobs again, when its outcome is unknown', async () => {
    const { broker: b, address } = await broker();
    b.intercept = (request) => {
      if (request.op === 'enqueue') throw new RaftqError('OVERLOADED', 'busy');
    };
    const c = client([address], { retry: { attempts: 2, baseMs: 1, capMs: 2 } });
    const outcomes = await Promise.allSettled([c.submit('q', 1), c.submit('q', 2)]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(enqueues(b).every((r) => r.envelope.cmd.op === 'enqueue' && r.envelope.cmd.jobs.length === 2)).toBe(true);
  });

  it('retries with the same seq after the connection drops, so the enqueue applies once', async () => {
    const { broker: b, address } = await broker();
    const proxy = new CuttableProxy(Number(address.split(':')[1]));
    const proxied = await proxy.listen();
    cleanups.push(() => proxy.close());
    let cut = false;
    b.intercept = (request) => {
      // The first enqueue applies, but its answer is lost with the connection.
      if (request.op === 'enqueue' && !cut) {
        cut = true;
        proxy.cutAll();
      }
    };
    const c = client([proxied]);
    const id = await c.submit('q', 'once');
    const attempts = enqueues(b);
    expect(attempts).toHaveLength(2);
    expect(attempts[1]!.envelope.seq).toBe(attempts[0]!.envelope.seq);
    expect(attempts[1]!.envelope.clientId).toBe(attempts[0]!.envelope.clientId);
    expect([...b.jobs.keys()]).toEqual([id]);
  });

  it('fails over to the next node when the first is down', async () => {
    const { broker: b, address } = await broker();
    const c = client([await deadAddress(), address]);
    const id = await c.submit('q', 1);
    expect(b.jobs.has(id)).toBe(true);
    expect(await c.get(id)).not.toBeNull();
  });

  it('retries NO_LEADER with the same seq until a leader answers', async () => {
    const { broker: b, address } = await broker();
    let refusals = 2;
    b.intercept = (request) => {
      if (request.op === 'enqueue' && refusals-- > 0) throw new RaftqError('NO_LEADER', 'election in progress');
    };
    const c = client([address]);
    await c.submit('q', 1);
    const attempts = enqueues(b);
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((r) => r.envelope.seq)).size).toBe(1);
  });

  it('follows a NO_LEADER hint to the leader when the leader is in its list', async () => {
    const follower = await broker();
    const leader = await broker();
    follower.broker.intercept = (request) => {
      if (request.op !== 'hello') throw new RaftqError('NO_LEADER', 'not the leader', { leader: 'n2' });
    };
    follower.broker.hello = { leader: null, nodes: [{ id: 'n1', clientAddr: follower.address }, { id: 'n2', clientAddr: leader.address }] };
    const c = client([follower.address, '127.0.0.1:1', leader.address]);
    await c.submit('q', 1);
    expect(enqueues(follower.broker)).toHaveLength(1);
    expect(enqueues(leader.broker)).toHaveLength(1);
  });

  it('moves to the leader that hello names when the leader is in its list', async () => {
    const follower = await broker();
    const leader = await broker();
    follower.broker.hello = { leader: 'n2', nodes: [{ id: 'n1', clientAddr: follower.address }, { id: 'n2', clientAddr: leader.address }] };
    const c = client([follower.address, leader.address]);
    await c.submit('q', 1); // sent on the connection that said hello
    await c.submit('q', 2);
    await c.submit('q', 3);
    expect(enqueues(follower.broker)).toHaveLength(1);
    expect(enqueues(leader.broker)).toHaveLength(2);
  });

  it('moves to the leader a follower names in its answers when the leader is in its list', async () => {
    const follower = await broker();
    const leader = await broker();
    follower.broker.hello = { leader: null, nodes: [{ id: 'n1', clientAddr: follower.address }, { id: 'n2', clientAddr: leader.address }] };
    follower.broker.forwardsTo = 'n2';
    const c = client([follower.address, leader.address]);
    await c.submit('q', 1); // hello named no leader yet; the answer names n2
    await c.submit('q', 2);
    await c.submit('q', 3);
    expect(enqueues(follower.broker)).toHaveLength(1);
    expect(enqueues(leader.broker)).toHaveLength(2);
  });

  it('does not go back to a named leader that just failed it', async () => {
    const follower = await broker();
    // A "leader" this client cannot use: every connection is cut at once.
    let connections = 0;
    const unusable = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => unusable.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => unusable.close(() => resolve())));
    const unusableAddress = `127.0.0.1:${(unusable.address() as net.AddressInfo).port}`;
    follower.broker.hello = { leader: null, nodes: [{ id: 'n1', clientAddr: follower.address }, { id: 'n2', clientAddr: unusableAddress }] };
    follower.broker.forwardsTo = 'n2';
    const c = client([follower.address, unusableAddress]);
    for (let i = 0; i < 5; i++) await c.submit('q', i);
    expect(enqueues(follower.broker)).toHaveLength(5);
    expect(connections).toBe(1);
  });

  it('does not retry an error that is not retryable', async () => {
    const { broker: b, address } = await broker();
    b.intercept = (request) => {
      if (request.op === 'cancel') throw new RaftqError('NOT_FOUND', 'no such job');
    };
    const c = client([address]);
    await expect(c.cancel('ghost')).rejects.toMatchObject({ name: 'RaftqError', code: 'NOT_FOUND', retryable: false });
    expect(b.count('cancel')).toBe(1);
  });

  it('gives up after the configured attempts with the last retryable error', async () => {
    const { broker: b, address } = await broker();
    b.intercept = (request) => {
      if (request.op === 'stats') throw new RaftqError('NO_LEADER', 'no quorum');
    };
    const c = client([address], { retry: { attempts: 3, baseMs: 1, capMs: 2 } });
    await expect(c.stats('q')).rejects.toMatchObject({ code: 'NO_LEADER' });
    expect(b.count('stats')).toBe(3);
  });

  it('names, when it gives up, the last failure at each node tried, not only the last one', async () => {
    // No quorum behind the live node and the other node down: the last try alone would blame the dead node.
    const { broker: b, address } = await broker();
    b.intercept = (request) => {
      if (request.op === 'stats') throw new RaftqError('NO_LEADER', 'no leader known');
    };
    const dead = await deadAddress();
    const c = client([address, dead], { retry: { attempts: 4, baseMs: 1, capMs: 2 } });
    const failure = await c.stats('q').then(() => null, (error: RaftqError) => error);
    expect(failure).toMatchObject({ name: 'RaftqError', code: 'TIMEOUT', retryable: true });
    expect(failure!.message).toMatch(new RegExp(`^gave up after 4 tries over \\d+\\.\\d s; last failure at each node: ${address}: NO_LEADER no leader known; ${dead}: TIMEOUT cannot connect \\(`));
  });

  it('turns a request with no answer into TIMEOUT', async () => {
    const { broker: b, address } = await broker();
    b.intercept = (request) => (request.op === 'get' ? new Promise<void>(() => undefined) : undefined);
    const c = client([address], { requestTimeoutMs: 50, retry: { attempts: 1, baseMs: 1, capMs: 1 } });
    await expect(c.get('j')).rejects.toMatchObject({ code: 'TIMEOUT', retryable: true });
  });

  it('surfaces a server-side validation error with its field', async () => {
    const { address } = await broker();
    const c = client([address]);
    await expect(c.submit('q', 1, { priority: 42 })).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'jobs[0].priority' });
    await expect(c.submit('no spaces', 1)).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'jobs[0].queue' });
  });

  it('waitForResult polls until the job is final', async () => {
    const { broker: b, address } = await broker();
    const c = client([address]);
    const id = await c.submit('q', 1);
    let polls = 0;
    b.intercept = (request) => {
      if (request.op === 'waitResult' && ++polls === 2) b.jobs.get(id)!.state = 'completed';
    };
    expect(await c.waitForResult(id, { timeoutMs: 60_000 })).toMatchObject({ id, state: 'completed' });
    expect(polls).toBe(2);
  });

  it('rejects calls after close, and close is idempotent', async () => {
    const { address } = await broker();
    const c = client([address]);
    await c.queues();
    await c.close();
    await c.close();
    await expect(c.queues()).rejects.toBeInstanceOf(RaftqError);
  });

  it('refuses a node list that is not host:port', () => {
    expect(() => new Client({ nodes: ['localhost'] })).toThrow(/host:port/);
    expect(() => new Client({ nodes: [] })).toThrow(/at least one/);
  });
});

describe('SessionWindow', () => {
  it('holds a new seq back while the oldest outstanding one would fall out of the window', async () => {
    const window = new SessionWindow(3);
    expect([await window.acquire(), await window.acquire(), await window.acquire()]).toEqual([1, 2, 3]);
    let fourth = 0;
    const pending = window.acquire().then((seq) => (fourth = seq));
    window.release(2); // seq 1 still outstanding: 4 - 1 is not within 3
    window.release(3);
    await Promise.resolve();
    expect(fourth).toBe(0);
    window.release(1);
    await pending;
    expect(fourth).toBe(4);
  });
});
