// A follower serves clients by forwarding their (already validated) requests to the leader over
// the peer link and relaying the answer. The leader runs a forwarded request exactly as if a
// client had sent it to it, except that it never forwards it again (no loops between two nodes
// that disagree about who leads).

import type { NodeId } from '../raft/types.js';
import { RaftqError, type WireError } from '../src/errors.js';
import type { ValidRequest } from '../src/protocol/messages.js';
import type { PeerTransport } from './peer-transport.js';

/** Forwarded requests one node may have outstanding at the leader. */
export const FORWARDS_INFLIGHT_MAX = 65_536;

type ForwardAnswer = { ok: true; result: unknown } | { ok: false; error: WireError };

interface PendingForward {
  to: NodeId;
  resolve(result: unknown): void;
  reject(error: RaftqError): void;
  timer: NodeJS.Timeout;
}

export class Forwarder {
  private nextId = 1;
  private readonly pending = new Map<number, PendingForward>();
  /** Leader side: forwarded requests running here, by follower and id, so a follower can cancel one. */
  private readonly running = new Map<NodeId, Map<number, AbortController>>();

  constructor(
    private readonly transport: PeerTransport,
    private readonly execute: (req: ValidRequest, gone: AbortSignal) => Promise<unknown>,
    private readonly onForwarded: (op: string) => void = () => undefined,
  ) {}

  get inflight(): number {
    return this.pending.size;
  }

  /**
   * Sends `req` to the leader and relays its answer. When `gone` aborts (the client left), the
   * leader is told to stop waiting on its behalf, so a long-poll lease does not take jobs for a
   * client that will never see them.
   */
  forward(to: NodeId, req: ValidRequest, timeoutMs: number, gone?: AbortSignal): Promise<unknown> {
    if (this.pending.size >= FORWARDS_INFLIGHT_MAX) return Promise.reject(new RaftqError('OVERLOADED', 'too many requests in flight to the leader'));
    const id = this.nextId++;
    this.onForwarded(req.op);
    const answered = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RaftqError('TIMEOUT', `the leader ${to} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { to, resolve, reject, timer });
      if (!this.transport.sendForward(to, { t: 'fwd', id, req })) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new RaftqError('NO_LEADER', `the leader ${to} is not reachable from this node`));
      }
    });
    if (gone === undefined || !this.pending.has(id)) return answered;
    // The answer still comes (a cancelled long poll ends empty at once); the client just is not there.
    const onGone = (): void => void this.transport.sendForward(to, { t: 'fwdCancel', id });
    if (gone.aborted) onGone();
    else gone.addEventListener('abort', onGone, { once: true });
    return answered.finally(() => gone.removeEventListener('abort', onGone));
  }

  onResponse(id: number, res: unknown): void {
    const p = this.pending.get(id);
    if (!p) return; // timed out already
    this.pending.delete(id);
    clearTimeout(p.timer);
    const answer = res as ForwardAnswer;
    if (answer.ok) p.resolve(answer.result);
    else p.reject(RaftqError.fromWire(answer.error));
  }

  /** Leader side: run a forwarded request and send the answer back on our link to the follower. */
  onRequest(from: NodeId, id: number, req: unknown): void {
    const cancel = new AbortController();
    let ofPeer = this.running.get(from);
    if (ofPeer === undefined) this.running.set(from, (ofPeer = new Map()));
    ofPeer.set(id, cancel);
    this.execute(req as ValidRequest, cancel.signal)
      .finally(() => {
        ofPeer.delete(id);
        if (ofPeer.size === 0 && this.running.get(from) === ofPeer) this.running.delete(from);
      })
      .then(
      (result) => this.transport.sendForward(from, { t: 'fwdResp', id, res: { ok: true, result } satisfies ForwardAnswer }),
      (error: unknown) => {
        const wire = error instanceof RaftqError ? error.toWire() : new RaftqError('INTERNAL', String((error as Error)?.message ?? error)).toWire();
        this.transport.sendForward(from, { t: 'fwdResp', id, res: { ok: false, error: wire } satisfies ForwardAnswer });
      },
    );
  }

  /** Leader side: the follower's client left; whatever waits on its behalf stops (see forward). */
  onCancel(from: NodeId, id: number): void {
    this.running.get(from)?.get(id)?.abort();
  }

  /**
   * Fails what waits on one peer (its link dropped, or it stopped leading) at once instead of at
   * the forward timeout: the clients retry with the same seq, so nothing applies twice.
   */
  failTo(peer: NodeId, reason: string): void {
    // What we run on that peer's behalf can no longer reach its clients.
    for (const cancel of this.running.get(peer)?.values() ?? []) cancel.abort();
    for (const [id, p] of this.pending) {
      if (p.to !== peer) continue;
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new RaftqError('NO_LEADER', reason));
    }
  }

  /** The peer is gone (removed or shutting down): fail what waits on it, clients retry elsewhere. */
  failAll(reason: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new RaftqError('NO_LEADER', reason));
      this.pending.delete(id);
    }
  }
}
