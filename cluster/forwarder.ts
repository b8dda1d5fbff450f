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

  constructor(
    private readonly transport: PeerTransport,
    private readonly execute: (req: ValidRequest) => Promise<unknown>,
    private readonly onForwarded: (op: string) => void = () => undefined,
  ) {}

  get inflight(): number {
    return this.pending.size;
  }

  forward(to: NodeId, req: ValidRequest, timeoutMs: number): Promise<unknown> {
    if (this.pending.size >= FORWARDS_INFLIGHT_MAX) return Promise.reject(new RaftqError('OVERLOADED', 'too many requests in flight to the leader'));
    const id = this.nextId++;
    this.onForwarded(req.op);
    return new Promise<unknown>((resolve, reject) => {
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
    this.execute(req as ValidRequest).then(
      (result) => this.transport.sendForward(from, { t: 'fwdResp', id, res: { ok: true, result } satisfies ForwardAnswer }),
      (error: unknown) => {
        const wire = error instanceof RaftqError ? error.toWire() : new RaftqError('INTERNAL', String((error as Error)?.message ?? error)).toWire();
        this.transport.sendForward(from, { t: 'fwdResp', id, res: { ok: false, error: wire } satisfies ForwardAnswer });
      },
    );
  }

  /**
   * Fails what waits on one peer (its link dropped, or it stopped leading) at once instead of at
   * the forward timeout: the clients retry with the same seq, so nothing applies twice.
   */
  failTo(peer: NodeId, reason: string): void {
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
